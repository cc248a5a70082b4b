// The resumable staging tree of a swarm fetch: `tmp-partial-<digest>` in the target store
// (a `tmp-` name, so 0install and every store scanner take it for a transient directory, never
// an implementation). It holds only what was verified against the manifest plus files being
// written: a file gets its final mode (0444/0555) and mtime only once its hash matched (a local
// copy is hashed as it is taken), so on the next fetch of the digest everything else is deleted
// and the rest is kept. An interrupted fetch leaves it; the next fetch continues from it, and
// the commit renames it to the digest as any staging tree. One process at a time: a lock file
// beside it (`tmp-partial-<digest>.lock`, holding the owner's pid) sends a second fetch of the
// same digest to a private `tmp-<hex>` dir; a lock whose process is gone is taken over. A staged
// tree keeps its lock until the commit has renamed it (or it was discarded): `releasePartial`.
// While it is staged, the dir also holds the verified manifest as `.manifest` (written before any
// file, removed before the commit, which writes its own): by it and the lock the machine's own
// peer knows a fetch in flight and serves its verified files (src/io/partial-holders.ts); the
// fetch's state file beside it (`tmp-partial-<digest>.have`, io/partial-state.ts) goes with the lock.
import { constants } from 'node:fs';
import { chmod, link, lstat, mkdir, readFile, readlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { contentHash } from '../core/manifest-format.js';
import type { ManifestTable } from '../core/manifest-table.js';
import { hasVerifiedMark, lockPid, partialDirName, STATE_SUFFIX } from '../core/partial-holder.js';
import type { PlanFile } from '../core/swarm-plan.js';
import { hashFile } from './file-hash.js';
import { inTree } from './swarm-staging.js';

export interface PartialDir {
  readonly dir: string;
  /** This fetch created the dir (nothing in it to keep), rather than finding an earlier fetch's. */
  readonly fresh: boolean;
  /** Gives up the lock (the dir stays, for the next fetch or the commit). */
  release(): Promise<void>;
}

/** The locks this process holds, by partial dir. */
const held = new Map<string, PartialDir>();

/** Gives up the lock of `dir` if it is a partial dir this process holds (no-op otherwise). */
export async function releasePartial(dir: string): Promise<void> {
  await held.get(dir)?.release();
}

/** Whether process `pid` exists (EPERM: it does, as another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates `lock` holding this process's pid, or fails with EEXIST. The pid is written to a
 * file of its own first and hard-linked to the lock's name, so a lock is never seen empty
 * (another fetch reading it half-written would take it for a dead owner's and take it over).
 */
async function createLock(lock: string): Promise<void> {
  const mine = `${lock}.${process.pid}`;
  await writeFile(mine, String(process.pid), { mode: 0o644, flag: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW });
  try {
    await link(mine, lock);
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}

/** Takes the partial dir of `digest` in `store` (creating it), or undefined when another live process has it. */
export async function takePartial(store: string, digest: Digest): Promise<PartialDir | undefined> {
  await mkdir(store, { recursive: true, mode: 0o755 });
  const dir = join(store, partialDirName(digest));
  const lock = `${dir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await createLock(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) return undefined;
      const owner = lockPid(await readFile(lock, 'latin1').catch(() => ''));
      if (owner !== undefined && isAlive(owner)) return undefined;
      await unlink(lock).catch(() => undefined);
    }
  }
  // An earlier owner's state file says nothing of this fetch (partial-state.ts writes its own).
  await unlink(`${dir}${STATE_SUFFIX}`).catch(() => undefined);
  // Readable (0755), so that this machine's peer, also as another user (the `zeroshare`
  // service), can serve the fetch in flight; a file stays 0600 until its hash matched.
  const fresh = await mkdir(dir, { mode: 0o755 }).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      return false;
    },
  );
  await chmod(dir, 0o755);
  const partial: PartialDir = {
    dir,
    fresh,
    release: async () => {
      if (held.get(dir) !== partial) return;
      held.delete(dir);
      await unlink(`${dir}${STATE_SUFFIX}`).catch(() => undefined);
      await unlink(lock).catch(() => undefined);
    },
  };
  held.set(dir, partial);
  return partial;
}

/**
 * Keeps what an earlier fetch verified in `tree` (files with the manifest's size, final mode
 * and mtime whose content hashes right again; symlinks whose target hashes right) and deletes
 * any other file the manifest names;
 * makes its directories writable again. Returns the indexes kept and their bytes.
 */
export async function keepVerified(tree: string, table: ManifestTable, files: Iterable<PlanFile>, digest: Digest): Promise<{ kept: Set<number>; bytes: number }> {
  for (const e of table.ofKind('dir')) await chmod(inTree(tree, e.path), 0o755).catch(() => undefined);
  const kept = new Set<number>();
  let bytes = 0;
  for (const f of files) {
    const p = inTree(tree, f.entry.path);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    let ok = false;
    if (f.entry.kind === 'symlink' && st.isSymbolicLink()) {
      const target = await readlink(p, { encoding: 'buffer' }).catch(() => undefined);
      ok = target !== undefined && contentHash(target, digest.alg) === f.entry.hash;
    } else if (f.entry.kind === 'file' && st.isFile()) {
      ok = hasVerifiedMark(f.entry, { isFile: true, mode: st.mode, size: st.size, mtimeMs: st.mtimeMs });
      // The mark says it was verified; the content is checked again all the same.
      if (ok) ok = (await hashFile(p, digest.alg).catch(() => '')) === f.entry.hash;
    }
    if (ok) {
      kept.add(f.index);
      if (f.entry.kind === 'file') bytes += f.entry.size ?? 0;
    } else await unlink(p).catch(() => undefined);
  }
  return { kept, bytes };
}

/**
 * Puts the verified `manifest` into the partial dir `dir` as `.manifest` (0444), replacing any an
 * earlier fetch left: written in place, so a peer reading it meanwhile sees a manifest whose hash
 * is not the digest and takes the dir for no partial holder until it is whole.
 */
export async function writePartialManifest(dir: string, manifest: Uint8Array): Promise<void> {
  const path = join(dir, '.manifest');
  await unlink(path).catch(() => undefined);
  await writeFile(path, manifest, { mode: 0o444, flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW });
}

/** Removes the partial dir's `.manifest` (the tree is then exactly what the commit expects). */
export async function dropPartialManifest(dir: string): Promise<void> {
  await unlink(join(dir, '.manifest')).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
