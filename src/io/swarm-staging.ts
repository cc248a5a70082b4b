// The staging tree of a swarm fetch: a `tmp-<hex>` dir (or the partial dir) of the target store
// laid out from the verified manifest (every directory made up front, so pieces can land in any
// order), then, once every file is in, put in store form (directories 0555; directories and
// symlinks get the mtimes the responder's `/mtimes` route gave, for the paths the manifest lists
// as such) and checked against the manifest by readdir and lstat (src/io/staging-check.ts): every
// file's content was hashed as it was written or taken, so the verified manifest itself is what
// the commit stores.
import { chmodSync, lutimesSync, mkdirSync, utimesSync } from 'node:fs';
import type { ManifestEntry } from '../core/manifest-format.js';
import type { ManifestTable } from '../core/manifest-table.js';
import { checkStaged } from './staging-check.js';
import { timeSlicer } from './time-slice.js';

/** `tree/<path>` as raw bytes (names need not be UTF-8). */
export function inTree(tree: string, path: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(tree), Buffer.from('/'), Buffer.from(path)]);
}

/** Makes the manifest's directories (parents come first in a manifest); synchronous calls, one per directory. */
export async function layOut(tree: string, table: ManifestTable): Promise<void> {
  const slicer = timeSlicer();
  for (const e of table.ofKind('dir')) {
    try {
      mkdirSync(inTree(tree, e.path), { mode: 0o755 }); // inside a private tmp dir or the readable partial dir
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await slicer.pause();
  }
}

/** The mtime `mtimes` gives for `e` (keyed by the latin1 of its path), as utimes takes it. */
function timeOf(mtimes: ReadonlyMap<string, bigint> | undefined, e: ManifestEntry): number | undefined {
  const t = mtimes?.get(Buffer.from(e.path).toString('latin1'));
  return t === undefined ? undefined : Number(t);
}

/**
 * Puts the tree in store form once every file is in: symlinks get their mtimes (lutimes, never
 * following them), directories 0555 and their mtimes (neither changes a parent's mtime, so one
 * pass in any order will do); then checks the tree against the manifest without reading content
 * (src/io/staging-check.ts; throws StagingMismatch; `written` as there). Without `mtimes` (a peer
 * without the route) directories and symlinks keep the fetch's times.
 */
export async function finish(tree: string, table: ManifestTable, mtimes?: ReadonlyMap<string, bigint>, written?: (file: number) => boolean): Promise<void> {
  const slicer = timeSlicer();
  let done = 0;
  for (let i = 0; i < table.length; i++) {
    if (table.kind(i) === 'file') continue;
    const e = table.entry(i);
    const t = timeOf(mtimes, e);
    if (e.kind === 'symlink' && t === undefined) continue;
    const p = inTree(tree, e.path);
    if (e.kind === 'dir') chmodSync(p, 0o555);
    if (t !== undefined) (e.kind === 'dir' ? utimesSync : lutimesSync)(p, t, t);
    // The slicer reads the clock: ask it every 64 entries, not at every one.
    if ((++done & 63) === 0) await slicer.pause();
  }
  await checkStaged(tree, table, written);
}
