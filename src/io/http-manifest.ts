// Gets an implementation's manifest from a peer (`GET /implementation/<digest>/manifest`), the
// first step of a swarm fetch. Only the body's hash decides whether it is the right one; this
// adapter just says what came back: the bytes, a peer that does not offer manifests (any
// non-200 or non-text answer: a 2008 peer, or a tree without .manifest), or an error naming what the peer did.
import { request } from 'node:http';
import { formatDigest, type Digest } from '../core/digest.js';
import type { Peer } from '../machines/types.js';

/** Larger manifests are not fetched (the whole tar is, instead). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export type ManifestAnswer = { ok: true; manifest: Buffer } | { ok: false; status: number };

/** `onProgress` hears the bytes of the manifest received so far. */
export function getManifest(peer: Peer, digest: Digest, signal: AbortSignal, onProgress: (bytes: number) => void): Promise<ManifestAnswer> {
  return new Promise((resolve, reject) => {
    const r = request(
      { host: peer.host, port: peer.port, path: `/implementation/${formatDigest(digest)}/manifest`, agent: false, signal },
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
          if (n > MAX_MANIFEST_BYTES) {
            res.destroy();
            resolve({ ok: false, status: 413 });
          } else {
            parts.push(chunk);
            onProgress(n);
          }
        });
        res.on('end', () => resolve({ ok: true, manifest: Buffer.concat(parts) }));
        res.on('error', (err) => reject(new Error(`closed the connection while sending the manifest (${err.message})`)));
      },
    );
    r.on('error', (err) => reject(new Error(signal.aborted ? 'aborted' : `could not be reached for the manifest: ${err.message}`)));
    r.end();
  });
}
