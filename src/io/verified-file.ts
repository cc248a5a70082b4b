// Creating a file whose whole content was already checked against its manifest line: in one go,
// O_CREAT|O_EXCL|O_NOFOLLOW with its final mode (0444, or 0555 if executable), its bytes, the
// manifest's mtime (futimes before close), so it never exists unverified or half-written; and the
// same mtime step for a file sealed once its ranges are checked. Used by the swarm's piece fetcher
// and by its empty files (src/io/empty-files.ts).
import { closeSync, constants, futimesSync, openSync, writeSync } from 'node:fs';
import type { ManifestEntry } from '../core/manifest-format.js';
import { storeFileMode } from '../core/tar-rules.js';
import type { StoredAsAsked } from './stored-as-asked.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Gives the open file `fd` (created with, or already set to, its store mode) the manifest's mtime
 * and has `stored` check that the file system kept both; throws if it cannot store the mtime.
 */
export function stampVerified(fd: number, entry: ManifestEntry, stored: StoredAsAsked): void {
  const t = Number(entry.mtime ?? 0n);
  futimesSync(fd, t, t);
  if (!stored.file(fd, storeFileMode(entry.exec === true), t)) throw new Error(`this file system cannot store the mtime ${t} of '${Buffer.from(entry.path).toString()}'`);
}

/** Creates `entry`'s file at `path` with `data`; `stored` checks that the mode and mtime were kept. */
export function createVerifiedFile(path: Buffer, entry: ManifestEntry, data: Uint8Array, stored: StoredAsAsked): void {
  const fd = openSync(path, CREATE, storeFileMode(entry.exec === true));
  try {
    for (let w = 0; w < data.length; ) w += writeSync(fd, data, w, data.length - w, w);
    stampVerified(fd, entry, stored);
  } finally {
    closeSync(fd);
  }
}
