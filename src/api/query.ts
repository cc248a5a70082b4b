// `query(digests)`: asks the LAN (or the `-H` hosts) who has these implementations, during the
// discovery window, and returns every responder per digest. Nothing is downloaded.
import { createActor, toPromise } from 'xstate';
import type { Digest } from '../core/digest.js';
import { provideQueryPorts, type QueryOutput } from '../machines/query.machine.js';
import { peerKey, type Peer } from '../machines/types.js';
import { openDiscovery, type DiscoveryOptions } from '../io/udp-discovery.js';
import { queryPorts } from './client-ports.js';
import { discoveryTiming } from './client-timing.js';

/** How to find peers (`hosts`, `port`, `broadcast`, `logger`: see DiscoveryOptions), for how long, and what to do. */
export interface QueryOptions extends DiscoveryOptions {
  /** Discovery window in ms (default 250). */
  timeout?: number;
  /** Each new (digest, peer) pair as it is heard. */
  onReply?: (digest: string, peer: Peer) => void;
  signal?: AbortSignal;
}

export async function query(digests: readonly Digest[], opts: QueryOptions = {}): Promise<QueryOutput> {
  const discovery = await openDiscovery(opts);
  const actor = createActor(provideQueryPorts(queryPorts(discovery)), { input: { digests, timing: discoveryTiming(opts), hosts: discovery.hosts } });
  const reported = new Set<string>();
  actor.subscribe({
    next: (s) => {
      for (const [d, peers] of Object.entries(s.context.peers)) {
        for (const p of peers) {
          const key = `${d} ${peerKey(p)}`;
          if (reported.has(key)) continue;
          reported.add(key);
          opts.onReply?.(d, p);
        }
      }
    },
    error: () => undefined,
  });
  const cancel = () => actor.send({ type: 'CANCEL' });
  opts.signal?.addEventListener('abort', cancel);
  try {
    actor.start();
    if (opts.signal?.aborted) cancel();
    return await toPromise(actor);
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    discovery.close();
  }
}
