// `peers()`: who is there. Says hello on every discovery channel (broadcast, IPv6 multicast,
// static peers, DNS-SD, or only the `-H` hosts) for the discovery window, then asks each peer
// found for its version and implementation count (`GET /stats`). The peers machine decides; the
// discovery sockets and the HTTP request are its ports.
import { createActor, toPromise } from 'xstate';
import { providePeersPorts, type PeerInfo, type PeersOutput, type PeersPorts, type Sighting } from '../machines/peers.machine.js';
import type { Peer } from '../machines/types.js';
import { describePeer } from '../io/peer-info.js';
import { openDiscovery, type DiscoveryOptions } from '../io/udp-discovery.js';
import { discoveryTiming } from './client-timing.js';

export interface PeersOptions extends DiscoveryOptions {
  /** Discovery window in ms (default 250). */
  timeout?: number;
  signal?: AbortSignal;
  /** How to ask a peer about itself (default: GET /stats). */
  describe?: (peer: Peer) => Promise<PeerInfo>;
}

export async function peers(opts: PeersOptions = {}): Promise<PeersOutput> {
  // DNS-SD may find peers before the machine listens: they wait here.
  const early: Sighting[] = [];
  let deliver: ((s: Sighting) => void) | undefined;
  const sighted = (s: Sighting) => (deliver ? deliver(s) : early.push(s));
  const discovery = await openDiscovery({
    ...opts,
    onMdnsPeer: (p) => {
      opts.onMdnsPeer?.(p);
      sighted({ peer: { host: p.address, port: p.port }, via: 'mdns', info: { version: p.version, implementations: p.implementations } });
    },
  });
  const sub = discovery.here.subscribe(sighted);
  const ports: PeersPorts = {
    hello: () => discovery.hello(),
    heard: (onPeer) => {
      deliver = onPeer;
      for (const s of early.splice(0)) onPeer(s);
      return () => void (deliver = undefined);
    },
    describe: opts.describe ?? ((peer) => describePeer(peer)),
  };
  const actor = createActor(providePeersPorts(ports), { input: { timing: discoveryTiming(opts) } });
  const cancel = () => actor.send({ type: 'CANCEL' });
  opts.signal?.addEventListener('abort', cancel);
  try {
    actor.start();
    if (opts.signal?.aborted) cancel();
    return await toPromise(actor);
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    sub.unsubscribe();
    discovery.close();
  }
}
