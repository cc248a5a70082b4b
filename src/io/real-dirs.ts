// The peer's check that a path of a tree it reads has only real directories on its way (lstat,
// never following a symlink): a directory swapped for a symlink must not lead a read out of the
// tree. Used by the piece route (src/io/piece-reader.ts) and by the partial-holder checks
// (src/io/partial-holders.ts). A checker lives for one request or scan: each directory is
// lstat'ed once, and the last parent that passed is remembered (paths come grouped by directory).
import { lstatSync } from 'node:fs';

const SLASH = 0x2f;

/**
 * A checker for relative paths (raw bytes) under `root`: it returns the length of the first
 * prefix of a path that is not a real directory there, or -1 when every one is.
 */
export function realDirs(root: string): (path: Uint8Array) => number {
  const base = Buffer.from(root.endsWith('/') ? root : `${root}/`);
  const ok = new Set<string>();
  let lastParent: string | undefined;
  return (raw) => {
    const path = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const end = path.lastIndexOf(SLASH);
    if (end < 0) return -1;
    const parent = path.toString('latin1', 0, end);
    if (parent === lastParent) return -1;
    for (let i = path.indexOf(SLASH); i >= 0 && i <= end; i = path.indexOf(SLASH, i + 1)) {
      const d = path.toString('latin1', 0, i);
      if (ok.has(d)) continue;
      let real = false;
      try {
        real = lstatSync(Buffer.concat([base, path.subarray(0, i)]), { throwIfNoEntry: false })?.isDirectory() === true;
      } catch {
        // ENOTDIR, EACCES…: not a directory this peer may read through
      }
      if (!real) return i;
      ok.add(d);
    }
    lastParent = parent;
    return -1;
  };
}
