// The peer's view of fetches in flight on its machine (docs/protocol.md, "In flight"): a store
// holds a digest partially when `tmp-partial-<digest>/` is a real directory, its lock names a
// live process, and its `.manifest` (a regular file, never followed as a symlink) hashes to the
// digest. The manifest is hashed once per (path, inode, mtime, size) and the result cached; which
// files are verified (the mark of src/core/partial-holder.ts, or a symlink whose target hashes
// right, under real directories only), and which are being written (a regular file without the
// mark: the fetch is getting it now), is cached for VERIFIED_TTL_MS. Everything here only reads,
// and copes with the dir being renamed (the commit) or removed at any moment: it is then simply
// not a partial holder any more. The reads are synchronous (a few system calls on local files per
// query or request, each cheaper than the promise and thread-pool round trip of its asynchronous
// form, which cost a peer serving 8 fetching machines as much CPU as the pieces it sent); a scan
// of a whole tree yields to the event loop between time slices.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { type Digest, formatDigest, sameDigest } from '../core/digest.js';
import { contentHash, manifestDigest } from '../core/manifest-format.js';
import { ManifestTable } from '../core/manifest-table.js';
import { decodeHave, haveBytes } from '../core/have-bitmap.js';
import { digestOfPartialName, hasVerifiedMark, LOCK_SUFFIX, lockPid, partialDirName, STATE_SUFFIX } from '../core/partial-holder.js';
import type { InFlightView } from '../core/status-page.js';
import { type PlanFile, type PlanFiles, planFiles } from '../core/swarm-plan.js';
import { isAlive } from './partial-dir.js';
import { realDirs } from './real-dirs.js';
import { lookupDigest } from './stores.js';
import { inTree } from './swarm-staging.js';
import { timeSlicer } from './time-slice.js';

/** A partial dir whose manifest checked out. */
export interface PartialHolding {
  readonly digest: Digest;
  readonly store: string;
  readonly dir: string;
  /** The `.manifest` bytes, whose hash is the digest. */
  readonly manifest: Buffer;
  readonly files: PlanFiles;
}

/** How long a partial dir's set of verified files is reused (the protocol allows 200 ms). */
export const VERIFIED_TTL_MS = 200;
/** A .manifest larger than this is not read. */
const MAX_MANIFEST = 64 * 1024 * 1024;
const CACHED = 32;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** findPartial's answers, by digest and stores, reused for VERIFIED_TTL_MS (every query and request asks). */
const found = new Map<string, { at: number; holding: Promise<PartialHolding | undefined> }>();
/** Checked manifests by (dir, inode, mtime, size): the holding, or undefined for a bad one. */
const manifests = new Map<string, { holding: PartialHolding } | undefined>();
const verifiedCache = new Map<string, { at: number; files: PlanFiles; states: Promise<FileStates> }>();

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= CACHED) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/**
 * A regular file's bytes (opened O_NOFOLLOW) and its (inode, mtime, size) key, or undefined
 * when it is not one or is larger than `max`; no bytes when `stamp` says the key is known.
 */
function readRegular(path: string, max: number, stamp?: (key: string) => { hit: boolean }): { bytes?: Buffer; key: string } | undefined {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > max) return undefined;
    const key = `${st.ino}:${st.mtimeMs}:${st.size}`;
    if (stamp?.(key).hit) return { key };
    const bytes = Buffer.allocUnsafe(st.size);
    let n = 0;
    for (let got = 1; n < st.size && got > 0; n += got) got = readSync(fd, bytes, n, st.size - n, n);
    return { bytes: bytes.subarray(0, n), key };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const lstatOrUndefined = (path: string | Buffer) => lstatSync(path, { throwIfNoEntry: false });

/** Whether `<dir>.lock` names a live process. */
function locked(dir: string): boolean {
  const lock = readRegular(`${dir}${LOCK_SUFFIX}`, 64);
  const pid = lock?.bytes ? lockPid(lock.bytes.toString('latin1')) : undefined;
  return pid !== undefined && isAlive(pid);
}

/** The partial holding of `digest` in `store` alone, or undefined. */
function partialIn(store: string, digest: Digest): PartialHolding | undefined {
  const dir = join(store, partialDirName(digest));
  let st;
  try {
    st = lstatOrUndefined(dir);
  } catch {
    return undefined;
  }
  if (!st?.isDirectory() || !locked(dir)) return undefined;
  let cacheKey = '';
  const read = readRegular(join(dir, '.manifest'), MAX_MANIFEST, (key) => {
    cacheKey = `${dir}\0${key}`;
    return { hit: manifests.has(cacheKey) };
  });
  if (!read) return undefined;
  if (!read.bytes) return manifests.get(cacheKey)?.holding;
  let checked: { holding: PartialHolding } | undefined;
  try {
    if (digest.alg !== 'sha1' && sameDigest(manifestDigest(read.bytes, digest.alg), digest)) {
      checked = { holding: { digest, store, dir, manifest: read.bytes, files: planFiles(ManifestTable.parse(read.bytes)) } };
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
export function findPartial(stores: readonly string[], digest: Digest, now = performance.now()): Promise<PartialHolding | undefined> {
  const key = `${formatDigest(digest)}\0${stores.join('\0')}`;
  const hit = found.get(key);
  if (hit && now >= hit.at && now - hit.at <= VERIFIED_TTL_MS) return hit.holding;
  const holding = (async () => {
    if ((await lookupDigest(stores, digest)) !== undefined) return undefined;
    for (const store of stores) {
      const h = partialIn(store, digest);
      if (h) return h;
    }
    return undefined;
  })();
  remember(found, key, { at: now, holding });
  return holding;
}

/** What a partial holder's dir says of its files: verified, and being written (its fetch is getting them now). */
export interface FileStates {
  readonly verified: ReadonlySet<number>;
  readonly fetching: ReadonlySet<number>;
}

/** Where the file `f` of the tree at `dir` stands now (the directories on its way already checked). */
function stateOf(dir: string, f: PlanFile, alg: Digest['alg']): 'verified' | 'fetching' | undefined {
  const p = inTree(dir, f.entry.path);
  try {
    const st = lstatOrUndefined(p);
    if (!st) return undefined;
    if (f.entry.kind === 'symlink') {
      if (!st.isSymbolicLink() || st.size !== f.entry.size) return undefined;
      return contentHash(readlinkSync(p, { encoding: 'buffer' }), alg) === f.entry.hash ? 'verified' : undefined;
    }
    if (hasVerifiedMark(f.entry, { isFile: st.isFile(), mode: st.mode, size: st.size, mtimeMs: st.mtimeMs })) return 'verified';
    return st.isFile() ? 'fetching' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Scans the holding's files. A file once verified stays so (the fetch never touches it again,
 * and the piece route opens it O_NOFOLLOW and checks its size), so it is not lstat'ed again;
 * the directories on every file's way are checked on every scan (lstat'ed once each).
 */
async function scanFiles(h: PartialHolding, known: ReadonlySet<number>): Promise<FileStates> {
  const notDirAt = realDirs(h.dir);
  const slicer = timeSlicer();
  const verified = new Set<number>();
  const fetching = new Set<number>();
  for (const f of h.files) {
    if ((f.index & 63) === 0) await slicer.pause();
    if (notDirAt(f.entry.path) >= 0) continue;
    const state = known.has(f.index) ? 'verified' : stateOf(h.dir, f, h.digest.alg);
    if (state === 'verified') verified.add(f.index);
    else if (state === 'fetching') fetching.add(f.index);
  }
  const states = { verified, fetching };
  scanned.add(states);
  return states;
}

/** States that a scan found (not a state file's word): the next scan takes their verified files as known. */
const scanned = new WeakSet<FileStates>();

const NONE: FileStates = { verified: new Set(), fetching: new Set() };

/** What the fetch says in its state file (`<dir>.have`), or undefined when there is none of the right size. */
function statedFiles(h: PartialHolding): FileStates | undefined {
  const n = haveBytes(h.files.length);
  const read = readRegular(`${h.dir}${STATE_SUFFIX}`, 2 * n);
  if (read?.bytes?.length !== 2 * n) return undefined;
  const verified = decodeHave(read.bytes.subarray(0, n), h.files.length);
  const fetching = decodeHave(read.bytes.subarray(n), h.files.length);
  return verified instanceof Error || fetching instanceof Error ? undefined : { verified, fetching };
}

/**
 * The states (planFiles indexes) of the files in the holding's dir, at most VERIFIED_TTL_MS old:
 * as its fetch's state file says (one small read), or else from a scan of the dir (a fetch that
 * writes none). Advice for `/have`: the piece route checks each file it serves (`verifiedAmong`).
 */
export function fileStates(h: PartialHolding, now = performance.now()): Promise<FileStates> {
  const hit = verifiedCache.get(h.dir);
  const same = hit?.files === h.files;
  if (hit && same && now >= hit.at && now - hit.at <= VERIFIED_TTL_MS) return hit.states;
  const before = same ? hit.states : Promise.resolve(NONE);
  const states = (async () => {
    const stated = statedFiles(h);
    if (stated) return stated;
    const prev = await before;
    return scanFiles(h, scanned.has(prev) ? prev.verified : new Set());
  })().catch(() => NONE);
  remember(verifiedCache, h.dir, { at: now, files: h.files, states });
  return states;
}

/** The indexes (planFiles order) of the files verified in the holding's dir, at most VERIFIED_TTL_MS old. */
export async function verifiedFiles(h: PartialHolding, now = performance.now()): Promise<ReadonlySet<number>> {
  return (await fileStates(h, now)).verified;
}

/** Which of `indexes` bear the verified mark in the holding's dir now, under real directories only. */
export async function verifiedAmong(h: PartialHolding, indexes: readonly number[]): Promise<ReadonlySet<number>> {
  const notDirAt = realDirs(h.dir);
  const slicer = timeSlicer();
  const out = new Set<number>();
  for (const i of indexes) {
    if (slicer.due()) await slicer.pause();
    const f = i < h.files.length ? h.files.get(i) : undefined;
    if (f && notDirAt(f.entry.path) < 0 && stateOf(h.dir, f, h.digest.alg) === 'verified') out.add(i);
  }
  return out;
}

/** Every partial holding in the stores (each digest once, and none the stores have complete). */
export async function listPartials(stores: readonly string[]): Promise<InFlightView[]> {
  const out: InFlightView[] = [];
  const seen = new Set<string>();
  for (const store of stores) {
    let names: string[];
    try {
      names = readdirSync(store);
    } catch {
      names = [];
    }
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
