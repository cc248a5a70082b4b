// The empty files of a swarm's verified manifest, made here instead of asked of a peer: a file
// whose line says size 0 and the hash of no bytes has nothing to fetch, and asking for it costs
// the peer an open, fstat and close and a line of a request (a tree of 10,000 empty files took 40
// requests). Each is created as a verified file is (src/io/verified-file.ts: final mode, the
// manifest's mtime). A line with size 0 and another hash is left to the network, where it fails
// as a lie, as before.
import { type Algorithm } from '../core/digest.js';
import { contentHash } from '../core/manifest-format.js';
import type { PlanFiles } from '../core/swarm-plan.js';
import { StoredAsAsked } from './stored-as-asked.js';
import { inTree } from './swarm-staging.js';
import { timeSlicer } from './time-slice.js';
import { createVerifiedFile } from './verified-file.js';

/** Creates in `tree` every empty file of `files` not in `skip`; returns their plan indexes. Throws a file system error. */
export async function makeEmptyFiles(tree: string, files: PlanFiles, alg: Algorithm, skip: ReadonlySet<number>): Promise<Set<number>> {
  const made = new Set<number>();
  const empty = contentHash(new Uint8Array(0), alg);
  const stored = new StoredAsAsked();
  const slicer = timeSlicer();
  for (let i = 0; i < files.length; i++) {
    if (files.size(i) !== 0 || files.isSymlink(i) || skip.has(i)) continue;
    const { entry } = files.get(i);
    if (entry.hash !== empty) continue;
    createVerifiedFile(inTree(tree, entry.path), entry, new Uint8Array(0), stored);
    made.add(i);
    // The slicer reads the clock: ask it every 64 files, not at every one.
    if ((made.size & 63) === 0) await slicer.pause();
  }
  return made;
}
