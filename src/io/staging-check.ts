// The final check of a swarm's staging tree before its commit, without reading a byte of content.
// Every file's content was already hashed against its manifest line as it was written, linked,
// copied or kept (src/io/piece-fetch.ts, local-reuse.ts, partial-dir.ts), and every symlink's
// target before it was made; what is left to prove is that the tree holds exactly those entries
// and that none was written since. So the tree is walked with readdir and lstat only (synchronous
// calls in time slices, as src/io/tree-walk.ts) and must hold exactly the manifest's entries, no
// name more or less in any directory (a top-level regular `.manifest`, the partial dir's copy of
// the verified manifest, excepted), each of its type: a file with the final mode of its exec bit
// (0444/0555), its size and its whole-second mtime (a write after verification sets the mtime to
// now), a symlink whose target has the manifest's length, a directory with mode 0555. The times
// of directories and symlinks are not checked: they come from the responder's `/mtimes`, are not
// part of the digest, and a file system may clamp them (ext4 keeps none past 2446), so a check
// would let a peer fail the fetch; a name added, removed or replaced is caught by name and type.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import type { ManifestEntry } from '../core/manifest-format.js';
import { quoteNetworkText } from '../core/quote.js';
import { timeSlicer } from './time-slice.js';

export class StagingMismatch extends Error {
  override name = 'StagingMismatch';
}

const MANIFEST = '.manifest';

/** Each directory's expected children, by leaf name; paths are latin1 (raw bytes), the root is ''. */
function childrenByDir(entries: readonly ManifestEntry[]): Map<string, Map<string, ManifestEntry>> {
  const dirs = new Map<string, Map<string, ManifestEntry>>([['', new Map()]]);
  for (const e of entries) {
    const path = Buffer.from(e.path.buffer, e.path.byteOffset, e.path.byteLength).toString('latin1');
    const slash = path.lastIndexOf('/');
    const parent = path.slice(0, Math.max(0, slash));
    if (e.kind === 'dir' && !dirs.has(path)) dirs.set(path, new Map());
    let kids = dirs.get(parent);
    if (!kids) dirs.set(parent, (kids = new Map()));
    kids.set(path.slice(slash + 1), e);
  }
  return dirs;
}

/** A path for a message: its raw bytes quoted (names come from the manifest, i.e. from a peer). */
const show = (latin1: string) => quoteNetworkText(Buffer.from(latin1, 'latin1'));
const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;
const seconds = (st: Stats) => Math.floor(st.mtimeMs / 1000);

/** What is wrong with `st` for the manifest entry `e`, or undefined. */
function mismatch(e: ManifestEntry, st: Stats): string | undefined {
  if (e.kind === 'file') {
    if (!st.isFile()) return `is not a regular file, as the manifest says`;
    const mode = e.exec ? 0o555 : 0o444;
    if ((st.mode & 0o7777) !== mode) return `has mode ${octal(st.mode)}, not ${octal(mode)}`;
    if (st.size !== e.size) return `has ${st.size} bytes, not ${e.size}`;
    const mtime = Number(e.mtime ?? 0n);
    if (seconds(st) !== mtime) return `has mtime ${seconds(st)}, not ${mtime} (written after it was verified?)`;
    return undefined;
  }
  if (e.kind === 'symlink') {
    if (!st.isSymbolicLink()) return `is not a symlink, as the manifest says`;
    if (st.size !== e.size) return `is a symlink to ${st.size} bytes, not ${e.size}`;
    return undefined;
  }
  if (!st.isDirectory()) return `is not a directory, as the manifest says`;
  if ((st.mode & 0o7777) !== 0o555) return `has mode ${octal(st.mode)}, not 0555`;
  return undefined;
}

/**
 * Throws a StagingMismatch naming the first path that differs from the verified manifest's
 * `entries` (a name too many or missing, a wrong type, mode, size or file mtime).
 */
export async function checkStaged(tree: string, entries: readonly ManifestEntry[]): Promise<void> {
  const expected = childrenByDir(entries);
  const slicer = timeSlicer();
  // Paths as latin1 strings: one character per byte, so any name (UTF-8 or not) survives as is.
  const root = Buffer.from(tree).toString('latin1');
  const pending: string[] = [''];
  let checked = 0;
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    const kids = expected.get(dir)!;
    const prefix = dir ? `${dir}/` : '';
    const names = readdirSync(Buffer.from(`${root}/${dir}`, 'latin1'), { encoding: 'latin1' });
    let seen = 0;
    for (const leaf of names) {
      const path = prefix + leaf;
      const st = lstatSync(Buffer.from(`${root}/${path}`, 'latin1'));
      if (!dir && leaf === MANIFEST && st.isFile()) continue;
      const e = kids.get(leaf);
      if (!e) throw new StagingMismatch(`${show(path)} is in the staging tree but not in the manifest`);
      const wrong = mismatch(e, st);
      if (wrong) throw new StagingMismatch(`${show(path)} ${wrong}`);
      if (e.kind === 'dir') pending.push(path);
      seen++;
      // The slicer reads the clock: ask it every 64 entries, not at every one.
      if ((++checked & 63) === 0) await slicer.pause();
    }
    if (seen !== kids.size) {
      const here = new Set(names);
      const gone = [...kids.keys()].find((leaf) => !here.has(leaf))!;
      throw new StagingMismatch(`${show(prefix + gone)} is in the manifest but missing from the staging tree`);
    }
  }
}
