// The final check of a swarm's staging tree before its commit, without reading a byte of content.
// Every file's content was already hashed against its manifest line as it was written, linked,
// copied or kept (src/io/piece-fetch.ts, local-reuse.ts, partial-dir.ts), and every symlink's
// target before it was made; what is left to prove is that the tree holds exactly those entries
// and that none was written since. So the tree is walked with readdir and lstat only (synchronous
// calls in time slices, as src/io/tree-walk.ts) and must hold exactly the manifest's entries, no
// name more or less in any directory (a top-level regular `.manifest`, the partial dir's copy of
// the verified manifest, excepted), each of its type (from readdir): a file with the final mode
// of its exec bit (0444/0555), its size and its whole-second mtime (a write after verification
// sets the mtime to now), a symlink whose target has the manifest's length, a directory with mode
// 0555. A file this process created itself, verified, and gave its mode and mtime through its own
// descriptor (`written`: the swarm's pieces and empty files) is only checked to be a regular file
// by that name: an lstat of it would only repeat what its descriptor was told (on a 50,000-file
// tree the lstats were a tenth of the fetch); files taken from elsewhere (local copies and links,
// a partial dir's earlier files) are lstat'ed. The times
// of directories and symlinks are not checked: they come from the responder's `/mtimes`, are not
// part of the digest, and a file system may clamp them (ext4 keeps none past 2446), so a check
// would let a peer fail the fetch; a name added, removed or replaced is caught by name and type.
import { type Dirent, lstatSync, readdirSync, type Stats } from 'node:fs';
import type { ManifestEntry } from '../core/manifest-format.js';
import type { ManifestTable } from '../core/manifest-table.js';
import { quoteNetworkText } from '../core/quote.js';
import { storeFileMode } from '../core/tar-rules.js';
import { timeSlicer } from './time-slice.js';

export class StagingMismatch extends Error {
  override name = 'StagingMismatch';
}

const MANIFEST = '.manifest';

/**
 * A directory of the manifest: its path (latin1, raw bytes; '' for the top), the first entry after
 * its line, its subdirectories, and how many directory lines come before `first` (an entry's
 * number less that is its number among files and symlinks, as the swarm's plan numbers them).
 */
interface Dir {
  readonly path: string;
  readonly first: number;
  readonly subdirs: number[];
  readonly dirsBefore: number;
}

/**
 * The manifest's directories (the top first). A directory's files and symlinks are the entries
 * from `first` to the next directory's line (the manifest is in canonical order, checked before
 * the swarm began); only directories are kept by path.
 */
function directories(table: ManifestTable): Dir[] {
  const top: Dir = { path: '', first: 0, subdirs: [], dirsBefore: 0 };
  const byPath = new Map<string, Dir>([['', top]]);
  const dirs = [top];
  for (let i = 0; i < table.length; i++) {
    if (table.kind(i) !== 'dir') continue;
    const path = table.path(i).toString('latin1');
    const dir: Dir = { path, first: i + 1, subdirs: [], dirsBefore: dirs.length };
    byPath.get(path.slice(0, Math.max(0, path.lastIndexOf('/'))))?.subdirs.push(i);
    byPath.set(path, dir);
    dirs.push(dir);
  }
  return dirs;
}

/** A directory's expected children: entry number by leaf name (latin1). */
function childrenOf(table: ManifestTable, dir: Dir): Map<string, number> {
  const kids = new Map<string, number>();
  const leaf = (i: number) => table.name(i).toString('latin1');
  for (let i = dir.first; i < table.length && table.kind(i) !== 'dir'; i++) kids.set(leaf(i), i);
  for (const d of dir.subdirs) kids.set(leaf(d), d);
  return kids;
}

/** A path for a message: its raw bytes quoted (names come from the manifest, i.e. from a peer). */
const show = (latin1: string) => quoteNetworkText(Buffer.from(latin1, 'latin1'));
const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;
const seconds = (st: Stats) => Math.floor(st.mtimeMs / 1000);

/** What is wrong with `st` for the manifest entry `e`, or undefined. */
function mismatch(e: ManifestEntry, st: Stats): string | undefined {
  if (e.kind === 'file') {
    if (!st.isFile()) return `is not a regular file, as the manifest says`;
    const mode = storeFileMode(e.exec === true);
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
 * Throws a StagingMismatch naming the first path that differs from the verified manifest (a name
 * too many or missing, a wrong type, mode, size or file mtime). `written(n)`: the file numbered
 * `n` among files and symlinks was created by this process, verified, through its own descriptor.
 */
export async function checkStaged(tree: string, table: ManifestTable, written: (file: number) => boolean = () => false): Promise<void> {
  const slicer = timeSlicer();
  // Paths as latin1 strings: one character per byte, so any name (UTF-8 or not) survives as is.
  const root = Buffer.from(tree).toString('latin1');
  let checked = 0;
  for (const dir of directories(table)) {
    const kids = childrenOf(table, dir);
    const prefix = dir.path ? `${dir.path}/` : '';
    const items = readdirSync(Buffer.from(`${root}/${dir.path}`, 'latin1'), { encoding: 'latin1', withFileTypes: true }) as Dirent[];
    let seen = 0;
    for (const item of items) {
      const leaf = item.name;
      const path = prefix + leaf;
      if (!dir.path && leaf === MANIFEST && item.isFile()) continue;
      const i = kids.get(leaf);
      if (i === undefined) throw new StagingMismatch(`${show(path)} is in the staging tree but not in the manifest`);
      let wrong: string | undefined;
      if (table.kind(i) === 'file' && written(i - dir.dirsBefore)) wrong = item.isFile() ? undefined : 'is not a regular file, as the manifest says';
      else wrong = mismatch(table.entry(i), lstatSync(Buffer.from(`${root}/${path}`, 'latin1')));
      if (wrong) throw new StagingMismatch(`${show(path)} ${wrong}`);
      seen++;
      // The slicer reads the clock: ask it every 64 entries, not at every one.
      if ((++checked & 63) === 0) await slicer.pause();
    }
    if (seen !== kids.size) {
      const here = new Set(items.map((item) => item.name));
      const gone = [...kids.keys()].find((leaf) => !here.has(leaf))!;
      throw new StagingMismatch(`${show(prefix + gone)} is in the manifest but missing from the staging tree`);
    }
  }
}
