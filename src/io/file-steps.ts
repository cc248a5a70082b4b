// Reading one regular file for its manifest line, in two steps shared by the tree walker and its
// hash worker: check it with lstat and open it, then read and hash it a piece at a time. The
// worker runs these functions from their source text, so they use nothing from outside themselves
// (their node modules come in `io`) and report problems as data, which the walker words as
// TreeErrors.
import type { BigIntStats, closeSync, lstatSync, openSync, readSync } from 'node:fs';
import type { createHash, hash, Hash } from 'node:crypto';

export interface FileIo {
  openSync: typeof openSync;
  lstatSync: typeof lstatSync;
  closeSync: typeof closeSync;
  readSync: typeof readSync;
  createHash: typeof createHash;
  hash: typeof hash;
  /** Who reads: the effective user and groups (`readerIds()`). */
  ids: ReaderIds;
}

/** The effective user id and the group ids whose permission bits apply to this process. */
export interface ReaderIds {
  uid: number;
  gids: number[];
}

export function readerIds(): ReaderIds {
  return { uid: process.geteuid?.() ?? 0, gids: [process.getegid?.() ?? 0, ...(process.getgroups?.() ?? [])] };
}

/** Why a file could not be read: it changed (became a symlink), is no regular file, or a system call failed. */
export type FileProblem = { problem: 'changed' } | { problem: 'notRegular' } | { problem: 'failed'; code: string; message: string };

/**
 * An open regular file being hashed: its stat, the bytes read so far, and at the end its hex hash.
 * An empty file is not opened (`fd` -1).
 */
export interface OpenFile {
  fd: number;
  st: BigIntStats;
  size: number;
  total: number;
  h?: Hash;
  hex?: string;
}

/**
 * Checks with lstat that `path` is a regular file and opens it without following a symlink (as
 * 0install, the stat comes before the read: a file that grows or shrinks after it is seen as
 * changed once read). An empty file that its permission bits let this process read needs no
 * more system calls; one they do not is opened, so that it fails as 0install's read fails.
 */
export function openRegular(path: Buffer, flags: number, io: FileIo): OpenFile | FileProblem {
  const failed = (err: unknown): FileProblem => {
    const e = err as NodeJS.ErrnoException;
    return { problem: 'failed', code: e.code ?? '', message: e.message };
  };
  let st: BigIntStats;
  try {
    st = io.lstatSync(path, { bigint: true });
  } catch (err) {
    return failed(err);
  }
  if (!st.isFile()) return st.isSymbolicLink() ? { problem: 'changed' } : { problem: 'notRegular' };
  const size = Number(st.size);
  if (size === 0) {
    const { uid, gids } = io.ids;
    const mode = Number(st.mode);
    const bit = Number(st.uid) === uid ? 0o400 : gids.includes(Number(st.gid)) ? 0o040 : 0o004;
    if (uid === 0 || (mode & bit) !== 0) return { fd: -1, st, size, total: 0 }; // root reads any file
  }
  try {
    return { fd: io.openSync(path, flags), st, size, total: 0 };
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ELOOP' ? { problem: 'changed' } : failed(err);
  }
}

/**
 * Reads the next piece of `file` into `buf` and hashes it (one not opened: nothing to read); true
 * once the file is done. Then `file.total !== file.size` if it grew or shrank while being read.
 * Read errors are thrown.
 *
 * Asking for one byte more than is left ends a regular file's read with a short read, saving the
 * final zero-length read; a file read in one piece is hashed in one call, without a Hash object.
 */
export function hashStep(file: OpenFile, buf: Buffer, name: 'sha1' | 'sha256', io: FileIo): boolean {
  if (file.fd < 0) {
    // Empty, not opened.
    file.hex = io.hash(name, buf.subarray(0, 0), 'hex');
    return true;
  }
  const want = Math.min(buf.length, file.size - file.total + 1);
  const n = io.readSync(file.fd, buf, 0, want, null);
  file.total += n;
  if (n < want && file.h === undefined) {
    file.hex = io.hash(name, buf.subarray(0, n), 'hex');
    return true;
  }
  file.h ??= io.createHash(name);
  file.h.update(buf.subarray(0, n));
  if (n < want || file.total > file.size) {
    file.hex = file.h.digest('hex');
    return true;
  }
  return false;
}
