// `fetch(digests)`: gets implementations from peers on the LAN into the store, one transfer
// machine per digest, several at once, all sharing one discovery socket. `fetchSelections(xml)`
// does the same for every implementation of a selections document that no store holds yet.
import { createActor } from 'xstate';
import { bestDigest, formatDigest, type Digest } from '../core/digest.js';
import { selectionsDigests } from '../core/selections.js';
import { provideTransferPorts, type TransferOutput, type TransferSnapshot } from '../machines/transfer.machine.js';
import type { Peer } from '../machines/types.js';
import { type Logger, silentLogger } from '../io/logger.js';
import { defaultStores, lookupAny } from '../io/stores.js';
import { openDiscovery } from '../io/udp-discovery.js';
import { transferPorts, transferTiming, type TimingOptions } from './client-ports.js';

export type FetchEvent =
  | { type: 'reply'; digest: string; peer: Peer }
  | { type: 'connecting'; digest: string; peer: Peer }
  | { type: 'progress'; digest: string; peer: Peer; bytes: number }
  | { type: 'peer-failed'; digest: string; peer: Peer; reason: string }
  | { type: 'done'; result: TransferOutput };

export interface FetchOptions extends TimingOptions {
  /** `HOST[:PORT]` peers to ask by unicast instead of broadcasting. */
  hosts?: readonly string[];
  /** Peers' UDP/TCP port (default 38339). */
  port?: number;
  /** Broadcast addresses instead of the interfaces' (default $ZSHARE_BROADCAST). */
  broadcast?: readonly string[];
  /** Stores to look in; the first receives downloads. Default: 0install's stores. */
  stores?: readonly string[];
  /** Add to the system store through 0install's secure-add route. */
  system?: boolean;
  /** Cap on the bytes written per implementation. */
  maxBytes?: number;
  /** Transfers at once (default 8). */
  concurrency?: number;
  logger?: Logger;
  onEvent?: (e: FetchEvent) => void;
  /** Called with the bytes received so far for each transfer (also delivered as 'progress' events). */
  onProgress?: (digest: string, bytes: number) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
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
      opts.onEvent?.({ type: 'progress', digest, peer: c.current, bytes: c.bytes });
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

export async function fetch(digests: readonly Digest[], opts: FetchOptions = {}): Promise<TransferOutput[]> {
  const unique = [...new Map(digests.map((d) => [formatDigest(d), d])).values()];
  if (unique.length === 0) return [];
  const log = opts.logger ?? silentLogger();
  const stores = opts.stores?.length ? opts.stores : defaultStores(opts.env);
  const discovery = await openDiscovery({ port: opts.port, hosts: opts.hosts, broadcast: opts.broadcast, logger: log });
  const heard = new Set<string>();
  const asked = new Set(unique.map(formatDigest));
  const replySub = discovery.replies$.subscribe((r) => {
    for (const d of r.digests) {
      const key = `${formatDigest(d)} ${r.peer.host}:${r.peer.port}`;
      if (asked.has(formatDigest(d)) && !heard.has(key)) {
        heard.add(key);
        opts.onEvent?.({ type: 'reply', digest: formatDigest(d), peer: r.peer });
      }
    }
  });
  const ports = transferPorts({ discovery, stores, system: opts.system, maxBytes: opts.maxBytes, env: opts.env });
  const machine = provideTransferPorts(ports);
  const timing = transferTiming(opts);
  try {
    return await pool(unique, opts.concurrency ?? 8, async (digest) => {
      const key = formatDigest(digest);
      const actor = createActor(machine, { input: { digest, timing } });
      const onSnapshot = watch(opts, key);
      const result = new Promise<TransferOutput>((resolve, reject) => {
        actor.subscribe({
          next: (s) => {
            onSnapshot(s);
            if (s.status === 'done') resolve(s.output);
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
        log.debug({ digest: key, status: out.status }, 'transfer finished');
        opts.onEvent?.({ type: 'done', result: out });
        return out;
      } finally {
        opts.signal?.removeEventListener('abort', cancel);
      }
    });
  } finally {
    // Cancelled or abandoned downloads clean up as they unwind: return only once they have.
    await ports.settled();
    replySub.unsubscribe();
    discovery.close();
  }
}

export interface SelectionResult extends TransferOutput {
  readonly interface: string;
  readonly version?: string;
}

/**
 * Fetches every implementation of a selections document that is in no store yet, each by its best
 * digest. A selection counts as cached when any of its digests is present in any store.
 */
export async function fetchSelections(xml: string, opts: FetchOptions = {}): Promise<SelectionResult[]> {
  const stores = opts.stores?.length ? opts.stores : defaultStores(opts.env);
  const selections = selectionsDigests(xml);
  const missing: Digest[] = [];
  const plan = await Promise.all(
    selections.map(async (sel) => {
      const found = await lookupAny(stores, sel.digests);
      if (found) return { sel, cached: found };
      const best = bestDigest(sel.digests)!;
      missing.push(best);
      return { sel, best };
    }),
  );
  const fetched = await fetch(missing, { ...opts, stores });
  const byDigest = new Map(fetched.map((r) => [formatDigest(r.digest), r]));
  return plan.map(({ sel, cached, best }) => {
    const base = { interface: sel.interface, version: sel.version };
    if (cached) return { ...base, digest: cached.digest, status: 'cached' as const, path: cached.path, attempts: [], bytes: 0 };
    return { ...base, ...byDigest.get(formatDigest(best!))! };
  });
}
