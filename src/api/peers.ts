// `peers()`: who is there. Says hello on every discovery channel (broadcast, IPv6 multicast,
// static peers, DNS-SD, or only the `-H` hosts) for the discovery window, then asks each peer
// found for its version and implementation count (`GET /stats`). The peers machine decides; the
// discovery sockets and the HTTP request are its ports. Each machine is listed once, under its
// IPv4 address when it has one, with the other addresses it answered from (the instance ids of
// the who-request, sent with the hello: src/core/same-machine.ts) in `also`.
import { createActor, toPromise } from 'xstate';
import { type KnownPeer, providePeersPorts, type PeerInfo, type PeersOutput, type PeersPorts, type Sighting } from '../machines/peers.machine.js';
import { peerKey, type Peer } from '../machines/types.js';
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
    const out = await toPromise(actor);
    return { ...out, peers: groupByMachine(out.peers, (p) => discovery.machineOf(p)) };
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    sub.unsubscribe();
    discovery.close();
  }
}

/**
 * One entry per machine: its IPv4 address first (else the first heard), the others in `also`;
 * how it was found and when last seen over all its addresses; what the first address that
 * could be described said about it (every address's error only when none could).
 */
export function groupByMachine(list: readonly KnownPeer[], machineOf: (peer: Peer) => string): KnownPeer[] {
  const groups = new Map<string, KnownPeer[]>();
  for (const p of list) {
    const m = machineOf(p.peer);
    groups.set(m, [...(groups.get(m) ?? []), p]);
  }
  return [...groups.values()].map((all) => {
    const [first, ...rest] = [...all].sort((a, b) => Number(a.peer.host.includes(':')) - Number(b.peer.host.includes(':')));
    if (rest.length === 0) return first!;
    const described = all.find((p) => p.error === undefined);
    return {
      peer: first!.peer,
      via: [...new Set(all.flatMap((p) => p.via))],
      info: described?.info ?? first!.info,
      lastSeen: Math.max(...all.map((p) => p.lastSeen)),
      ...(described ? {} : { error: all.map((p) => `${peerKey(p.peer)}: ${p.error}`).join('; ') }),
      also: rest.map((p) => p.peer),
    };
  });
}
