// Gets an implementation's text routes from a peer: its manifest
// (`GET /implementation/<digest>/manifest`, the first step of a swarm fetch) and the mtimes of its
// directories and symlinks (`…/mtimes`, the last). Only the manifest's hash decides whether it is
// the right one; this adapter just says what came back: the bytes, a peer that does not offer the
// route (any non-200 or non-text answer: a 2008 peer, an older 0share, a tree without .manifest),
// or an error naming what the peer did. Through the client of the piece requests
// (./http-exchange.ts): a deep tree's 5 MB manifest costs a third of the CPU it did through
// node:http, and it is the first thing a swarm waits for.
import { formatDigest, type Digest } from '../core/digest.js';
import { MAX_MTIMES_BYTES } from '../core/mtimes-list.js';
import type { Peer } from '../machines/types.js';
import { type Exchange, exchange } from './http-exchange.js';

/** Larger manifests are not fetched (the whole tar is, instead). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export type TextAnswer = { ok: true; body: Buffer } | { ok: false; status: number };
export type ManifestAnswer = { ok: true; manifest: Buffer } | { ok: false; status: number };

/** `GET /implementation/<digest>/<route>` as text of at most `max` bytes; `onProgress` hears the bytes so far. */
async function getText(peer: Peer, digest: Digest, route: string, max: number, signal: AbortSignal, onProgress: (bytes: number) => void): Promise<TextAnswer> {
  let ex: Exchange;
  try {
    ex = await exchange({ host: peer.host, port: peer.port, method: 'GET', path: `/implementation/${formatDigest(digest)}/${route}`, signal });
  } catch (err) {
    throw new Error(signal.aborted ? 'aborted' : `could not be reached for the ${route}: ${(err as Error).message}`);
  }
  // A peer that answers this route with something else (a tar) knows only the whole tar.
  if (ex.status !== 200 || !/^text\/plain\b/.test(ex.headers.get('content-type') ?? '')) {
    ex.close();
    return { ok: false, status: ex.status };
  }
  const declared = Number(ex.headers.get('content-length') ?? Number.NaN);
  if (declared > max) {
    ex.close();
    return { ok: false, status: 413 };
  }
  // Pieces are views of the connection's read buffer: copied, into one buffer when the length is known.
  const whole = Number.isSafeInteger(declared) ? Buffer.allocUnsafe(declared) : undefined;
  const parts: Buffer[] = [];
  let n = 0;
  let tooLong = false;
  try {
    await ex.body((piece) => {
      if (n + piece.length > max) {
        tooLong = true;
        throw new Error('too long');
      }
      if (whole) piece.copy(whole, n);
      else parts.push(Buffer.from(piece));
      n += piece.length;
      onProgress(n);
    });
  } catch (err) {
    if (tooLong) return { ok: false, status: 413 };
    throw new Error(signal.aborted ? 'aborted' : `closed the connection while sending the ${route} (${(err as Error).message})`);
  }
  return { ok: true, body: whole ?? Buffer.concat(parts) };
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
