// `fetch(digests)`: gets implementations from peers on the LAN into the store, one transfer
// machine per digest, several at once, all sharing one discovery socket. `fetchSelections(xml)`
// does the same for every implementation of a selections document that no store holds yet.
//
// The query, for the digests no store holds, goes out as soon as the socket is open and the
// stores are checked: the transfer machines and the download code (xstate, HTTP, tar, store add)
// load during the discovery window, not before it. Each machine then
// joins that first query (its first send is the one already made), is told what is left of the
// window, and hears the replies that arrived while it was loading (or queued behind others).
import { formatDigest, type Digest } from '../core/digest.js';
import type { TransferOutput, TransferSnapshot } from '../machines/transfer.machine.js';
import { type Peer, peerKey } from '../machines/types.js';
import { defaultStores, lookupDigest } from '../io/stores.js';
import { openDiscovery, type Discovery, type DiscoveryOptions, type FoundVia } from '../io/udp-discovery.js';
import { listenAfterAsk, SHARING_TIMING, swarmTiming, transferTiming, type TimingOptions } from './client-timing.js';
import { FetchReporter } from './fetch-reporter.js';
import { Responders } from './responders.js';
import { planSelections } from './selections-plan.js';

export type FetchEvent =
  /** A complete holder answered; `sameAs`: the address its machine answered from first (this is another address of it). */
  | { type: 'reply'; digest: string; peer: Peer; via?: FoundVia; sameAs?: Peer }
  | { type: 'connecting'; digest: string; peer: Peer }
  | { type: 'progress'; digest: string; peer: Peer; bytes: number; expected?: number }
  | { type: 'peer-failed'; digest: string; peer: Peer; reason: string }
  /** Bytes received so far from each source (peerKey), in swarm mode. */
  | { type: 'sources'; digest: string; bytes: Readonly<Record<string, number>> }
  | { type: 'done'; result: TransferOutput };

/** How to find peers (`hosts`, `port`, `broadcast`, `logger`: see DiscoveryOptions), the timing, and what to do. */
export interface FetchOptions extends TimingOptions, DiscoveryOptions {
  /** Stores to look in; the first receives downloads. Default: 0install's stores. */
  stores?: readonly string[];
  /** Add to the system store through 0install's secure-add route. */
  system?: boolean;
  /** Cap on the bytes written per implementation. */
  maxBytes?: number;
  /**
   * Only the whole tar from one responder (the 2008 transfer mode). By default a responder that
   * serves the manifest route is fetched from in swarm mode: manifest first, pieces from every
   * holder, reuse of local files, resume; others send the whole tar.
   */
  wholeTar?: boolean;
  /** @deprecated Swarm mode is the default now; accepted and ignored. */
  swarm?: boolean;
  /** Seeds the swarm's order of equally rare units (default: random per fetch; tests fix it). */
  swarmSeed?: number;
  /** Transfers at once (default 8). */
  concurrency?: number;
  onEvent?: (e: FetchEvent) => void;
  /** Report each fetch's record to the local peer on this port (for `0share why`; best effort). */
  reportTo?: number;
  /** Names for the digests in those records (e.g. interface URIs), by formatted digest. */
  names?: ReadonlyMap<string, string>;
  /** Called with the bytes received so far for each transfer (also delivered as 'progress' events). */
  onProgress?: (digest: string, bytes: number) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /**
   * When the discovery window starts, as a `performance.now()` time. Default: when the first query
   * is sent. `0share run` passes 0 (the process start) so that what it adds when no peer answers is
   * bounded by the window. Peers always get the first send and one resend after the first query
   * (`listenAfterAsk`: 100 ms of the default window).
   */
  windowFrom?: number;
}

/** A transfer's result; for a digest nobody offered, also the `-H` hosts that answered nothing at all. */
export interface FetchResult extends TransferOutput {
  /** With `-H` and failure 'no-reply': the hosts that never answered (down, firewalled, or holding none of the digests). */
  readonly unanswered?: readonly Peer[];
}

/** Turns snapshot changes of one transfer into FetchEvents. */
function watch(opts: FetchOptions, digest: string) {
  let prev: TransferSnapshot | undefined;
  return (s: TransferSnapshot) => {
    const c = s.context;
    const p = prev?.context;
    // A new attempt: entering `connecting`, or straight from one refused peer's `connecting` to the next one's.
    if (c.current && s.matches({ transferring: 'connecting' }) && (!prev?.matches({ transferring: 'connecting' }) || c.current !== p?.current)) {
      opts.onEvent?.({ type: 'connecting', digest, peer: c.current });
    }
    if (c.current && s.matches('transferring') && c.bytes !== p?.bytes) {
      opts.onEvent?.({ type: 'progress', digest, peer: c.current, bytes: c.bytes, expected: c.expected });
      opts.onProgress?.(digest, c.bytes);
    }
    for (const a of c.attempts.slice(p?.attempts.length ?? 0)) opts.onEvent?.({ type: 'peer-failed', digest, peer: a.peer, reason: a.reason });
    prev = s;
  };
}

/** Runs `work` over `items` with at most `limit` in flight, keeping the order of results. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Digests of `digests` in no store (an unreadable store counts as not holding it). */
async function missingFrom(stores: readonly string[], digests: readonly Digest[]): Promise<Digest[]> {
  const found = await Promise.all(digests.map((d) => lookupDigest(stores, d).catch(() => undefined)));
  return digests.filter((_, i) => found[i] === undefined);
}

export async function fetch(digests: readonly Digest[], opts: FetchOptions = {}): Promise<FetchResult[]> {
  const unique = [...new Map(digests.map((d) => [formatDigest(d), d])).values()];
  if (unique.length === 0) return [];
  const stores = opts.stores?.length ? opts.stores : defaultStores(opts.env);
  const reporter = opts.reportTo ? new FetchReporter({ port: opts.reportTo, names: opts.names }) : undefined;
  const onEvent = opts.onEvent;
  if (reporter) opts = { ...opts, onEvent: (e) => (onEvent?.(e), reporter.onEvent(e)) };
  const discovery = await openDiscovery(opts);
  const responders = new Responders(discovery, (digest, peer, via, sameAs) => opts.onEvent?.({ type: 'reply', digest, peer, via, ...(sameAs ? { sameAs } : {}) }));
  try {
    // The first query, for what no store holds, before loading the transfer code.
    const toAsk = opts.signal?.aborted ? [] : await missingFrom(stores, unique);
    const askedAt = performance.now();
    const firstQuery = toAsk.length ? discovery.send(toAsk) : Promise.resolve();
    firstQuery.catch(() => undefined); // each machine sees a send error through its own first send
    reporter?.asked(toAsk.map(formatDigest), askedTargets(discovery));
    const results = await transfer(unique, { opts, stores, discovery, responders, firstQuery, askedAt, unsent: new Map(toAsk.map((d) => [formatDigest(d), d])) });
    const unanswered = responders.unanswered(discovery.hosts);
    return unanswered.length ? results.map((r) => (r.failure === 'no-reply' ? { ...r, unanswered } : r)) : results;
  } finally {
    responders.close();
    discovery.close();
    await reporter?.flush();
  }
}

/** Where the query went, as `0share why` shows it. */
function askedTargets(discovery: Discovery): string[] {
  return discovery.hosts ? discovery.hosts.map(peerKey) : discovery.targets();
}

interface Session {
  opts: FetchOptions;
  stores: readonly string[];
  discovery: Discovery;
  responders: Responders;
  firstQuery: Promise<void>;
  askedAt: number;
  /** Digests asked in the first query whose machine has not started yet (queued behind others). */
  unsent: Map<string, Digest>;
}

/** Runs one transfer machine per digest, at most `concurrency` at once, all within the first query's window. */
async function transfer(unique: readonly Digest[], s: Session): Promise<TransferOutput[]> {
  const { opts } = s;
  const [{ createActor }, { provideTransferPorts }, { transferPorts }] = await Promise.all([
    import('xstate'),
    import('../machines/transfer.machine.js'),
    import('./client-ports.js'),
  ]);
  const ports = transferPorts({
    stores: s.stores,
    system: opts.system,
    maxBytes: opts.maxBytes,
    env: opts.env,
    swarm: {
      wholeTar: opts.wholeTar,
      timing: swarmTiming(opts),
      logger: opts.logger,
      holders: (digest, onPeer) => s.responders.holders(formatDigest(digest), onPeer),
      // The discovery socket stays open until every swarm has ended (transfer awaits ports.settled()).
      requery: (digest) => void s.discovery.send([digest]).catch(() => undefined),
      machineOf: (peer) => s.discovery.machineOf(peer),
      sharing: SHARING_TIMING,
      seed: opts.swarmSeed,
      onDropped: (digest, peer, reason) => opts.onEvent?.({ type: 'peer-failed', digest: formatDigest(digest), peer, reason }),
      onSources: (digest, bytes) => opts.onEvent?.({ type: 'sources', digest: formatDigest(digest), bytes: { ...bytes } }),
    },
  });
  const joined = new Set<string>();
  const machine = provideTransferPorts({
    ...ports,
    // A machine that joined the first query makes its first send by joining it.
    sendQuery: (digests) => {
      const keys = digests.map(formatDigest);
      if (keys.every((k) => joined.has(k))) {
        for (const k of keys) joined.delete(k);
        return s.firstQuery;
      }
      // A retransmit repeats the query also for the digests queued behind running machines that
      // nobody has answered yet: they share the first query's window, so they share its resends.
      const queued = [...s.unsent].filter(([k]) => !s.responders.answered(k)).map(([, d]) => d);
      return s.discovery.send([...digests, ...queued]);
    },
    replies: (digest, onPeer) => s.responders.listen(formatDigest(digest), onPeer),
  });
  const timing = transferTiming(opts);
  const windowEnd = Math.max((opts.windowFrom ?? s.askedAt) + timing.discoveryWindow, s.askedAt + listenAfterAsk(opts));
  try {
    return await pool(unique, opts.concurrency ?? 8, async (digest) => {
      const key = formatDigest(digest);
      // Every digest asked in the first query shares its window: a machine queued behind others
      // (only `concurrency` run at once) starts with what is left of it, at least 1 ms, and the
      // responders heard meanwhile, so n digests nobody has cost one window, not n/concurrency windows.
      const join = s.unsent.delete(key);
      if (join) joined.add(key);
      const left = Math.max(1, Math.round(windowEnd - performance.now()));
      const input = { digest, timing: join ? transferTiming({ ...opts, timeout: left }) : timing, hosts: s.discovery.hosts };
      const actor = createActor(machine, { input });
      const onSnapshot = watch(opts, key);
      const result = new Promise<TransferOutput>((resolve, reject) => {
        actor.subscribe({
          next: (snap) => {
            onSnapshot(snap);
            if (snap.status === 'done') resolve(snap.output);
          },
          error: reject,
        });
      });
      const cancel = () => actor.send({ type: 'CANCEL' });
      opts.signal?.addEventListener('abort', cancel);
      actor.start();
      if (opts.signal?.aborted) cancel();
      try {
        const out = await result;
        joined.delete(key);
        opts.logger?.debug({ digest: key, status: out.status }, 'transfer finished');
        opts.onEvent?.({ type: 'done', result: out });
        return out;
      } finally {
        opts.signal?.removeEventListener('abort', cancel);
      }
    });
  } finally {
    // Cancelled or abandoned downloads clean up as they unwind: return only once they have.
    await ports.settled();
  }
}

export interface SelectionResult extends FetchResult {
  readonly interface: string;
  readonly version?: string;
}

/**
 * Fetches every implementation of a selections document that is in no store yet, each by its best
 * digest. A selection counts as cached when any of its digests is present in any store.
 */
export async function fetchSelections(xml: string, opts: FetchOptions = {}): Promise<SelectionResult[]> {
  const stores = opts.stores?.length ? opts.stores : defaultStores(opts.env);
  const plan = await planSelections(xml, stores);
  const missing = plan.flatMap((p) => (p.best ? [p.best] : []));
  const names = new Map(plan.flatMap((p) => (p.best ? [[formatDigest(p.best), p.sel.interface] as const] : [])));
  const fetched = await fetch(missing, { ...opts, stores, names });
  const byDigest = new Map(fetched.map((r) => [formatDigest(r.digest), r]));
  return plan.map(({ sel, cached, best }) => {
    const base = { interface: sel.interface, version: sel.version };
    if (cached) return { ...base, digest: cached.digest, status: 'cached' as const, path: cached.path, attempts: [], bytes: 0 };
    return { ...base, ...byDigest.get(formatDigest(best!))! };
  });
}
