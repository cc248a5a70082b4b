// The peer's UDP side: owns the socket on --bind/--port and answers `0share\n<digest>…` queries
// with a unicast `0share-reply\n<digest>…` listing the digests it has (no reply when it has
// none), and with one `0share-partial\n<digest>…` (src/core/protocol.ts) listing the digests
// asked for that only a fetch in flight on this machine holds (src/io/partial-holders.ts: it
// serves their verified files; never for the hello). It answers the who-request (`0share-who`,
// padded) with this process's random instance id (`0share-id\n<id>`), over every address alike, so
// a client can tell that this machine's IPv4 and IPv6 addresses are one peer; the answer is never
// longer than the request. Oversized, malformed and binary datagrams, sources outside --allow, privileged source
// ports and sources over their rate are dropped with debug-level counters; replies only ever list digests the query
// asked for, so they are about the query's size, and each source gets a bounded number a second.
// With `ipv6`, a second socket on [::] (IPv6 only, so the IPv4 socket and the 2008 format are
// untouched) answers the same queries, and joins the link-local group ff02::95c3 on the
// interfaces `joinGroups` names. Replies go by unicast from the socket the query came in on, to
// the source address as the socket reports it (a link-local one with its zone, `fe80::…%eth0`),
// so the kernel sends them out of the receiving interface, from an address valid there.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { filter, fromEvent, map, merge, mergeMap, share, type Subscription } from 'rxjs';
import { type Digest, formatDigest } from '../core/digest.js';
import { decodeQuery, encodeIdAnswer, encodePartialReply, encodeReply, HELLO_REPLY, IPV6_GROUP, isHello, isWho, MAX_DATAGRAM } from '../core/protocol.js';
import { createRateLimiter } from '../core/rate-limit.js';
import type { Logger } from './logger.js';
import { findPartial } from './partial-holders.js';
import { lookupDigest } from './stores.js';

export type DropReason = 'oversized' | 'not-text' | 'bad-magic' | 'no-digest' | 'bad-digest' | 'not-allowed' | 'rate-limited' | 'low-port';

export interface UdpResponderOptions {
  port: number;
  bind: string;
  stores: readonly string[];
  isAllowed: (address: string) => boolean;
  logger: Logger;
  /** Queries answered per source address: burst and per second. */
  perSource?: { burst: number; perSecond: number };
  /** Queries answered in total (spoofed sources share this): burst and per second. */
  total?: { burst: number; perSecond: number };
  /** Also listen on [::] (IPv6 only) for unicast and ff02::95c3 multicast queries. */
  ipv6?: boolean;
}

export interface UdpStats {
  received: number;
  replies: number;
  dropped: Record<DropReason, number>;
}

export interface UdpResponder {
  readonly port: number;
  /** This process's instance id, the answer to the who-request. */
  readonly instance: string;
  readonly stats: UdpStats;
  /** Whether the IPv6 socket is listening. */
  readonly ipv6: boolean;
  /** Makes the IPv6 socket a member of ff02::95c3 on exactly these interfaces (joins new ones, leaves gone ones). */
  joinGroups(ifaces: readonly string[]): void;
  close(): Promise<void>;
}

/** Sources remembered by the rate limiter; beyond this the least recently seen is forgotten. */
const MAX_SOURCES = 4096;
/** Store lookups in flight at once. */
const LOOKUP_CONCURRENCY = 8;

/** A query, the hello (`0share peers`) or the who-request. */
type Kind = 'query' | 'hello' | 'who';
type Screened = { ok: true; digests: Digest[]; kind: Kind; from: RemoteInfo; socket: Socket } | { ok: false; reason: DropReason; from: RemoteInfo };

/** The [::] socket, or undefined (logged) when this machine has no IPv6. */
async function listen6(port: number, log: Logger): Promise<Socket | undefined> {
  const s = createSocket({ type: 'udp6', reuseAddr: true, ipv6Only: true });
  try {
    s.bind(port, '::');
    await once(s, 'listening');
    return s;
  } catch (err) {
    log.info(`No IPv6 UDP socket (${(err as Error).message}): answering IPv4 queries only`);
    s.close();
    return undefined;
  }
}

export async function startUdpResponder(opts: UdpResponderOptions): Promise<UdpResponder> {
  const log = opts.logger;
  const perSource = createRateLimiter({ ...(opts.perSource ?? { burst: 20, perSecond: 10 }), maxKeys: MAX_SOURCES });
  const total = createRateLimiter({ ...(opts.total ?? { burst: 200, perSecond: 100 }), maxKeys: 1 });
  const stats: UdpStats = {
    received: 0,
    replies: 0,
    dropped: { oversized: 0, 'not-text': 0, 'bad-magic': 0, 'no-digest': 0, 'bad-digest': 0, 'not-allowed': 0, 'rate-limited': 0, 'low-port': 0 },
  };

  const socket: Socket = createSocket({ type: opts.bind.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  socket.bind(opts.port, opts.bind);
  await once(socket, 'listening');
  socket.on('error', (err) => log.warn({ err }, `UDP socket error: ${err.message}`));
  const socket6 = opts.ipv6 ? await listen6(socket.address().port, log) : undefined;
  socket6?.on('error', (err) => log.warn({ err }, `UDP (IPv6) socket error: ${err.message}`));
  const joined = new Set<string>();
  const instance = randomBytes(8).toString('hex');
  const idAnswer = encodeIdAnswer(instance);

  const screen = (socket: Socket, msg: Buffer, from: RemoteInfo): Screened => {
    stats.received++;
    if (msg.length > MAX_DATAGRAM) return { ok: false, reason: 'oversized', from };
    // Clients send from ephemeral ports; a reply to a service port (echo, DNS, …) could only
    // serve a forged query bouncing traffic off this peer.
    if (from.port < 1024) return { ok: false, reason: 'low-port', from };
    if (!opts.isAllowed(from.address)) return { ok: false, reason: 'not-allowed', from };
    const kind: Kind = isHello(msg) ? 'hello' : isWho(msg) ? 'who' : 'query';
    const q = kind === 'query' ? decodeQuery(msg) : { ok: true as const, digests: [] as Digest[] };
    if (!q.ok) return { ok: false, reason: q.reason, from };
    const now = Date.now();
    if (!perSource.take(from.address, now) || !total.take('*', now)) return { ok: false, reason: 'rate-limited', from };
    return { ok: true, digests: q.digests, kind, from, socket };
  };

  /** A query's store lookups: the digests this peer has, and those only a fetch in flight here holds. */
  const lookUp = async ({ digests, from, socket }: Extract<Screened, { ok: true }>) => {
    const have: Digest[] = [];
    const partial: Digest[] = [];
    try {
      for (const d of digests) {
        if ((await lookupDigest(opts.stores, d)) !== undefined) have.push(d);
        else if ((await findPartial(opts.stores, d)) !== undefined) partial.push(d);
      }
    } catch (err) {
      log.warn(`Store lookup for ${from.address}:${from.port} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { digests, have, partial, from, socket };
  };

  const messages = (s: Socket) => fromEvent(s, 'message', (msg: Buffer, from: RemoteInfo) => screen(s, msg, from));
  const accepted = merge(messages(socket), ...(socket6 ? [messages(socket6)] : [])).pipe(
    filter((s): s is Extract<Screened, { ok: true }> => {
      if (s.ok) return true;
      const n = ++stats.dropped[s.reason];
      log.debug(`Ignored datagram from ${s.from.address}:${s.from.port}: ${s.reason} (${n} so far)`);
      return false;
    }),
    share(),
  );
  // The hello and the who-request need no lookup: answered at once, never queued behind queries'
  // lookups, so a client hears a peer's instance id before its reply to the query sent after it.
  const direct = accepted.pipe(
    filter((s) => s.kind !== 'query'),
    map(({ kind, from, socket }) => {
      log.debug(kind === 'hello' ? `Hello from ${from.address}:${from.port} (0share peers)` : `Who-request from ${from.address}:${from.port}: answering with our instance id`);
      return { from, socket, datagrams: [kind === 'hello' ? Buffer.from(HELLO_REPLY, 'ascii') : idAnswer] };
    }),
  );
  const replies = accepted.pipe(
    filter((s) => s.kind === 'query'),
    mergeMap(lookUp, LOOKUP_CONCURRENCY),
    map(({ digests, have, partial, from, socket }) => {
      const asked = digests.map(formatDigest).join(', ');
      if (have.length === 0 && partial.length === 0) {
        log.debug(`Request from ${from.address}:${from.port} for ${asked}: we have none of them`);
        return undefined;
      }
      log.info(`Request from ${from.address}:${from.port} for ${asked}`);
      if (have.length) log.info(`Yes, we have ${have.map(formatDigest).join(', ')}`);
      if (partial.length) log.info(`In flight here (serving its verified files): ${partial.map(formatDigest).join(', ')}`);
      return { from, socket, datagrams: [...encodeReply(have), ...encodePartialReply(partial)] };
    }),
  );
  const sub: Subscription = merge(direct, replies).subscribe((r) => {
    if (!r) return;
    for (const dgram of r.datagrams) {
      r.socket.send(dgram, r.from.port, r.from.address, (err) => {
        if (err) log.debug(`Reply to ${r.from.address}:${r.from.port} failed: ${err.message}`);
        else stats.replies++;
      });
    }
  });

  const joinGroups = (ifaces: readonly string[]) => {
    if (!socket6) return;
    const want = new Set(ifaces);
    for (const name of [...joined]) {
      if (want.has(name)) continue;
      joined.delete(name);
      try {
        socket6.dropMembership(IPV6_GROUP, `::%${name}`);
      } catch {
        /* the interface is gone, and its membership with it */
      }
      log.info(`Left ${IPV6_GROUP} on ${name}`);
    }
    for (const name of want) {
      if (joined.has(name)) continue;
      try {
        socket6.addMembership(IPV6_GROUP, `::%${name}`);
        joined.add(name);
        log.info(`Listening for IPv6 queries on ${IPV6_GROUP}%${name}`);
      } catch (err) {
        log.debug(`cannot join ${IPV6_GROUP} on ${name}: ${(err as Error).message}`);
      }
    }
  };

  return {
    port: socket.address().port,
    instance,
    stats,
    ipv6: socket6 !== undefined,
    joinGroups,
    close: async () => {
      sub.unsubscribe();
      await Promise.all([socket, ...(socket6 ? [socket6] : [])].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
