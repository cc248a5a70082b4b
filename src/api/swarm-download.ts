// The download port's choice between the two transfer modes. Manifest first: the responder's
// manifest is fetched and its hash compared with the digest before anything else is trusted;
// then the swarm machine gets the files from every peer that offered the digest (the responders
// so far and those that answer meanwhile) into a staging tree, each file hashed as it is written
// or taken; the tree is then checked against the manifest (names, types, modes, sizes, file
// mtimes; no content read again) and handed to commit with the verified manifest. A peer without
// the manifest route, a sha1 digest (old manifest format), or a swarm in which no peer serves
// pieces falls back to the whole tar from the responder, exactly as before the swarm existed.
// Files some local implementation already has (same hash) come from it instead of the network
// (src/io/local-reuse.ts), and empty files are made here (src/io/empty-files.ts): only the rest
// is cut into work units. The responder's `/mtimes` (directories and symlinks, which the manifest
// lacks) is asked for beside the pieces and applied before the final check; a peer without that
// route leaves the fetch's times on them. The staging tree is the digest's resumable partial dir
// (src/io/partial-dir.ts): what an interrupted fetch verified is kept and not fetched again.
// Partial holders (machines still fetching the digest) join the swarm while it runs, each
// machine once however many of its addresses answer (src/api/swarm-sharing.ts). The swarm's
// piece requests reuse their connections (one pool per swarm, closed when it ends).
import { createActor } from 'xstate';
import { formatDigest, hashName, sameDigest, type Digest } from '../core/digest.js';
import { isCanonical } from '../core/manifest-canonical.js';
import { manifestDigest } from '../core/manifest-format.js';
import { ManifestTable } from '../core/manifest-table.js';
import { parseMtimes } from '../core/mtimes-list.js';
import { DEFAULT_LIMITS, planFiles, planUnits, type PlanFile, type PlanFiles } from '../core/swarm-plan.js';
import { LocalFailure } from '../machines/ports.js';
import { provideSwarmPorts, type SwarmOutput, type SwarmTiming, type UnitRequest } from '../machines/swarm.machine.js';
import { peerKey, type DownloadRequest, type Peer, type Staged } from '../machines/types.js';
import { downloadImplementation } from '../io/http-download.js';
import { makeEmptyFiles } from '../io/empty-files.js';
import { getManifest, getMtimes } from '../io/http-manifest.js';
import { ConnectionPool } from '../io/connection-pool.js';
import type { Logger } from '../io/logger.js';
import { buildLocalIndex, reuseLocal, type LocalIndex } from '../io/local-reuse.js';
import { pieceFetcher } from '../io/piece-fetch.js';
import { dropPartialManifest, keepVerified, takePartial, writePartialManifest, type PartialDir } from '../io/partial-dir.js';
import { makeTmpDir, removeTree } from '../io/store-add.js';
import { StagingMismatch } from '../io/staging-check.js';
import { finish, layOut } from '../io/swarm-staging.js';
import { trackTmpDir, untrackTmpDir } from '../io/tmp-registry.js';
import { openPartialState, type PartialState } from '../io/partial-state.js';
import { DEFAULT_MAX_BYTES } from '../io/tar-extract.js';
import { shareInFlight, type SharingTiming } from './swarm-sharing.js';

export interface SwarmDownloadOptions {
  readonly store: string;
  /** Stores whose implementations' files may be reused (linked or copied) instead of downloaded. */
  readonly reuseFrom?: readonly string[];
  readonly maxBytes?: number;
  /** Only the whole tar, from the responder (the 2008 mode). */
  readonly wholeTar?: boolean;
  /** Every peer that offers `digest` (`partial`: it is still fetching it), those heard so far first; returns the unsubscribe function. */
  readonly holders?: (digest: Digest, onPeer: (peer: Peer, partial?: boolean) => void) => () => void;
  /** Sends the query for `digest` again (while its swarm runs, so that partial holders are heard). */
  readonly requery?: (digest: Digest) => void;
  /** The machine a holder's address belongs to, so that a machine is one peer of the swarm (default: each address its own). */
  readonly machineOf?: (peer: Peer) => string;
  readonly timing: SwarmTiming;
  /** How often the query is re-sent and partial holders' /have polled while a swarm runs (none without it). */
  readonly sharing?: SharingTiming;
  /** Seeds the swarm's order of equally rare units; default random, so machines starting at once ask for different ones. */
  readonly seed?: number;
  /** The swarm gave up on a peer (it lied, failed or stalled); the fetch goes on without it. */
  readonly onDropped?: (digest: Digest, peer: Peer, reason: string) => void;
  /** Bytes received so far from each source (peerKey). */
  readonly onSources?: (digest: Digest, bytes: Readonly<Record<string, number>>) => void;
  /** Hears (debug) that a responder has no mtimes route. */
  readonly logger?: Pick<Logger, 'debug'>;
}

/** The transfer's total (its stall timer, the progress bar, per-source counts) at most this often. */
const PROGRESS_INTERVAL_MS = 200;

/** Why the swarm as a whole failed, for the transfer machine's attempt record. */
function swarmReason(out: SwarmOutput): string {
  if (out.starved) return `no peer of the swarm had the files still missing${out.dropped.length ? ` (${out.dropped.map((d) => `${peerKey(d.peer)} ${d.reason}`).join('; ')})` : ''}`;
  if (out.dropped.length === 0) return 'the swarm fetch failed';
  return `every peer of the swarm failed: ${out.dropped.map((d) => `${peerKey(d.peer)} ${d.reason}`).join('; ')}`;
}

/** The source name under which bytes taken from local implementations are counted. */
export const LOCAL_SOURCE = 'local';
/** …and bytes an interrupted fetch had already verified. */
export const RESUMED_SOURCE = 'resumed';

/** The download port: swarm when the responder's manifest checks out, the whole tar otherwise. */
export function swarmOrTar(opts: SwarmDownloadOptions) {
  /** One index of the local stores' files per hash function, built when a swarm first needs it. */
  const indexes = new Map<string, Promise<LocalIndex>>();
  const localIndex = (digest: Digest) => {
    const fn = hashName(digest.alg);
    const hit = indexes.get(fn) ?? buildLocalIndex(opts.reuseFrom ?? [], digest.alg).catch(() => new Map() as LocalIndex);
    indexes.set(fn, hit);
    return hit;
  };
  const whole = (req: DownloadRequest) => downloadImplementation({ ...req, store: opts.store, maxBytes: opts.maxBytes });
  /** Peers each digest's swarms have dropped: a later attempt does not ask them again. */
  const droppedFor = new Map<string, Set<string>>();
  return async (req: DownloadRequest): Promise<Staged> => {
    if (opts.wholeTar || req.digest.alg === 'sha1') return whole(req);
    let table: ManifestTable;
    let manifest: Buffer;
    try {
      const answer = await getManifest(req.peer, req.digest, req.signal, req.onProgress);
      if (!answer.ok) return whole(req);
      manifest = answer.manifest;
    } catch {
      if (req.signal.aborted) throw new Error('aborted');
      return whole(req);
    }
    const actual = manifestDigest(manifest, req.digest.alg);
    if (!sameDigest(actual, req.digest)) {
      throw new Error(`sent data that does not match the digest (what arrived has digest ${formatDigest(actual)}: it was the manifest)`);
    }
    try {
      table = ManifestTable.parse(manifest);
      // The staged tree is checked against these entries and committed with this manifest's own
      // bytes, so it must be the manifest 0install would write for them: its order, no duplicate,
      // every parent listed, no empty, `.` or `..` name (which would lay files out beside the
      // staging tree). The tar's extractor refuses those, and no tree matches such a digest.
      if (!isCanonical(table)) return whole(req);
    } catch {
      return whole(req);
    }
    const key = formatDigest(req.digest);
    const dropped = droppedFor.get(key) ?? new Set<string>();
    droppedFor.set(key, dropped);
    const out = await runSwarm(req, table, manifest, dropped, opts, opts.reuseFrom?.length ? localIndex : undefined);
    if ('staged' in out) return out.staged;
    if (out.unsupported) return whole(req);
    throw out.error;
  };
}

/** The plan's files not in `taken`, each made as it is reached. */
function* notIn(files: PlanFiles, taken: ReadonlySet<number>): Generator<PlanFile> {
  for (let i = 0; i < files.length; i++) if (!taken.has(i)) yield files.get(i);
}

type SwarmResult = { staged: Staged } | { unsupported: true } | { unsupported?: false; error: Error };

/** The responder's directory and symlink mtimes, or undefined (logged) when it has none to give. */
async function mtimesOf(req: DownloadRequest, log?: Pick<Logger, 'debug'>): Promise<Map<string, bigint> | undefined> {
  const why = await getMtimes(req.peer, req.digest, req.signal).then(
    (a) => (a.ok ? parseMtimes(a.body) : `HTTP ${a.status}`),
    (err: Error) => err.message,
  );
  if (typeof why !== 'string') return why;
  log?.debug(`${peerKey(req.peer)} gave no mtimes for ${formatDigest(req.digest)} (${why}): its directories and symlinks keep the fetch's times`);
  return undefined;
}

/** Takes what the local stores have; what it could not take is left to the network. */
async function reuse(tree: string, files: Iterable<PlanFile>, req: DownloadRequest, index?: (d: Digest) => Promise<LocalIndex>) {
  if (!index) return { taken: new Set<number>(), bytes: 0 };
  return reuseLocal(tree, files, await index(req.digest), req.digest.alg).catch(() => ({ taken: new Set<number>(), bytes: 0 }));
}

async function runSwarm(
  req: DownloadRequest,
  table: ManifestTable,
  verifiedManifest: Buffer,
  dropped: Set<string>,
  opts: SwarmDownloadOptions,
  index?: (d: Digest) => Promise<LocalIndex>,
): Promise<SwarmResult> {
  const files = planFiles(table);
  const total = files.contentBytes();
  const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (total > max) return { error: new Error(`offers a tree of ${total} bytes, more than the cap of ${max} bytes`) };
  let tree: string;
  let partial: PartialDir | undefined;
  try {
    partial = await takePartial(opts.store, req.digest).catch(() => undefined);
    tree = partial?.dir ?? (await makeTmpDir(opts.store));
  } catch (err) {
    throw new LocalFailure(`could not create a temp dir in ${opts.store}: ${(err as Error).message}`);
  }
  // A private dir goes on SIGINT; the partial dir stays for the next fetch.
  if (!partial) trackTmpDir(tree);
  const inFlight = new Set<Promise<void>>();
  const pool = new ConnectionPool();
  let unsubscribe = () => {};
  let state: PartialState | undefined;
  let keep = false;
  /** Something in the tree is verified: worth keeping in the partial dir for the next fetch. */
  let verified = false;
  try {
    try {
      await layOut(tree, table);
      // Before any file: with it (and the lock) this machine's peer shares the fetch in flight.
      if (partial) {
        state = openPartialState(tree, files.length);
        await writePartialManifest(tree, verifiedManifest);
      }
    } catch (err) {
      throw new LocalFailure(`could not write it here: ${(err as Error).message}`);
    }
    req.onConnected(total);
    // Asked for beside the pieces; a failure only costs the times.
    const mtimes = mtimesOf(req, opts.logger);
    // A partial dir this fetch created holds nothing to keep; one an earlier fetch left is sorted.
    const resumed = partial && !partial.fresh ? await keepVerified(tree, table, files, req.digest) : { kept: new Set<number>(), bytes: 0 };
    const got = await reuse(tree, notIn(files, resumed.kept), req, index);
    const local = { taken: new Set([...resumed.kept, ...got.taken]), bytes: resumed.bytes + got.bytes };
    // Something kept or taken is worth keeping in the partial dir; empty files (made next, they
    // need no peer) are not: a swarm that falls back to the whole tar leaves no partial dir of them.
    if (local.taken.size) verified = true;
    /** Files this process created verified, through its own descriptors (the final check trusts what it told them). */
    const written = new Uint8Array(files.length);
    try {
      for (const f of await makeEmptyFiles(tree, files, req.digest.alg, local.taken)) {
        local.taken.add(f);
        written[f] = 1;
      }
    } catch (err) {
      throw new LocalFailure(`could not write it here: ${(err as Error).message}`);
    }
    const manifestBytes = verifiedManifest.length;
    const bySource: Record<string, number> = {
      [peerKey(req.peer)]: manifestBytes,
      ...(got.bytes ? { [LOCAL_SOURCE]: got.bytes } : {}),
      ...(resumed.bytes ? { [RESUMED_SOURCE]: resumed.bytes } : {}),
    };
    let received = manifestBytes;
    // Progress counts what is in the tree (local copies too), so the transfer's stall timer and bar see it.
    if (local.bytes) req.onProgress(received + local.bytes);
    let last = 0;
    for (const f of local.taken) state?.verified(f);
    const fetchUnit = pieceFetcher({
      digest: req.digest,
      tree,
      files,
      pool,
      onFile: (file) => {
        written[file] = 1;
        verified = true;
        state?.verified(file);
      },
      onBytes: (peer, n) => {
        bySource[peer] = (bySource[peer] ?? 0) + n;
        received += n;
        const now = performance.now();
        if (now - last >= PROGRESS_INTERVAL_MS) {
          last = now;
          req.onProgress(received + local.bytes);
          opts.onSources?.(req.digest, bySource);
        }
      },
    });
    const tracked = (u: UnitRequest) => {
      const unitFiles = u.unit.pieces.map((x) => x.file);
      state?.fetching(unitFiles, true);
      const p = fetchUnit(u);
      const quiet = p.then(() => undefined, () => undefined);
      void quiet.then(() => state?.fetching(unitFiles, false));
      inFlight.add(quiet);
      void quiet.then(() => inFlight.delete(quiet));
      return p;
    };
    const first = peerKey(req.peer);
    const actor = createActor(provideSwarmPorts({ fetchUnit: tracked }), {
      input: { units: planUnits(files, DEFAULT_LIMITS, 0, (i) => !local.taken.has(i)), peers: [req.peer], timing: opts.timing, seed: opts.seed ?? Math.floor(Math.random() * 2 ** 32) },
    });
    const output = new Promise<SwarmOutput>((resolve, reject) => {
      actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!), error: reject });
    });
    const reported = new Set<string>();
    actor.subscribe((snap) => {
      for (const p of Object.values(snap.context.peers)) {
        const k = peerKey(p.peer);
        if (p.dropped === undefined || reported.has(k) || p.unsupported) continue;
        reported.add(k);
        dropped.add(k);
        opts.onDropped?.(req.digest, p.peer, p.dropped);
      }
    });
    const cancel = () => actor.send({ type: 'CANCEL' });
    req.signal.addEventListener('abort', cancel);
    actor.start();
    unsubscribe = shareInFlight({
      digest: req.digest,
      files: files.length,
      actor,
      skip: (k) => k === first || dropped.has(k),
      holders: opts.holders,
      requery: opts.requery,
      machineOf: opts.machineOf,
      timing: opts.sharing,
    });
    const out = await output;
    req.signal.removeEventListener('abort', cancel);
    unsubscribe();
    await Promise.all(inFlight);
    req.onProgress(received + local.bytes);
    opts.onSources?.(req.digest, bySource);
    if (out.status === 'cancelled' || req.signal.aborted) return { error: new Error('aborted') };
    if (out.status === 'local') throw new LocalFailure(out.localError ?? 'could not write the staging tree');
    if (out.status !== 'done') return out.unsupported ? { unsupported: true } : { error: new Error(swarmReason(out)) };
    try {
      // The check skips the top-level .manifest, so the fetch is shared until it is done; the
      // commit writes .manifest itself (and refuses a tree that has one).
      await finish(tree, table, await mtimes, (f) => written[f] === 1);
      if (partial) await dropPartialManifest(tree);
    } catch (err) {
      if (err instanceof StagingMismatch) throw new LocalFailure(`the staging tree ${tree} changed after its files were verified: ${err.message}`);
      throw new LocalFailure(`could not finish the staging tree ${tree}: ${(err as Error).message}`);
    }
    // The lock stays until the commit has renamed the tree (client-ports: releasePartial).
    keep = true;
    return { staged: { tmpDir: tree, manifest: verifiedManifest, bytes: received, sources: { ...bySource } } };
  } catch (err) {
    // A local failure (a full disk) is not an interruption: the tree goes, and its space with it.
    if (err instanceof LocalFailure) verified = false;
    throw err;
  } finally {
    unsubscribe();
    state?.close();
    pool.close();
    if (!keep) {
      await Promise.all(inFlight);
      if (partial && verified) await partial.release();
      else {
        await removeTree(tree).catch(() => undefined);
        untrackTmpDir(tree);
        await partial?.release();
      }
    }
  }
}
