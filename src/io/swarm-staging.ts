// The staging tree of a swarm fetch: a `tmp-<hex>` dir of the target store laid out from the
// verified manifest (every directory made up front, 0700, so pieces can land in any order), then,
// once every file is in, put in store form (directories 0555) and hashed again as a whole by the
// tree walker: the manifest that is committed is built from what is on disk, not from what the
// pieces claimed, exactly as `commitStaged` expects.
import { chmod, mkdir } from 'node:fs/promises';
import type { Algorithm } from '../core/digest.js';
import type { ManifestEntry } from '../core/manifest-format.js';
import { manifestOfTree } from './tree-walk.js';

/** `tree/<path>` as raw bytes (names need not be UTF-8). */
export function inTree(tree: string, path: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(tree), Buffer.from('/'), Buffer.from(path)]);
}

/** Makes the manifest's directories (parents come first in a manifest). */
export async function layOut(tree: string, entries: readonly ManifestEntry[]): Promise<void> {
  for (const e of entries) if (e.kind === 'dir') await mkdir(inTree(tree, e.path), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/** Directories to 0555 (deepest first), then the manifest of the tree as it is on disk. */
export async function finish(tree: string, entries: readonly ManifestEntry[], alg: Algorithm): Promise<Buffer> {
  const dirs = entries.filter((e) => e.kind === 'dir').reverse();
  for (const d of dirs) await chmod(inTree(tree, d.path), 0o555);
  return (await manifestOfTree(tree, alg)).manifest;
}
