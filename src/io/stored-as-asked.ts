// Whether the file system kept what a writer of store trees asked for: a file's store mode (0444,
// 0555) given at creation, which the umask may cut, and a file's or symlink's mtime, which some
// file systems cannot store (outside 1970..2038 on ext4 with small inodes, FAT…). Checking every
// entry costs an fstat or lstat each (3 % of a 50,000-file fetch), so what is checked is the first
// file of each mode and the first symlink, and every entry whose mtime is outside 1970..2038: the
// umask is the process's and the range the file system's, so once one came out right, the others
// with ordinary mtimes do too. A mode the umask cut is set again, and that mode stays checked.
// Used by the tar extractor (src/io/extract-tree.ts) and the swarm (src/io/piece-fetch.ts).
import { fchmodSync, fstatSync, lstatSync } from 'node:fs';

/** An mtime every file system stores. */
const ordinaryTime = (t: number) => t >= 0 && t < 2 ** 31;

const seconds = (mtimeMs: number) => Math.floor(mtimeMs / 1000);

export class StoredAsAsked {
  /** Modes a file created with them came out with, and an ordinary mtime. */
  private readonly modes = new Set<number>();
  /** A symlink came out with its (ordinary) mtime. */
  private link = false;

  /**
   * For a file just created with `mode` and given mtime `t` (seconds), on its open descriptor:
   * sets the mode again if the umask cut it; false when the mtime was not stored.
   */
  file(fd: number, mode: number, t: number): boolean {
    const ordinary = ordinaryTime(t);
    if (ordinary && this.modes.has(mode)) return true;
    const st = fstatSync(fd);
    if ((st.mode & 0o7777) !== mode) fchmodSync(fd, mode);
    else if (ordinary) this.modes.add(mode);
    return seconds(st.mtimeMs) === t;
  }

  /** For a symlink at `path` just given mtime `t` (lutimes): false when it was not stored. */
  symlink(path: Buffer, t: number): boolean {
    const ordinary = ordinaryTime(t);
    if (ordinary && this.link) return true;
    const ok = seconds(lstatSync(path).mtimeMs) === t;
    if (ok && ordinary) this.link = true;
    return ok;
  }
}
