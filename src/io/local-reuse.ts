// Reuse from the local stores: a file the new implementation's manifest lists whose hash (same
// hash function) is already in any implementation here comes from that copy instead of the
// network. The index (hash → where) is built from the stores' `.manifest` files, once per fetch
// and only when a swarm needs it. A candidate is hashed again as it is taken, so a damaged
// local copy is never trusted; it is hard-linked into the staging tree when its mode and mtime
// already are the manifest's (store files are read-only, so sharing the inode is safe, as
// `0install store optimise` does), and copied with the manifest's mode and mtime otherwise (or
// when the link is refused: another file system, another owner).
import { constants } from 'node:fs';
import { chmod, copyFile, link, lstat, readFile, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { hashName, type Algorithm } from '../core/digest.js';
import { parseManifest } from '../core/manifest-table.js';
import type { PlanFile } from '../core/swarm-plan.js';
import { hashFile } from './file-hash.js';
import { listImplementations } from './stores.js';
import { inTree } from './swarm-staging.js';

interface Candidate {
  readonly path: Buffer;
  readonly exec: boolean;
  readonly mtime: bigint;
}

export type LocalIndex = Map<string, Candidate[]>;

/** Files of every implementation in `stores` whose manifest hashes with `alg`'s function, by hash. */
export async function buildLocalIndex(stores: readonly string[], alg: Algorithm): Promise<LocalIndex> {
  const index: LocalIndex = new Map();
  for (const impl of await listImplementations(stores)) {
    if (impl.digest.alg === 'sha1' || hashName(impl.digest.alg) !== hashName(alg)) continue;
    let text: Buffer;
    try {
      text = await readFile(join(impl.path, '.manifest'));
      for (const e of parseManifest(text)) {
        if (e.kind !== 'file' || !e.hash || !e.size) continue;
        const list = index.get(e.hash) ?? [];
        if (list.length < 4) list.push({ path: inTree(impl.path, e.path), exec: Boolean(e.exec), mtime: e.mtime ?? 0n });
        index.set(e.hash, list);
      }
    } catch {
      // no readable .manifest (or an odd one): nothing to reuse from it
    }
  }
  return index;
}

/** Puts one local candidate at `dst` as the manifest line `f` says; false if it does not match. */
async function take(c: Candidate, f: PlanFile, dst: Buffer, alg: Algorithm): Promise<boolean> {
  const st = await lstat(c.path).catch(() => undefined);
  if (!st?.isFile() || st.size !== f.entry.size) return false;
  const exec = Boolean(f.entry.exec);
  const mtime = f.entry.mtime ?? 0n;
  const sameInode = c.exec === exec && c.mtime === mtime && (st.mode & 0o7777) === (exec ? 0o555 : 0o444) && BigInt(Math.floor(st.mtimeMs / 1000)) === mtime;
  let linked = false;
  if (sameInode) linked = await link(c.path, dst).then(() => true, () => false);
  if (!linked) await copyFile(c.path, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  if ((await hashFile(dst, alg)) !== f.entry.hash) {
    await unlink(dst);
    return false;
  }
  // A copy gets its final mode only once it matched: the mark a resumed fetch keeps it by.
  if (!linked) {
    await utimes(dst, Number(mtime), Number(mtime));
    await chmod(dst, exec ? 0o555 : 0o444);
  }
  return true;
}

/**
 * Takes every file of `files` it can from the index into `tree`; returns the indexes taken and
 * their bytes. A copy that fails for any reason is simply left to the network.
 */
export async function reuseLocal(tree: string, files: Iterable<PlanFile>, index: LocalIndex, alg: Algorithm): Promise<{ taken: Set<number>; bytes: number }> {
  const taken = new Set<number>();
  let bytes = 0;
  if (index.size === 0) return { taken, bytes };
  for (const f of files) {
    if (f.entry.kind !== 'file' || !f.entry.hash) continue;
    for (const c of index.get(f.entry.hash) ?? []) {
      const ok = await take(c, f, inTree(tree, f.entry.path), alg).catch(async () => {
        await unlink(inTree(tree, f.entry.path)).catch(() => undefined);
        return false;
      });
      if (ok) {
        taken.add(f.index);
        bytes += f.entry.size ?? 0;
        break;
      }
    }
  }
  return { taken, bytes };
}
