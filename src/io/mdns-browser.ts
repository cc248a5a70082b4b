// The client's DNS-SD browse: on each usable IPv4 interface, a socket bound to that interface's
// address asks 224.0.0.251:5353 for `_0share._tcp.local` PTR records (sent twice, as datagrams
// get lost). Being sent from an ephemeral port, the question is a "legacy unicast" one (RFC 6762
// §6.7), so peers answer straight to that socket; each service found is reported once.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import makeMdns from 'multicast-dns';
import { type Record, SERVICE, servicesIn } from '../core/dns-sd.js';
import type { Logger } from './logger.js';

export interface MdnsPeer {
  /** The address to ask (from the A record, else the answer's source). */
  readonly address: string;
  /** The peer's UDP and TCP port (SRV). */
  readonly port: number;
  readonly instance: string;
  readonly version?: string;
  readonly implementations?: number;
}

export interface BrowseOptions {
  /** Our IPv4 address on each interface to browse on. */
  addresses: readonly string[];
  onPeer: (p: MdnsPeer) => void;
  logger?: Logger;
  /** ms between the two questions (default 100). */
  resendAfter?: number;
}

/** Starts browsing; returns the function that stops it and closes its sockets. */
export function browseMdns(opts: BrowseOptions): () => void {
  const log = opts.logger;
  const seen = new Set<string>();
  const sockets: Socket[] = [];
  const asks: Array<() => void> = [];
  for (const address of opts.addresses) {
    const socket = createSocket({ type: 'udp4' });
    sockets.push(socket);
    socket.on('error', (err) => log?.debug(`DNS-SD browse on ${address}: ${err.message}`));
    socket.bind(0, address, () => {
      try {
        socket.setMulticastInterface(address);
      } catch (err) {
        log?.debug(`DNS-SD browse on ${address}: ${(err as Error).message}`);
        return;
      }
      const mdns = makeMdns({ socket, bind: false, multicast: false });
      mdns.on('warning', (err: Error) => log?.debug(`DNS-SD browse on ${address}: ${err.message}`));
      mdns.on('response', (res, rinfo: RemoteInfo) => {
        const records = [...res.answers, ...res.additionals] as unknown as Record[];
        for (const s of servicesIn(records)) {
          const peer: MdnsPeer = {
            address: s.address ?? rinfo.address,
            port: s.port,
            instance: s.instance,
            version: s.txt.version,
            implementations: s.txt.implementations !== undefined && /^\d+$/.test(s.txt.implementations) ? Number(s.txt.implementations) : undefined,
          };
          const key = `${peer.address}:${peer.port}`;
          if (seen.has(key)) continue;
          seen.add(key);
          log?.debug(`DNS-SD: ${s.instance} at ${key}`);
          opts.onPeer(peer);
        }
      });
      const ask = () => mdns.query({ questions: [{ name: SERVICE, type: 'PTR' }] }, (err: Error | null) => err && log?.debug(`DNS-SD question on ${address}: ${err.message}`));
      asks.push(ask);
      ask();
    });
  }
  const again = setTimeout(() => asks.forEach((a) => a()), opts.resendAfter ?? 100);
  again.unref();
  return () => {
    clearTimeout(again);
    for (const s of sockets) {
      try {
        s.close();
      } catch {
        /* already closed */
      }
    }
  };
}
