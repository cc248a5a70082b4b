// The staging tree of a swarm fetch: a `tmp-<hex>` dir of the target store laid out from the
// verified manifest (every directory made up front, 0700, so pieces can land in any order), then,
// once every file is in, put in store form (directories 0555; symlinks and then directories,
// deepest first, get the mtimes the responder's `/mtimes` route gave, for the paths the manifest
// lists as such) and hashed again as a whole by the tree walker: the manifest that is committed
// is built from what is on disk, not from what the pieces claimed, exactly as `commitStaged` expects.
import { chmodSync, lutimesSync, mkdirSync, utimesSync } from 'node:fs';
import type { Algorithm } from '../core/digest.js';
import type { ManifestEntry } from '../core/manifest-format.js';
import { timeSlicer } from './time-slice.js';
import { manifestOfTree } from './tree-walk.js';

/** `tree/<path>` as raw bytes (names need not be UTF-8). */
export function inTree(tree: string, path: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(tree), Buffer.from('/'), Buffer.from(path)]);
}

/** Makes the manifest's directories (parents come first in a manifest); synchronous calls, one per directory. */
export async function layOut(tree: string, entries: readonly ManifestEntry[]): Promise<void> {
  const slicer = timeSlicer();
  for (const e of entries) {
    if (e.kind !== 'dir') continue;
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
 * Symlinks get their mtimes (lutimes, never following them), directories 0555 and their mtimes
 * (deepest first, after every file is in), then the manifest of the tree as it is on disk.
 * Without `mtimes` (a peer without the route) they keep the fetch's times.
 */
export async function finish(tree: string, entries: readonly ManifestEntry[], alg: Algorithm, mtimes?: ReadonlyMap<string, bigint>): Promise<Buffer> {
  const slicer = timeSlicer();
  if (mtimes?.size) {
    for (const e of entries) {
      const t = e.kind === 'symlink' ? timeOf(mtimes, e) : undefined;
      if (t !== undefined) lutimesSync(inTree(tree, e.path), t, t);
      await slicer.pause();
    }
  }
  const dirs = entries.filter((e) => e.kind === 'dir').reverse();
  for (const d of dirs) {
    const p = inTree(tree, d.path);
    chmodSync(p, 0o555);
    const t = timeOf(mtimes, d);
    if (t !== undefined) utimesSync(p, t, t);
    await slicer.pause();
  }
  return (await manifestOfTree(tree, alg)).manifest;
}
