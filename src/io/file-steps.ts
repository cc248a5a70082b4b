// Reading one regular file for its manifest line, in two steps shared by the tree walker and its
// hash worker: open and check it, then read and hash it a piece at a time. The worker runs these
// functions from their source text, so they use nothing from outside themselves (their node
// modules come in `io`) and report problems as data, which the walker words as TreeErrors.
import type { BigIntStats, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { createHash, hash, Hash } from 'node:crypto';

export interface FileIo {
  openSync: typeof openSync;
  fstatSync: typeof fstatSync;
  closeSync: typeof closeSync;
  readSync: typeof readSync;
  createHash: typeof createHash;
  hash: typeof hash;
}

/** Why a file could not be read: it changed (became a symlink), is no regular file, or a system call failed. */
export type FileProblem = { problem: 'changed' } | { problem: 'notRegular' } | { problem: 'failed'; code: string; message: string };

/** An open regular file being hashed: its stat, the bytes read so far, and at the end its hex hash. */
export interface OpenFile {
  fd: number;
  st: BigIntStats;
  size: number;
  total: number;
  h?: Hash;
  hex?: string;
}

/** Opens `path` without following a symlink and checks with fstat that it is a regular file. */
export function openRegular(path: Buffer, flags: number, io: FileIo): OpenFile | FileProblem {
  const failed = (err: unknown): FileProblem => {
    const e = err as NodeJS.ErrnoException;
    return { problem: 'failed', code: e.code ?? '', message: e.message };
  };
  let fd: number;
  try {
    fd = io.openSync(path, flags);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ELOOP' ? { problem: 'changed' } : failed(err);
  }
  try {
    const st = io.fstatSync(fd, { bigint: true });
    if (st.isFile()) return { fd, st, size: Number(st.size), total: 0 };
    io.closeSync(fd);
    return { problem: 'notRegular' };
  } catch (err) {
    io.closeSync(fd);
    return failed(err);
  }
}

/**
 * Reads the next piece of `file` into `buf` and hashes it; true once the file is done. Then
 * `file.total !== file.size` if it grew or shrank while being read. Read errors are thrown.
 *
 * Asking for one byte more than is left ends a regular file's read with a short read, saving the
 * final zero-length read; a file read in one piece is hashed in one call, without a Hash object.
 */
export function hashStep(file: OpenFile, buf: Buffer, name: 'sha1' | 'sha256', io: FileIo): boolean {
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
