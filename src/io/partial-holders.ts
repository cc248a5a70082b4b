// The peer's view of fetches in flight on its machine (docs/protocol.md, "In flight"): a store
// holds a digest partially when `tmp-partial-<digest>/` is a real directory, its lock names a
// live process, and its `.manifest` (a regular file, never followed as a symlink) hashes to the
// digest. The manifest is hashed once per (path, inode, mtime, size) and the result cached; which
// files are verified (the mark of src/core/partial-holder.ts, or a symlink whose target hashes
// right, under real directories only) is cached for VERIFIED_TTL_MS. Everything here only reads,
// and copes with the dir being renamed (the commit) or removed at any moment: it is then simply
// not a partial holder any more.
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, formatDigest, sameDigest } from '../core/digest.js';
import { contentHash, type ManifestEntry, manifestDigest, parseManifest } from '../core/manifest-format.js';
import { digestOfPartialName, hasVerifiedMark, LOCK_SUFFIX, lockPid, partialDirName } from '../core/partial-holder.js';
import type { InFlightView } from '../core/status-page.js';
import { type PlanFile, planFiles } from '../core/swarm-plan.js';
import { isAlive } from './partial-dir.js';
import { lookupDigest } from './stores.js';
import { inTree } from './swarm-staging.js';

/** A partial dir whose manifest checked out. */
export interface PartialHolding {
  readonly digest: Digest;
  readonly store: string;
  readonly dir: string;
  /** The `.manifest` bytes, whose hash is the digest. */
  readonly manifest: Buffer;
  readonly entries: readonly ManifestEntry[];
  readonly files: readonly PlanFile[];
}

/** How long a partial dir's set of verified files is reused (the protocol allows 200 ms). */
export const VERIFIED_TTL_MS = 200;
/** A .manifest larger than this is not read. */
const MAX_MANIFEST = 64 * 1024 * 1024;
const CACHED = 32;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Checked manifests by (dir, inode, mtime, size): the holding, or undefined for a bad one. */
const manifests = new Map<string, { holding: PartialHolding } | undefined>();
const verifiedCache = new Map<string, { at: number; files: readonly PlanFile[]; set: Promise<ReadonlySet<number>> }>();

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= CACHED) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/**
 * A regular file's bytes (opened O_NOFOLLOW) and its (inode, mtime, size) key, or undefined
 * when it is not one or is larger than `max`; no bytes when `stamp` says the key is known.
 */
async function readRegular(path: string, max: number, stamp?: (key: string) => { hit: boolean }): Promise<{ bytes?: Buffer; key: string } | undefined> {
  let fh;
  try {
    fh = await open(path, READ_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > max) return undefined;
    const key = `${st.ino}:${st.mtimeMs}:${st.size}`;
    if (stamp?.(key).hit) return { key };
    return { bytes: await fh.readFile(), key };
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Whether `<dir>.lock` names a live process. */
async function locked(dir: string): Promise<boolean> {
  const lock = await readRegular(`${dir}${LOCK_SUFFIX}`, 64);
  const pid = lock?.bytes ? lockPid(lock.bytes.toString('latin1')) : undefined;
  return pid !== undefined && isAlive(pid);
}

/** The partial holding of `digest` in `store` alone, or undefined. */
async function partialIn(store: string, digest: Digest): Promise<PartialHolding | undefined> {
  const dir = join(store, partialDirName(digest));
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory() || !(await locked(dir))) return undefined;
  let cacheKey = '';
  const read = await readRegular(join(dir, '.manifest'), MAX_MANIFEST, (key) => {
    cacheKey = `${dir}\0${key}`;
    return { hit: manifests.has(cacheKey) };
  });
  if (!read) return undefined;
  if (!read.bytes) return manifests.get(cacheKey)?.holding;
  let checked: { holding: PartialHolding } | undefined;
  try {
    if (digest.alg !== 'sha1' && sameDigest(manifestDigest(read.bytes, digest.alg), digest)) {
      const entries = parseManifest(read.bytes);
      checked = { holding: { digest, store, dir, manifest: read.bytes, entries, files: planFiles(entries) } };
    }
  } catch {
    checked = undefined;
  }
  remember(manifests, cacheKey, checked);
  return checked?.holding;
}

/**
 * The partial holding of `digest` in the first store that has one, or undefined; also undefined
 * when any store has the digest complete (a complete implementation wins).
 */
export async function findPartial(stores: readonly string[], digest: Digest): Promise<PartialHolding | undefined> {
  if ((await lookupDigest(stores, digest)) !== undefined) return undefined;
  for (const store of stores) {
    const found = await partialIn(store, digest);
    if (found) return found;
  }
  return undefined;
}

/** Whether the file `f` of the tree at `dir` is verified there now (directories on the way checked by `dirOk`). */
async function isVerified(dir: string, f: PlanFile, alg: Digest['alg'], dirOk: (parts: readonly string[]) => Promise<boolean>): Promise<boolean> {
  const path = Buffer.from(f.entry.path).toString('latin1').split('/');
  if (!(await dirOk(path))) return false;
  const p = inTree(dir, f.entry.path);
  const st = await lstat(p).catch(() => undefined);
  if (!st) return false;
  if (f.entry.kind === 'symlink') {
    if (!st.isSymbolicLink() || st.size !== f.entry.size) return false;
    const target = await readlink(p, { encoding: 'buffer' }).catch(() => undefined);
    return target !== undefined && contentHash(target, alg) === f.entry.hash;
  }
  return hasVerifiedMark(f.entry, { isFile: st.isFile(), mode: st.mode, size: st.size, mtimeMs: st.mtimeMs });
}

async function scanVerified(h: PartialHolding): Promise<ReadonlySet<number>> {
  const dirs = new Map<string, Promise<boolean>>();
  /** Every directory on the way is a real directory (lstat'ed once each). */
  const dirOk = async (parts: readonly string[]): Promise<boolean> => {
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      let ok = dirs.get(d);
      if (!ok) {
        ok = lstat(inTree(h.dir, Buffer.from(d, 'latin1'))).then(
          (st) => st.isDirectory(),
          () => false,
        );
        dirs.set(d, ok);
      }
      if (!(await ok)) return false;
    }
    return true;
  };
  const out = new Set<number>();
  for (const f of h.files) if (await isVerified(h.dir, f, h.digest.alg, dirOk)) out.add(f.index);
  return out;
}

/** The indexes (planFiles order) of the files verified in the holding's dir, at most VERIFIED_TTL_MS old. */
export function verifiedFiles(h: PartialHolding, now = performance.now()): Promise<ReadonlySet<number>> {
  const hit = verifiedCache.get(h.dir);
  if (hit && hit.files === h.files && now - hit.at <= VERIFIED_TTL_MS) return hit.set;
  const set = scanVerified(h).catch(() => new Set<number>());
  remember(verifiedCache, h.dir, { at: now, files: h.files, set });
  return set;
}

/** Every partial holding in the stores (each digest once, and none the stores have complete). */
export async function listPartials(stores: readonly string[]): Promise<InFlightView[]> {
  const out: InFlightView[] = [];
  const seen = new Set<string>();
  for (const store of stores) {
    const names = await readdir(store).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const digest = digestOfPartialName(name);
      if (!digest || seen.has(formatDigest(digest))) continue;
      const h = await findPartial(stores, digest);
      if (!h || h.store !== store) continue;
      seen.add(formatDigest(digest));
      out.push({ digest: formatDigest(digest), store, verified: (await verifiedFiles(h)).size, files: h.files.length });
    }
  }
  return out;
}
