// `query(digests)`: asks the LAN (or the `-H` hosts) who has these implementations, during the
// discovery window, and returns every responder per digest. Nothing is downloaded.
import { createActor, toPromise } from 'xstate';
import { formatDigest, type Digest } from '../core/digest.js';
import { provideQueryPorts, type QueryOutput } from '../machines/query.machine.js';
import type { Peer, QueryPorts } from '../machines/types.js';
import { openDiscovery, type DiscoveryOptions } from '../io/udp-discovery.js';
import { discoveryTiming } from './client-timing.js';
import { Responders } from './responders.js';

/** How to find peers (`hosts`, `port`, `broadcast`, `logger`: see DiscoveryOptions), for how long, and what to do. */
export interface QueryOptions extends DiscoveryOptions {
  /** Discovery window in ms (default 250). */
  timeout?: number;
  /** Each new (digest, peer) pair as it is heard. */
  onReply?: (digest: string, peer: Peer) => void;
  signal?: AbortSignal;
}

/** Who has what; with `-H`, also the hosts that answered nothing at all. */
export interface QueryResult extends QueryOutput {
  /** The `-H` hosts that never answered (down, firewalled, or holding none of the digests). */
  readonly unanswered?: readonly Peer[];
}

export async function query(digests: readonly Digest[], opts: QueryOptions = {}): Promise<QueryResult> {
  const discovery = await openDiscovery(opts);
  const responders = new Responders(discovery, opts.onReply);
  const ports: QueryPorts = {
    sendQuery: (d) => discovery.send(d),
    replies: (digest, onPeer) => responders.listen(formatDigest(digest), onPeer),
  };
  const actor = createActor(provideQueryPorts(ports), { input: { digests, timing: discoveryTiming(opts), hosts: discovery.hosts } });
  const cancel = () => actor.send({ type: 'CANCEL' });
  opts.signal?.addEventListener('abort', cancel);
  try {
    actor.start();
    if (opts.signal?.aborted) cancel();
    const out = await toPromise(actor);
    const unanswered = responders.unanswered(discovery.hosts);
    return unanswered.length ? { ...out, unanswered } : out;
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    responders.close();
    discovery.close();
  }
}
