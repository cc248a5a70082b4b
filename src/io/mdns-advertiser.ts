// The peer's DNS-SD advertisement of `_0share._tcp`: a socket on 0.0.0.0:5353 (shared with any
// other mDNS responder on the machine) that is a member of 224.0.0.251 on the usable interfaces
// only (never docker0 and the like), and answers questions for the service with the records of
// src/core/dns-sd.ts, giving the A record of its address on the asking host's subnet. A
// question from a port other than 5353 (a "legacy unicast" one, as 0share clients ask) is
// answered by unicast to its source; others by multicast on that interface. An answer is larger
// than a question, so only sources on a served subnet, from port 5353 or an unprivileged port,
// get one, and at most a few a second each (the responder must not become a reflector).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import makeMdns from 'multicast-dns';
import { type Advert, asksForUs, names, recordsFor } from '../core/dns-sd.js';
import { type DiscoveryInterface, localAddressFor } from '../core/interfaces.js';
import { createRateLimiter } from '../core/rate-limit.js';
import type { Logger } from './logger.js';

const GROUP = '224.0.0.251';
const MDNS_PORT = 5353;

export interface MdnsAdvertiser {
  /** Joins the group on these interfaces' addresses (leaving those gone) and announces the service there. */
  setInterfaces(ifaces: readonly DiscoveryInterface[]): void;
  close(): Promise<void>;
}

/**
 * A lookup that answers at once, so that `setMulticastInterface` followed by `send` really sends
 * on that interface (node's default lookup defers the send to the next tick, after any later
 * `setMulticastInterface`). Only IP literals are ever sent to.
 */
function literalLookup(host: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, host, 4);
}

/** Starts advertising; undefined (logged) when port 5353 cannot be used. */
export async function startMdnsAdvertiser(opts: { advert: () => Advert; ifaces: readonly DiscoveryInterface[]; logger: Logger }): Promise<MdnsAdvertiser | undefined> {
  const log = opts.logger;
  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: true, lookup: literalLookup as never });
  try {
    // Registered first: with a synchronous lookup, 'listening' may come during bind().
    const listening = once(socket, 'listening');
    socket.bind(MDNS_PORT, '0.0.0.0');
    await listening;
  } catch (err) {
    log.info(`Not advertising over DNS-SD: cannot use UDP port ${MDNS_PORT} (${(err as Error).message})`);
    socket.close();
    return undefined;
  }
  socket.setMulticastTTL(255);
  const mdns = makeMdns({ socket, bind: false, multicast: false });
  mdns.on('warning', (err: Error) => log.debug(`DNS-SD: ${err.message}`));
  mdns.on('error', (err: Error) => log.debug(`DNS-SD: ${err.message}`));
  let ifaces = opts.ifaces;
  /** Our IPv4 address → interface, for the memberships held. */
  const joined = new Map<string, string>();

  const send = (address: string, to: RemoteInfo | undefined, packet: { id?: number; questions?: unknown[] }) => {
    const { answers, additionals } = recordsFor(opts.advert(), address);
    const res = { ...packet, answers, additionals } as never;
    if (to) return mdns.respond(res, { address: to.address, port: to.port });
    try {
      socket.setMulticastInterface(address);
      mdns.respond(res, { address: GROUP, port: MDNS_PORT });
    } catch (err) {
      log.debug(`DNS-SD announcement on ${address}: ${(err as Error).message}`);
    }
  };

  const perSource = createRateLimiter({ burst: 10, perSecond: 5, maxKeys: 1024 });
  mdns.on('query', (query, rinfo: RemoteInfo) => {
    const local = localAddressFor(ifaces, rinfo.address);
    // Not from a link we serve (a container bridge, a skipped interface): no answer.
    if (!local || !joined.has(local.address)) return;
    if (rinfo.port < 1024 && rinfo.port !== MDNS_PORT) return;
    const own = names(opts.advert(), local.address);
    const asked = query.questions.filter((q) => asksForUs(q, own));
    if (asked.length === 0 || !perSource.take(rinfo.address, Date.now())) return;
    log.debug(`DNS-SD question from ${rinfo.address}:${rinfo.port}: answering with ${local.address}`);
    if (rinfo.port !== MDNS_PORT) send(local.address, rinfo, { id: query.id, questions: asked });
    else send(local.address, undefined, {});
  });

  const setInterfaces = (now: readonly DiscoveryInterface[]) => {
    ifaces = now;
    const want = new Map(now.flatMap((i) => i.ipv4.map((s) => [s.address, i.name] as const)));
    for (const [address, name] of [...joined]) {
      if (want.get(address) === name) continue;
      joined.delete(address);
      try {
        socket.dropMembership(GROUP, address);
      } catch {
        /* gone with its interface */
      }
    }
    for (const [address, name] of want) {
      if (joined.has(address)) continue;
      try {
        socket.addMembership(GROUP, address);
        joined.set(address, name);
        log.info(`Advertising _0share._tcp over DNS-SD on ${name} (${address})`);
        send(address, undefined, {});
      } catch (err) {
        log.debug(`cannot join ${GROUP} on ${name} (${address}): ${(err as Error).message}`);
      }
    }
  };
  setInterfaces(opts.ifaces);

  return {
    setInterfaces,
    close: () => new Promise<void>((resolve) => mdns.destroy(() => resolve())),
  };
}
