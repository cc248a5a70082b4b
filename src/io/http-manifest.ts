// Gets an implementation's text routes from a peer: its manifest
// (`GET /implementation/<digest>/manifest`, the first step of a swarm fetch) and the mtimes of its
// directories and symlinks (`…/mtimes`, the last). Only the manifest's hash decides whether it is
// the right one; this adapter just says what came back: the bytes, a peer that does not offer the
// route (any non-200 or non-text answer: a 2008 peer, an older 0share, a tree without .manifest),
// or an error naming what the peer did.
import { request } from 'node:http';
import { formatDigest, type Digest } from '../core/digest.js';
import { MAX_MTIMES_BYTES } from '../core/mtimes-list.js';
import type { Peer } from '../machines/types.js';

/** Larger manifests are not fetched (the whole tar is, instead). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export type TextAnswer = { ok: true; body: Buffer } | { ok: false; status: number };
export type ManifestAnswer = { ok: true; manifest: Buffer } | { ok: false; status: number };

/** `GET /implementation/<digest>/<route>` as text of at most `max` bytes; `onProgress` hears the bytes so far. */
function getText(peer: Peer, digest: Digest, route: string, max: number, signal: AbortSignal, onProgress: (bytes: number) => void): Promise<TextAnswer> {
  return new Promise((resolve, reject) => {
    const r = request(
      { host: peer.host, port: peer.port, path: `/implementation/${formatDigest(digest)}/${route}`, agent: false, signal },
      (res) => {
        // A peer that answers this route with something else (a tar) knows only the whole tar.
        if (res.statusCode !== 200 || !/^text\/plain\b/.test(res.headers['content-type'] ?? '')) {
          res.resume();
          return resolve({ ok: false, status: res.statusCode ?? 0 });
        }
        const parts: Buffer[] = [];
        let n = 0;
        res.on('data', (chunk: Buffer) => {
          n += chunk.length;
          if (n > max) {
            res.destroy();
            resolve({ ok: false, status: 413 });
          } else {
            parts.push(chunk);
            onProgress(n);
          }
        });
        res.on('end', () => resolve({ ok: true, body: Buffer.concat(parts) }));
        res.on('error', (err) => reject(new Error(`closed the connection while sending the ${route} (${err.message})`)));
      },
    );
    r.on('error', (err) => reject(new Error(signal.aborted ? 'aborted' : `could not be reached for the ${route}: ${err.message}`)));
    r.end();
  });
}

/** `onProgress` hears the bytes of the manifest received so far. */
export async function getManifest(peer: Peer, digest: Digest, signal: AbortSignal, onProgress: (bytes: number) => void): Promise<ManifestAnswer> {
  const answer = await getText(peer, digest, 'manifest', MAX_MANIFEST_BYTES, signal, onProgress);
  return answer.ok ? { ok: true, manifest: answer.body } : answer;
}

/** The mtimes body (src/core/mtimes-list.ts), or why not. */
export function getMtimes(peer: Peer, digest: Digest, signal: AbortSignal): Promise<TextAnswer> {
  return getText(peer, digest, 'mtimes', MAX_MTIMES_BYTES, signal, () => {});
}
