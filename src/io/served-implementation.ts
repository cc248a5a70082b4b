// What the peer may serve for a digest over HTTP: the digest directory in the first store that
// has it as a real directory (lookupDigest: a digest dir that is itself a symlink is never
// served, and the UDP responder asks the same lookup), and its .manifest opened without
// following symlinks. When no store has it complete, a fetch in flight on this machine may
// (src/io/partial-holders.ts): its staging dir then serves the manifest, the files verified so
// far and the `/have` bitmap, never the whole tar.
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { encodeHave } from '../core/have-bitmap.js';
import { manifestFileBytes } from '../core/manifest-format.js';
import type { RouteKind } from '../core/http-route.js';
import type { ServedImplementation } from '../machines/server-session.machine.js';
import { fileStates, findPartial, verifiedAmong } from './partial-holders.js';
import { manifestFiles, PieceRefusal, piecesIndexed } from './served-pieces.js';
import { lookupDigest } from './stores.js';

/** A .manifest larger than this is not read just to announce a size. */
const MAX_MANIFEST_FOR_SIZE = 16 * 1024 * 1024;
/** Sizes of the trees served whole lately, by directory. */
const treeSizes = new Map<string, number>();
const CACHED_SIZES = 64;

/** Opens `<dir>/.manifest` read-only, refusing a symlink or anything but a regular file. */
export async function openManifest(dir: string): Promise<{ handle: FileHandle; size: number } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(join(dir, '.manifest'), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const st = await handle.stat().catch(() => undefined);
  if (st?.isFile()) return { handle, size: st.size };
  await handle.close();
  return undefined;
}

/** The implementation to serve for `kind`, with its size when its .manifest says it cheaply. */
export async function resolveServed(stores: readonly string[], digest: Digest, kind: RouteKind): Promise<ServedImplementation | undefined> {
  const dir = await lookupDigest(stores, digest);
  if (dir === undefined) {
    // A fetch in flight serves its manifest and verified files, never the tree or its mtimes
    // (its directories have the fetch's times until the end).
    if (kind !== 'manifest' && kind !== 'files') return undefined;
    const h = await findPartial(stores, digest);
    return h && { dir: h.dir, partial: { manifest: h.manifest, verified: (files) => verifiedAmong(h, files) } };
  }
  // The piece route reads the .manifest once per tree (served-pieces.ts), and a tree's size is
  // read once (a store entry never changes): no need to open it again.
  if (kind === 'files' && piecesIndexed(dir)) return { dir };
  const known = kind === 'tree' ? treeSizes.get(dir) : undefined;
  if (known !== undefined) return { dir, size: known };
  const manifest = await openManifest(dir);
  if (!manifest) return kind === 'tree' ? { dir } : undefined;
  try {
    if (kind !== 'tree') return { dir };
    if (manifest.size > MAX_MANIFEST_FOR_SIZE) return { dir };
    const size = manifestFileBytes((await manifest.handle.readFile()).toString('latin1'));
    if (treeSizes.size >= CACHED_SIZES) treeSizes.delete(treeSizes.keys().next().value!);
    treeSizes.set(dir, size);
    return { dir, size };
  } finally {
    await manifest.handle.close();
  }
}

/**
 * The body of `GET /implementation/<digest>/have`: every bit set for a complete implementation
 * (with a new-format .manifest), the verified files' bits for a partial holder, undefined (404)
 * when neither. With `fetching`, a second bitmap follows: the files a partial holder's fetch is
 * writing now (none for a complete implementation).
 */
export async function haveBitmap(stores: readonly string[], digest: Digest, fetching = false): Promise<Buffer | undefined> {
  const dir = await lookupDigest(stores, digest);
  if (dir !== undefined) {
    const files = await manifestFiles(dir).catch((err: unknown) => {
      if (err instanceof PieceRefusal) return undefined;
      throw err;
    });
    if (files === undefined) return undefined;
    const all = encodeHave(files, () => true);
    return fetching ? Buffer.concat([all, encodeHave(files, () => false)]) : all;
  }
  const h = await findPartial(stores, digest);
  if (!h) return undefined;
  const states = await fileStates(h);
  const have = encodeHave(h.files.length, (i) => states.verified.has(i));
  return fetching ? Buffer.concat([have, encodeHave(h.files.length, (i) => states.fetching.has(i))]) : have;
}
