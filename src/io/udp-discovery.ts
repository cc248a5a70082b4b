// The client's discovery socket: one udp4 socket on an ephemeral port that sends the 2008 query
// (broadcast on every interface's directed broadcast address and 255.255.255.255, or unicast to
// the `-H` hosts) and turns the unicast replies into a stream of {peer, digests}. Queries issued in
// the same turn of the event loop are batched into as few datagrams as possible.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { formatDigest, type Digest } from '../core/digest.js';
import { DEFAULT_PORT, decodeReply, encodeQuery } from '../core/protocol.js';
import type { Peer } from '../machines/types.js';
import type { Logger } from './logger.js';

export interface Target {
  readonly address: string;
  readonly port: number;
}

export interface Reply {
  readonly peer: Peer;
  readonly digests: readonly Digest[];
}

/**
 * Replies as they arrive, to every subscriber. Deliberately not an RxJS Observable: loading RxJS
 * (30 CommonJS files even for Observable and share alone) would delay the first query of every
 * `0share run`, and subscribing is all the clients do.
 */
export interface ReplyStream {
  subscribe(onReply: (reply: Reply) => void): { unsubscribe(): void };
}

export interface DiscoveryOptions {
  /** UDP port of the peers (default 38339). */
  port?: number;
  /** `HOST[:PORT]` to ask by unicast instead of broadcasting. */
  hosts?: readonly string[];
  /** Broadcast addresses to use instead of the interfaces' (tests: 127.255.255.255); default $ZSHARE_BROADCAST. */
  broadcast?: readonly string[];
  logger?: Logger;
}

export interface Discovery {
  /** Sends the query for these digests to every target; rejects only if no target could be reached. */
  send(digests: readonly Digest[]): Promise<void>;
  /** Replies offering at least one digest asked for (other digests are dropped). */
  readonly replies: ReplyStream;
  /** With `-H`: those hosts, as the peers their replies come from (nobody else can answer). Undefined when broadcasting. */
  readonly hosts?: readonly Peer[];
  close(): void;
}

/** A bad `-H` host or an unusable discovery set-up: the user's to fix. */
export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
}

/** Interfaces whose broadcasts would only reach local containers and VMs. */
const VIRTUAL = /^(docker|virbr)/;

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/**
 * Directed broadcast addresses of every non-internal IPv4 interface (address | ~netmask), plus
 * 255.255.255.255. Point-to-point /31 and /32 addresses have no broadcast address and are skipped,
 * as are docker* and virbr* bridges.
 */
export function broadcastAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const out = new Set<string>();
  for (const [name, infos] of Object.entries(interfaces)) {
    if (VIRTUAL.test(name)) continue;
    for (const info of infos ?? []) {
      if (info.family !== 'IPv4' || info.internal) continue;
      const mask = ipv4ToInt(info.netmask);
      if (mask >>> 0 >= 0xfffffffe) continue;
      out.add(intToIpv4((ipv4ToInt(info.address) | ~mask) >>> 0));
    }
  }
  out.add('255.255.255.255');
  return [...out];
}

/** `HOST`, `HOST:PORT`, `[V6]:PORT` → host and port. */
export function parseHostPort(spec: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec) ?? /^([^:]+)(?::(\d+))?$/.exec(spec);
  if (!m || !m[1]) throw new DiscoveryError(`-H '${spec}' is not HOST or HOST:PORT`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DiscoveryError(`-H '${spec}': the port must be 1-65535`);
  return { host: m[1], port };
}

async function resolveHost(spec: string, defaultPort: number): Promise<Target> {
  const { host, port } = parseHostPort(spec, defaultPort);
  try {
    const { address } = await lookup(host, { family: 4 });
    return { address, port };
  } catch (err) {
    throw new DiscoveryError(`-H ${host}: cannot resolve that host name (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The targets a query goes to: the `-H` hosts if any, else the broadcast addresses. */
export async function discoveryTargets(opts: DiscoveryOptions, env: NodeJS.ProcessEnv = process.env): Promise<Target[]> {
  const port = opts.port ?? DEFAULT_PORT;
  if (opts.hosts?.length) return Promise.all(opts.hosts.map((h) => resolveHost(h, port)));
  const override = opts.broadcast?.length ? opts.broadcast : env.ZSHARE_BROADCAST?.split(',').map((s) => s.trim()).filter(Boolean);
  const addresses = override?.length ? override : broadcastAddresses(networkInterfaces());
  return addresses.map((address) => ({ address, port }));
}

/** The message of a failed send, with the original 0share's advice where it applies. */
export function sendErrorMessage(target: Target, err: NodeJS.ErrnoException): string {
  const where = `${target.address}:${target.port}`;
  if (err.code === 'ENETUNREACH') return `sending the query to ${where} failed: Network is unreachable; check the default route (ip route)`;
  if (err.code === 'EACCES') return `sending the query to ${where} failed: broadcast not permitted (EACCES)`;
  return `sending the query to ${where} failed: ${err.message}`;
}

function bind(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

export async function openDiscovery(opts: DiscoveryOptions = {}): Promise<Discovery> {
  const targets = await discoveryTargets(opts);
  const log = opts.logger;
  const socket = createSocket({ type: 'udp4' });
  socket.on('error', (err) => log?.debug({ err: err.message }, 'discovery socket error'));
  await bind(socket);
  socket.setBroadcast(true);

  const asked = new Set<string>();
  /** Digests to send in the next flush, by formatted digest. */
  let pending = new Map<string, Digest>();
  let flush: Promise<void> | undefined;

  const sendOne = (buf: Buffer, t: Target) =>
    new Promise<string | undefined>((resolve) =>
      socket.send(buf, t.port, t.address, (err) => resolve(err ? sendErrorMessage(t, err) : undefined)),
    );

  let closed = false;
  const flushNow = async (): Promise<void> => {
    const digests = [...pending.values()];
    pending = new Map();
    flush = undefined;
    if (closed) return;
    const results = await Promise.all(encodeQuery(digests).flatMap((buf) => targets.map((t) => sendOne(buf, t))));
    const errors = results.filter((e): e is string => e !== undefined);
    for (const e of errors) log?.debug(e);
    if (errors.length === results.length) throw new Error(errors[0]);
  };

  const decode = (msg: Buffer, rinfo: RemoteInfo): Reply | undefined => {
    const r = decodeReply(msg);
    if (!r.ok) {
      log?.debug({ from: rinfo.address, reason: r.reason }, 'ignored an invalid reply');
      return undefined;
    }
    const digests = r.digests.filter((d) => asked.has(formatDigest(d)));
    if (digests.length < r.digests.length) log?.debug({ from: rinfo.address }, 'ignored offers of digests we did not ask for');
    return digests.length ? { peer: { host: rinfo.address, port: rinfo.port }, digests } : undefined;
  };
  // One 'message' listener, each datagram decoded once, however many subscribe.
  const subscribers = new Set<(reply: Reply) => void>();
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (subscribers.size === 0) return;
    const reply = decode(msg, rinfo);
    if (reply) for (const s of [...subscribers]) s(reply);
  });
  const replies: ReplyStream = {
    subscribe(onReply) {
      // A function of its own per subscription, so subscribing twice with one callback is two subscriptions.
      const s = (reply: Reply) => onReply(reply);
      subscribers.add(s);
      return { unsubscribe: () => void subscribers.delete(s) };
    },
  };

  return {
    hosts: opts.hosts?.length ? targets.map((t) => ({ host: t.address, port: t.port })) : undefined,
    replies,
    send(digests) {
      for (const d of digests) {
        const k = formatDigest(d);
        asked.add(k);
        pending.set(k, d);
      }
      flush ??= new Promise<void>((r) => setImmediate(r)).then(flushNow);
      return flush;
    },
    close() {
      closed = true;
      socket.close();
    },
  };
}
