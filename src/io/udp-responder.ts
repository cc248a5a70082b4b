// The peer's UDP side: owns the socket on --bind/--port and answers `0share\n<digest>…` queries
// with a unicast `0share-reply\n<digest>…` listing the digests it has (no reply when it has
// none). Oversized, malformed and binary datagrams, sources outside --allow, privileged source
// ports and sources over their rate are dropped with debug-level counters; replies only ever list digests the query
// asked for, so they are about the query's size, and each source gets a bounded number a second.
import { once } from 'node:events';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { filter, fromEvent, map, mergeMap, type Subscription } from 'rxjs';
import { type Digest, formatDigest } from '../core/digest.js';
import { decodeQuery, encodeReply, MAX_DATAGRAM } from '../core/protocol.js';
import { createRateLimiter } from '../core/rate-limit.js';
import type { Logger } from './logger.js';
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
}

export interface UdpStats {
  received: number;
  replies: number;
  dropped: Record<DropReason, number>;
}

export interface UdpResponder {
  readonly port: number;
  readonly stats: UdpStats;
  close(): Promise<void>;
}

/** Sources remembered by the rate limiter; beyond this the least recently seen is forgotten. */
const MAX_SOURCES = 4096;
/** Store lookups in flight at once. */
const LOOKUP_CONCURRENCY = 8;

type Screened = { ok: true; digests: Digest[]; from: RemoteInfo } | { ok: false; reason: DropReason; from: RemoteInfo };

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

  const screen = (msg: Buffer, from: RemoteInfo): Screened => {
    stats.received++;
    if (msg.length > MAX_DATAGRAM) return { ok: false, reason: 'oversized', from };
    // Clients send from ephemeral ports; a reply to a service port (echo, DNS, …) could only
    // serve a forged query bouncing traffic off this peer.
    if (from.port < 1024) return { ok: false, reason: 'low-port', from };
    if (!opts.isAllowed(from.address)) return { ok: false, reason: 'not-allowed', from };
    const q = decodeQuery(msg);
    if (!q.ok) return { ok: false, reason: q.reason, from };
    const now = Date.now();
    if (!perSource.take(from.address, now) || !total.take('*', now)) return { ok: false, reason: 'rate-limited', from };
    return { ok: true, digests: q.digests, from };
  };

  const answer = async ({ digests, from }: { digests: Digest[]; from: RemoteInfo }) => {
    const have: Digest[] = [];
    try {
      for (const d of digests) if ((await lookupDigest(opts.stores, d)) !== undefined) have.push(d);
    } catch (err) {
      log.warn(`Store lookup for ${from.address}:${from.port} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { digests, have, from };
  };

  const sub: Subscription = fromEvent(socket, 'message', (msg: Buffer, from: RemoteInfo) => screen(msg, from))
    .pipe(
      filter((s): s is Extract<Screened, { ok: true }> => {
        if (s.ok) return true;
        const n = ++stats.dropped[s.reason];
        log.debug(`Ignored datagram from ${s.from.address}:${s.from.port}: ${s.reason} (${n} so far)`);
        return false;
      }),
      mergeMap(answer, LOOKUP_CONCURRENCY),
      map(({ digests, have, from }) => {
        const asked = digests.map(formatDigest).join(', ');
        if (have.length === 0) {
          log.debug(`Request from ${from.address}:${from.port} for ${asked}: we have none of them`);
          return undefined;
        }
        log.info(`Request from ${from.address}:${from.port} for ${asked}`);
        log.info(`Yes, we have ${have.map(formatDigest).join(', ')}`);
        return { from, datagrams: encodeReply(have) };
      }),
    )
    .subscribe((r) => {
      if (!r) return;
      for (const dgram of r.datagrams) {
        socket.send(dgram, r.from.port, r.from.address, (err) => {
          if (err) log.debug(`Reply to ${r.from.address}:${r.from.port} failed: ${err.message}`);
          else stats.replies++;
        });
      }
    });

  return {
    port: socket.address().port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        sub.unsubscribe();
        socket.close(() => resolve());
      }),
  };
}
