// The swarm scheduler for one digest whose manifest is already verified: hands work units (batches
// of small files, ranges of large ones) to every peer that has the digest, a few at a time per
// peer, and ends when every unit is in. A peer that finishes a unit gets the next one, so fast
// peers do more of the work; the next free peer is the one with the best rate so far. A peer is
// dropped when it fails, stalls (less than `minProgress` bytes in `stallTimeout`) or lies (a file
// whose hash is not the manifest's); its unit goes back to the queue, minus the files it already
// delivered intact. A busy peer (HTTP 503) with none of this client's units in flight rests for
// `busyPause` and is asked again; one that still has some (the 503 marks this client's fair share
// of its upload slots) is given no more than those until one ends, then one more each time a unit
// ends, up to `perPeer`. A large file assembled from ranges of several peers that does not match is
// fetched again whole, from one peer, so that a liar among them is caught alone.
//
// Partial holders (machines still fetching the digest themselves) join as peers with an
// availability: the plan files they have verified, from their HAVE events. A unit goes only to a
// peer that has all of its files; a unit some partial holder has is left to partial holders (so the
// seed is offloaded); among the rest, the complete holders take the rarest first (fewest known
// holders), ties in the fetch's own random order (`seed`), so machines that start at once ask the
// seed for different units; and a unit some partial holder is fetching now (its HAVE says so) is
// not asked of a complete holder while anything else is in flight: it will come from that partial
// holder, and the seed's uplink goes to files nobody has or is getting yet. A partial holder that
// answers 'missing' (HTTP 409), or 404 (it has just committed the digest, so its partial tree is
// gone), keeps its place, but is not asked for those files again until its next HAVE. If no peer
// can take any queued unit and nothing is in flight for `stallTimeout`, the swarm fails.
//
// No I/O: the fetcher actor (built from `SwarmPorts.fetchUnit`) carries out START/STOP and reports
// UNIT_* events; time passes only through the named `tick` delay.
import { assign, enqueueActions, fromCallback, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { unitBytes, type SwarmUnit } from '../core/swarm-plan.js';
import { errorMessage, isLocalFailure } from './ports.js';
import { peerKey, type Peer } from './types.js';

/**
 * How a unit failed: the peer's fault, a busy peer, a peer that does not serve pieces, a lie, a
 * mixed-source file that did not match, or a partial holder that does not have its files yet (409).
 */
export type UnitFault = 'failed' | 'busy' | 'unsupported' | 'lied' | 'mixed' | 'missing';

/** A fetchUnit port rejects with this (anything else counts as 'failed'; LocalFailure as local). */
export class UnitFailure extends Error {
  override name = 'UnitFailure';
  constructor(
    message: string,
    readonly fault: UnitFault,
    /** Files of the unit that arrived intact before it failed. */
    readonly done: readonly number[] = [],
    /** For 'mixed' and 'lied' on a range: the file that did not match. */
    readonly file?: number,
  ) {
    super(message);
  }
}

export interface UnitRequest {
  readonly unit: SwarmUnit;
  readonly peer: Peer;
  readonly signal: AbortSignal;
  /** Bytes of this unit received so far. */
  readonly onProgress: (bytes: number) => void;
}

export interface SwarmPorts {
  /** Gets one unit from one peer, checking each file as it completes; rejects with UnitFailure. */
  readonly fetchUnit: (req: UnitRequest) => Promise<void>;
}

export interface SwarmTiming {
  /** ms between scheduler ticks (stall checks, busy peers coming back). */
  readonly tick: number;
  readonly stallTimeout: number;
  readonly minProgress: number;
  /** ms a busy peer rests before it is asked again. */
  readonly busyPause: number;
  /** Units in flight per peer. */
  readonly perPeer: number;
}

export interface SwarmInput {
  readonly units: readonly SwarmUnit[];
  /** Complete holders to start with. */
  readonly peers: readonly Peer[];
  readonly timing: SwarmTiming;
  /** Seeds the fetch's random order of equally rare units (tests pass a fixed one). */
  readonly seed?: number;
}

export type SwarmEvent =
  /** A holder of the digest: complete, or `partial` (its files are known from its HAVE events). */
  | { type: 'PEER'; peer: Peer; partial?: boolean }
  /** The plan files a partial holder has verified, and those it is fetching now, as it last said. */
  | { type: 'HAVE'; peer: Peer; files: readonly number[]; fetching?: readonly number[] }
  | { type: 'UNIT_PROGRESS'; unit: number; bytes: number }
  | { type: 'UNIT_DONE'; unit: number }
  | { type: 'UNIT_FAILED'; unit: number; fault: UnitFault; reason: string; done: readonly number[]; file?: number }
  | { type: 'LOCAL_FAILED'; reason: string }
  | { type: 'CANCEL' };

export interface UnitState {
  readonly unit: SwarmUnit;
  readonly status: 'queued' | 'active' | 'done';
  readonly peer?: string;
  /** Bytes received for the current attempt, and at the last stall check (with its time). */
  readonly got: number;
  readonly mark: number;
  readonly since: number;
}

export interface PeerState {
  readonly peer: Peer;
  readonly active: number;
  /** Bytes received from it. */
  readonly bytes: number;
  /** ms spent with at least one of its units in flight, for its rate. */
  readonly busyMs: number;
  readonly restUntil: number;
  /** Units it may have in flight, when lower than `perPeer`: it answered 503 past that many (its fair share). */
  readonly cap?: number;
  readonly dropped?: string;
  readonly unsupported?: boolean;
  /** The plan files it has: undefined for a complete holder. */
  readonly has?: ReadonlySet<number>;
  /** The plan files a partial holder is fetching now (it will have them soon). */
  readonly fetching?: ReadonlySet<number>;
  /** Files it answered 'missing' for since its last HAVE: not asked for again until then. */
  readonly lacks: ReadonlySet<number>;
}

/** What the machine tells its fetcher. */
type FetcherCommand = { type: 'START'; assignments: readonly Assignment[] } | { type: 'STOP'; units: readonly number[] };

interface Assignment {
  readonly unit: SwarmUnit;
  readonly peer: Peer;
}

export interface SwarmContext {
  readonly timing: SwarmTiming;
  readonly units: Readonly<Record<number, UnitState>>;
  readonly order: readonly number[];
  readonly peers: Readonly<Record<string, PeerState>>;
  readonly nextId: number;
  readonly now: number;
  readonly received: number;
  readonly toStart: readonly Assignment[];
  readonly toStop: readonly number[];
  readonly localError?: string;
  readonly status?: SwarmStatus;
  readonly seed: number;
  /** Since when no peer could take any queued unit, with nothing in flight. */
  readonly starvedSince?: number;
  /** …for `stallTimeout`: the swarm fails. */
  readonly starved?: boolean;
}

export type SwarmStatus = 'done' | 'failed' | 'cancelled' | 'local';

export interface SwarmOutput {
  readonly status: SwarmStatus;
  /** Bytes received, by peerKey. */
  readonly bytesByPeer: Readonly<Record<string, number>>;
  readonly received: number;
  /** Peers dropped, and why. */
  readonly dropped: readonly { peer: Peer; reason: string }[];
  /** Every peer was dropped for not serving pieces, before any piece arrived: fetch the whole tar instead. */
  readonly unsupported: boolean;
  /** No peer had the files still missing, for `stallTimeout`. */
  readonly starved: boolean;
  readonly localError?: string;
}

export function swarmActors(ports: SwarmPorts) {
  return {
    fetcher: fromCallback<FetcherCommand>(
      ({ sendBack: send, receive }) => {
        const sendBack = (e: SwarmEvent) => send(e);
        const running = new Map<number, AbortController>();
        receive((cmd) => {
          if (cmd.type === 'STOP') {
            for (const id of cmd.units) running.get(id)?.abort();
            return;
          }
          for (const { unit, peer } of cmd.assignments) {
            const ac = new AbortController();
            running.set(unit.id, ac);
            let last = 0;
            ports
              .fetchUnit({
                unit,
                peer,
                signal: ac.signal,
                onProgress: (bytes) => {
                  if (ac.signal.aborted || bytes === last) return;
                  last = bytes;
                  sendBack({ type: 'UNIT_PROGRESS', unit: unit.id, bytes });
                },
              })
              .then(
                () => {
                  if (running.get(unit.id) === ac) running.delete(unit.id);
                  if (!ac.signal.aborted) sendBack({ type: 'UNIT_DONE', unit: unit.id });
                },
                (err: unknown) => {
                  if (running.get(unit.id) === ac) running.delete(unit.id);
                  if (ac.signal.aborted) return;
                  if (isLocalFailure(err)) return sendBack({ type: 'LOCAL_FAILED', reason: errorMessage(err) });
                  const f = err instanceof UnitFailure ? err : undefined;
                  sendBack({ type: 'UNIT_FAILED', unit: unit.id, fault: f?.fault ?? 'failed', reason: errorMessage(err), done: f?.done ?? [], file: f?.file });
                },
              );
          }
        });
        return () => {
          for (const ac of running.values()) ac.abort();
        };
      },
    ),
  };
}

const notProvided: SwarmPorts = { fetchUnit: () => Promise.reject(new Error("0share: the 'fetchUnit' port was not provided to the machine")) };

const usable = (p: PeerState) => p.dropped === undefined;

const newPeer = (peer: Peer, partial?: boolean): PeerState => ({
  peer,
  active: 0,
  bytes: 0,
  busyMs: 0,
  restUntil: 0,
  lacks: new Set(),
  ...(partial ? { has: new Set<number>() } : {}),
});

/** A unit's files, worked out once per unit (scheduling asks for them on every event). */
const unitFiles = new WeakMap<SwarmUnit, readonly number[]>();
function filesOf(u: SwarmUnit): readonly number[] {
  let files = unitFiles.get(u);
  if (!files) unitFiles.set(u, (files = u.pieces.map((p) => p.file)));
  return files;
}

/** Whether `p` has every one of `files` (as far as it has told); a complete holder lacking nothing has them all. */
const canTake = (p: PeerState, files: readonly number[]) =>
  (p.has === undefined && p.lacks.size === 0) || files.every((f) => !p.lacks.has(f) && (p.has === undefined || p.has.has(f)));

/** A file's place among equally rare units: a hash of the fetch's seed and the file's index. */
export function tieRank(seed: number, id: number): number {
  let x = (seed ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Peers that may get a unit now: partial holders first, then best rate first (a peer not yet measured counts as fastest). */
function readyPeers(c: SwarmContext): PeerState[] {
  const rate = (p: PeerState) => (p.busyMs > 0 ? p.bytes / p.busyMs : Infinity);
  const partial = (p: PeerState) => (p.has === undefined ? 1 : 0);
  return Object.values(c.peers)
    .filter((p) => usable(p) && p.restUntil <= c.now && p.active < (p.cap ?? c.timing.perPeer))
    .sort((a, b) => partial(a) - partial(b) || rate(b) - rate(a));
}

interface QueuedUnit {
  readonly id: number;
  readonly files: readonly number[];
  /** Its place in the random order: its first file, so that the ranges of one file stay together. */
  readonly key: number;
  /** How many usable peers could take it. */
  readonly holders: number;
  /** Some usable partial holder could: it is theirs, not a complete holder's. */
  readonly partial: boolean;
  /** Some usable partial holder is fetching one of its files: it will have it soon. */
  readonly coming: boolean;
}

/**
 * The queued units, rarest first, ties in the fetch's random order of files (a large file's
 * ranges one after another), so that a machine completes whole files early: a partial holder
 * can share a file only once all of it is verified.
 */
function queuedUnits(c: SwarmContext): QueuedUnit[] {
  const live = Object.values(c.peers).filter(usable);
  return c.order
    .filter((id) => c.units[id]!.status === 'queued')
    .map((id) => {
      const files = filesOf(c.units[id]!.unit);
      const takers = live.filter((p) => canTake(p, files));
      const partial = takers.some((p) => p.has !== undefined);
      const coming = !partial && live.some((p) => p.fetching !== undefined && files.some((f) => p.fetching!.has(f)));
      return { id, key: files[0] ?? -1, files, holders: takers.length, partial, coming };
    })
    .sort((a, b) => a.holders - b.holders || tieRank(c.seed, a.key) - tieRank(c.seed, b.key) || a.id - b.id);
}

/**
 * Hands queued units to free peers that have their files, one at a time round the peers, so load
 * spreads. A complete holder is not asked for a unit a partial holder has, nor (while anything
 * else is in flight) for one a partial holder is fetching now: machines that start at once then
 * take different files from the seed, and the rest from each other.
 */
function schedule(c: SwarmContext): Partial<SwarmContext> {
  const queue = queuedUnits(c);
  if (queue.length === 0) return {};
  const units = { ...c.units };
  const peers = { ...c.peers };
  const starts: Assignment[] = [...c.toStart];
  const taken = new Set<number>();
  let active = c.order.filter((id) => c.units[id]!.status === 'active').length;
  const forComplete = (u: QueuedUnit) => !u.partial && (!u.coming || active === 0);
  for (let progress = true; progress && taken.size < queue.length; ) {
    progress = false;
    for (const p of readyPeers({ ...c, peers })) {
      const q = queue.find((u) => !taken.has(u.id) && (p.has !== undefined || forComplete(u)) && canTake(p, u.files));
      if (!q) continue;
      taken.add(q.id);
      const key = peerKey(p.peer);
      units[q.id] = { ...units[q.id]!, status: 'active', peer: key, got: 0, mark: 0, since: c.now };
      peers[key] = { ...p, active: p.active + 1 };
      starts.push({ unit: units[q.id]!.unit, peer: p.peer });
      active++;
      progress = true;
    }
  }
  return { units, peers, toStart: starts };
}

/** Queued units but nothing in flight, and no usable peer has the files of any of them. */
function stuck(c: SwarmContext): boolean {
  const queue = c.order.filter((id) => c.units[id]!.status === 'queued');
  if (queue.length === 0 || c.order.some((id) => c.units[id]!.status === 'active')) return false;
  const live = Object.values(c.peers).filter(usable);
  return !queue.some((id) => live.some((p) => canTake(p, filesOf(c.units[id]!.unit))));
}

/** A peer is done for: its units go back to the queue. */
function drop(c: SwarmContext, key: string, reason: string, unsupported = false): Partial<SwarmContext> {
  const p = c.peers[key];
  if (!p || p.dropped !== undefined) return {};
  const units = { ...c.units };
  const stop: number[] = [...c.toStop];
  for (const id of c.order) {
    const u = units[id]!;
    if (u.status === 'active' && u.peer === key) {
      units[id] = { ...u, status: 'queued', peer: undefined, got: 0, mark: 0 };
      stop.push(id);
    }
  }
  return { units, toStop: stop, peers: { ...c.peers, [key]: { ...p, active: 0, dropped: reason, unsupported } } };
}

/** The unit's attempt ended: its peer has a free slot again. */
function release(c: SwarmContext, id: number): { units: Record<number, UnitState>; peers: Record<string, PeerState>; key?: string } {
  const u = c.units[id]!;
  const peers = { ...c.peers };
  const p = u.peer ? peers[u.peer] : undefined;
  if (u.peer && p) peers[u.peer] = { ...p, active: Math.max(0, p.active - 1) };
  return { units: { ...c.units }, peers, key: u.peer };
}

function onFailed(c: SwarmContext, e: Extract<SwarmEvent, { type: 'UNIT_FAILED' }>): Partial<SwarmContext> {
  const u = c.units[e.unit];
  if (!u || u.status !== 'active') return {};
  const { units, peers, key } = release(c, e.unit);
  const done = new Set(e.done);
  let order = c.order;
  let nextId = c.nextId;
  const rest = u.unit.pieces.filter((p) => !done.has(p.file));
  units[e.unit] = { ...u, status: 'queued', peer: undefined, got: 0, mark: 0, unit: { ...u.unit, pieces: rest, bytes: unitBytes(rest) } };
  if (rest.length === 0) units[e.unit] = { ...units[e.unit]!, status: 'done' };
  if ((e.fault === 'mixed' || e.fault === 'lied') && e.file !== undefined && u.unit.rangeOf === e.file) {
    // The file's ranges are all fetched again as one unit, from one peer.
    const ranges = c.order.filter((id) => units[id]!.unit.rangeOf === e.file);
    const pieces = ranges.map((id) => units[id]!.unit.pieces).flat().sort((a, b) => a.offset - b.offset);
    for (const id of ranges) units[id] = { ...units[id]!, status: 'done' };
    units[nextId] = { unit: { id: nextId, pieces, bytes: unitBytes(pieces) }, status: 'queued', got: 0, mark: 0, since: c.now };
    order = [...order, nextId];
    nextId++;
  }
  const next: SwarmContext = { ...c, units, peers, order, nextId };
  if (!key) return next;
  if (e.fault === 'mixed') return next;
  // A partial holder that says it has not the files (409), or has no partial tree any more (a 404:
  // it has just committed the digest, and its next answer says it is complete), is not dropped.
  if (e.fault === 'missing' || (e.fault === 'unsupported' && peers[key]!.has !== undefined)) {
    const p = peers[key]!;
    return { ...next, peers: { ...peers, [key]: { ...p, lacks: new Set([...p.lacks, ...rest.map((x) => x.file)]) } } };
  }
  if (e.fault === 'busy') {
    // With others of its units still in flight, the answer says where its share for this client
    // ends: no more than those until one ends. With none, it is busy with others: it rests.
    const p = peers[key]!;
    const busy = p.active > 0 ? { ...p, cap: p.active } : { ...p, cap: 1, restUntil: c.now + c.timing.busyPause };
    return { ...next, peers: { ...peers, [key]: busy } };
  }
  const why = e.fault === 'lied' ? `sent data that does not match the manifest: ${e.reason}` : e.reason;
  return { ...next, ...drop(next, key, why, e.fault === 'unsupported') };
}

function onTick(c: SwarmContext): Partial<SwarmContext> {
  const now = c.now + c.timing.tick;
  let next: SwarmContext = { ...c, now };
  const peers = { ...next.peers };
  for (const [k, p] of Object.entries(peers)) if (p.active > 0) peers[k] = { ...p, busyMs: p.busyMs + c.timing.tick };
  next = { ...next, peers };
  for (const id of c.order) {
    const u = next.units[id]!;
    if (u.status !== 'active') continue;
    if (u.got - u.mark >= c.timing.minProgress) {
      next = { ...next, units: { ...next.units, [id]: { ...u, mark: u.got, since: now } } };
    } else if (now - u.since >= c.timing.stallTimeout && u.peer) {
      const reason =
        u.got === u.mark
          ? `stalled: no data for ${c.timing.stallTimeout} ms`
          : `stalled: less than ${c.timing.minProgress} bytes in ${c.timing.stallTimeout} ms`;
      next = { ...next, ...drop(next, u.peer, reason) };
    }
  }
  if (!stuck(next)) return { ...next, starvedSince: undefined };
  const since = next.starvedSince ?? now;
  return { ...next, starvedSince: since, starved: now - since >= c.timing.stallTimeout };
}

const allDone = (c: SwarmContext) => c.order.every((id) => c.units[id]!.status === 'done');
/** Every complete holder was dropped for not serving pieces, before any piece arrived. */
function unsupported(c: SwarmContext): boolean {
  const complete = Object.values(c.peers).filter((p) => p.has === undefined);
  return complete.length > 0 && complete.every((p) => p.unsupported) && c.received === 0;
}
const hopeless = (c: SwarmContext) => !allDone(c) && (!Object.values(c.peers).some(usable) || c.starved === true || unsupported(c));

export const swarmMachine = setup({
  types: {
    context: {} as SwarmContext,
    input: {} as SwarmInput,
    events: {} as SwarmEvent,
    output: {} as SwarmOutput,
  },
  actors: swarmActors(notProvided),
  delays: { tick: ({ context }) => context.timing.tick },
  guards: {
    allDone: ({ context }) => allDone(context),
    hopeless: ({ context }) => hopeless(context),
  },
  actions: {
    // Starts what `schedule` assigned and stops what was taken back, then forgets both lists.
    dispatch: enqueueActions(({ context, enqueue }) => {
      const c = { ...context, ...schedule(context) };
      if (c.toStop.length) enqueue.sendTo('fetcher', { type: 'STOP', units: c.toStop });
      if (c.toStart.length) enqueue.sendTo('fetcher', { type: 'START', assignments: c.toStart });
      enqueue.assign({ ...c, toStart: [], toStop: [] });
    }),
  },
}).createMachine({
  id: 'swarm',
  context: ({ input }) => {
    const units: Record<number, UnitState> = {};
    for (const u of input.units) units[u.id] = { unit: u, status: u.pieces.length ? 'queued' : 'done', got: 0, mark: 0, since: 0 };
    const peers: Record<string, PeerState> = {};
    for (const p of input.peers) peers[peerKey(p)] = newPeer(p);
    const nextId = input.units.reduce((n, u) => Math.max(n, u.id + 1), 0);
    return { timing: input.timing, units, order: input.units.map((u) => u.id), peers, nextId, now: 0, received: 0, toStart: [], toStop: [], seed: input.seed ?? 0 };
  },
  on: { CANCEL: { target: '.cancelled' } },
  initial: 'fetching',
  states: {
    fetching: {
      invoke: { id: 'fetcher', src: 'fetcher' },
      always: [
        { guard: 'allDone', target: 'done' },
        { guard: 'hopeless', target: 'failed' },
      ],
      on: {
        PEER: {
          // A new peer, or a partial holder that has become complete (it committed the digest).
          guard: ({ context, event }) => {
            const p = context.peers[peerKey(event.peer)];
            return p === undefined || (p.dropped === undefined && p.has !== undefined && !event.partial);
          },
          actions: [
            assign(({ context, event }) => {
              const key = peerKey(event.peer);
              const p = context.peers[key];
              return { peers: { ...context.peers, [key]: p ? { ...p, has: undefined, fetching: undefined, lacks: new Set<number>() } : newPeer(event.peer, event.partial) } };
            }),
            'dispatch',
          ],
        },
        HAVE: {
          guard: ({ context, event }) => {
            const p = context.peers[peerKey(event.peer)];
            return p !== undefined && p.dropped === undefined && p.has !== undefined;
          },
          actions: [
            assign(({ context, event }) => {
              const key = peerKey(event.peer);
              const fetching = new Set(event.fetching ?? []);
              return { peers: { ...context.peers, [key]: { ...context.peers[key]!, has: new Set(event.files), fetching, lacks: new Set<number>() } } };
            }),
            'dispatch',
          ],
        },
        UNIT_PROGRESS: {
          actions: assign(({ context, event }) => {
            const u = context.units[event.unit];
            if (!u || u.status !== 'active' || !u.peer) return {};
            const delta = Math.max(0, event.bytes - u.got);
            const p = context.peers[u.peer]!;
            return {
              received: context.received + delta,
              units: { ...context.units, [event.unit]: { ...u, got: event.bytes } },
              peers: { ...context.peers, [u.peer]: { ...p, bytes: p.bytes + delta } },
            };
          }),
        },
        UNIT_DONE: {
          actions: [
            assign(({ context, event }) => {
              const u = context.units[event.unit];
              if (!u || u.status !== 'active') return {};
              const { units, peers, key } = release(context, event.unit);
              units[event.unit] = { ...u, status: 'done' };
              // A peer that capped this client at a share gets one more unit to try again.
              const p = key ? peers[key] : undefined;
              if (key && p?.cap !== undefined) peers[key] = { ...p, cap: p.cap + 1 < context.timing.perPeer ? p.cap + 1 : undefined };
              return { units, peers };
            }),
            'dispatch',
          ],
        },
        UNIT_FAILED: { actions: [assign(({ context, event }) => onFailed(context, event)), 'dispatch'] },
        LOCAL_FAILED: { target: 'local', actions: assign({ localError: ({ event }) => event.reason }) },
      },
      initial: 'running',
      states: {
        // Entered once the fetcher runs, and again on every tick (which first checks for stalls).
        running: {
          entry: 'dispatch',
          after: { tick: { target: 'running', reenter: true, actions: assign(({ context }) => onTick(context)) } },
        },
      },
    },
    done: { type: 'final', entry: assign({ status: 'done' as const }) },
    failed: { type: 'final', entry: assign({ status: 'failed' as const }) },
    local: { type: 'final', entry: assign({ status: 'local' as const }) },
    cancelled: { type: 'final', entry: assign({ status: 'cancelled' as const }) },
  },
  output: ({ context }) => {
    const peers = Object.values(context.peers);
    const dropped = peers.filter((p) => p.dropped !== undefined).map((p) => ({ peer: p.peer, reason: p.dropped! }));
    return {
      status: context.status ?? 'failed',
      bytesByPeer: Object.fromEntries(peers.map((p) => [peerKey(p.peer), p.bytes])),
      received: context.received,
      dropped,
      unsupported: unsupported(context),
      starved: context.starved === true,
      localError: context.localError,
    };
  },
});

/** `swarmMachine` wired to a real (or fake) fetcher. */
export function provideSwarmPorts(ports: SwarmPorts) {
  return swarmMachine.provide({ actors: swarmActors(ports) });
}

export type SwarmMachine = typeof swarmMachine;
export type SwarmActor = ActorRefFrom<SwarmMachine>;
export type SwarmSnapshot = SnapshotFrom<SwarmMachine>;
