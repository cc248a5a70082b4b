// The client's discovery sockets: a udp4 socket (and a udp6 one when IPv6 works) on ephemeral
// ports that send the 2008 query to every usable interface (the directed broadcast of each IPv4
// subnet, 255.255.255.255, and the IPv6 link-local group ff02::95c3 on each interface), by unicast
// to the static peers and to the peers DNS-SD finds during the window, or only to the `-H` hosts;
// and that turn the unicast replies into a stream of {peer, digests, via}. Queries issued in the
// same turn of the event loop are batched into as few datagrams as possible. Partial replies
// (`0share-partial`: a peer whose machine is still fetching the digest) are a stream of their
// own, without those from this machine's own addresses (its own peer describing its own fetch).
// With the first queries (and at most once a second after them), and with the hello, goes the
// who-request: every 0share peer answers it with its process's instance id, over each of its
// addresses, before it answers the query; an address that answers without having given its id
// (its id answer was lost, or an older peer) is asked again by unicast, at most every 250 ms.
// `machineOf` says which addresses are one machine (src/core/same-machine.ts).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { formatDigest, type Digest } from '../core/digest.js';
import { broadcastTargets, DEFAULT_SKIP_IFACES, discoveryInterfaces, type InterfaceTable, ipv6Interfaces } from '../core/interfaces.js';
import { DEFAULT_PORT, decodeIdAnswer, decodePartialReply, decodeReply, encodeQuery, encodeWho, HELLO, IPV6_GROUP, isHelloReply } from '../core/protocol.js';
import { MachineIds } from '../core/same-machine.js';
import { type FoundVia, peerKey, type Peer } from '../machines/types.js';
import { readSkipIfaces, readStaticPeers } from './config-files.js';
import { readInterfaces } from './interfaces.js';
import type { Logger } from './logger.js';
import type { MdnsPeer } from './mdns-browser.js';

export interface Target {
  readonly address: string;
  readonly port: number;
}

export type { FoundVia };

export interface Reply {
  readonly peer: Peer;
  readonly digests: readonly Digest[];
  readonly via: FoundVia;
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
  /**
   * Send the query only to these addresses (tests: 127.255.255.255), instead of the interfaces,
   * static peers and DNS-SD; default $ZSHARE_BROADCAST.
   */
  broadcast?: readonly string[];
  /** Interface name patterns to leave out, besides docker*, br-*, veth*… and the config file's. */
  skipIfaces?: readonly string[];
  /** `HOST[:PORT]` asked by unicast besides broadcasting. Default: the static peers files. */
  staticPeers?: readonly string[];
  /** Also look for peers that advertise over DNS-SD (default true). */
  mdns?: boolean;
  /** Each peer DNS-SD finds (with its TXT data), as it is found. */
  onMdnsPeer?: (p: MdnsPeer) => void;
  /** This machine's addresses, whose partial replies are ignored. Default: every address of every interface. */
  ownAddresses?: readonly string[];
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface Discovery {
  /** Sends the query for these digests to every target; rejects only if no target could be reached. */
  send(digests: readonly Digest[]): Promise<void>;
  /** Sends `0share peers`' hello to every target (and to those found later); rejects only if none could be reached. */
  hello(): Promise<void>;
  /** Peers answering the hello, and how each was found. */
  readonly here: { subscribe(onPeer: (p: { peer: Peer; via: FoundVia }) => void): { unsubscribe(): void } };
  /** Replies offering at least one digest asked for (other digests are dropped). */
  readonly replies: ReplyStream;
  /** Partial replies (peers still fetching a digest asked for), none from this machine itself. */
  readonly partials: ReplyStream;
  /** Where the query goes now, each as `address:port (how)`, the interface's zone on IPv6; static peers and DNS-SD finds join as they are resolved. */
  targets(): string[];
  /** With `-H`: those hosts, as the peers their replies come from (nobody else can answer). Undefined when broadcasting. */
  readonly hosts?: readonly Peer[];
  /** The machine a peer's address belongs to, from the instance ids heard so far (its peerKey when not known). */
  machineOf(peer: Peer): string;
  close(): void;
}

/** The who-request goes with each of the first sends, then with at most one send in this many ms. */
const WHO_SENDS = 3;
const WHO_EVERY_MS = 1000;
/** An address that answers without having given its id is asked again by unicast, at most this often. */
const WHO_AGAIN_MS = 250;

/** A bad `-H` host or an unusable discovery set-up: the user's to fix. */
export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
}

/** Directed broadcast addresses of the usable IPv4 interfaces (see src/core/interfaces.ts), plus 255.255.255.255. */
export function broadcastAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>, skip: readonly string[] = DEFAULT_SKIP_IFACES): string[] {
  return broadcastTargets(discoveryInterfaces(interfaces as InterfaceTable, skip));
}

/** `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`, a bare IPv6 literal (`::1`, `fe80::1%eth0`) → host and port. */
export function parseHostPort(spec: string, defaultPort: number): { host: string; port: number } {
  if (isIP(spec) === 6) return { host: spec, port: defaultPort };
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec) ?? /^([^:[\]]+)(?::(\d+))?$/.exec(spec);
  if (!m || !m[1]) throw new DiscoveryError(`-H '${spec}' is not HOST, HOST:PORT, an IPv6 address or [IPV6]:PORT`);
  if (spec.startsWith('[') && isIP(m[1]) !== 6) throw new DiscoveryError(`-H '${spec}': [${m[1]}] is not an IPv6 address`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DiscoveryError(`-H '${spec}': the port must be 1-65535`);
  return { host: m[1], port };
}

async function resolveHost(spec: string, defaultPort: number): Promise<Target> {
  const { host, port } = parseHostPort(spec, defaultPort);
  if (isIP(host)) return { address: host, port };
  try {
    const { address } = await lookup(host);
    return { address, port };
  } catch (err) {
    throw new DiscoveryError(`-H ${host}: cannot resolve that host name (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

interface Plan {
  /** Where the first query goes, and how a reply from there counts as found. */
  targets: Array<Target & { via: FoundVia }>;
  /** Static peers still to resolve (they join the targets once resolved). */
  statics: readonly string[];
  /** Interfaces' IPv4 addresses for the DNS-SD browse; empty for none. */
  mdnsOn: readonly string[];
  hosts?: readonly Peer[];
}

function overrideOf(opts: DiscoveryOptions, env: NodeJS.ProcessEnv): string[] | undefined {
  const o = opts.broadcast?.length ? [...opts.broadcast] : env.ZSHARE_BROADCAST?.split(',').map((s) => s.trim()).filter(Boolean);
  return o?.length ? o : undefined;
}

async function plan(opts: DiscoveryOptions, env: NodeJS.ProcessEnv): Promise<Plan> {
  const port = opts.port ?? DEFAULT_PORT;
  if (opts.hosts?.length) {
    const targets = await Promise.all(opts.hosts.map((h) => resolveHost(h, port)));
    return { targets: targets.map((t) => ({ ...t, via: 'host' })), statics: [], mdnsOn: [], hosts: targets.map((t) => ({ host: t.address, port: t.port })) };
  }
  const override = overrideOf(opts, env);
  if (override) return { targets: override.map((address) => ({ address, port, via: 'broadcast' })), statics: opts.staticPeers ?? [], mdnsOn: [] };
  const ifaces = readInterfaces([...(opts.skipIfaces ?? []), ...readSkipIfaces(env, opts.logger)]);
  const targets: Plan['targets'] = [
    ...broadcastTargets(ifaces).map((address) => ({ address, port, via: 'broadcast' as const })),
    ...ipv6Interfaces(ifaces).map((name) => ({ address: `${IPV6_GROUP}%${name}`, port, via: 'multicast' as const })),
  ];
  const statics = opts.staticPeers ?? readStaticPeers(env, opts.logger).map((p) => p.spec);
  const mdnsOn = opts.mdns === false ? [] : ifaces.flatMap((i) => i.ipv4.map((s) => s.address));
  return { targets, statics, mdnsOn };
}

/** The targets the first query goes to: the `-H` hosts if any, else the broadcast addresses and IPv6 groups. */
export async function discoveryTargets(opts: DiscoveryOptions, env: NodeJS.ProcessEnv = process.env): Promise<Target[]> {
  return (await plan({ ...opts, staticPeers: [], mdns: false }, env)).targets.map(({ address, port }) => ({ address, port }));
}

/** The message of a failed send, with the original 0share's advice where it applies. */
export function sendErrorMessage(target: Target, err: NodeJS.ErrnoException): string {
  const where = target.address.includes(':') ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
  if (err.code === 'ENETUNREACH') return `sending the query to ${where} failed: Network is unreachable; check the default route (ip route)`;
  if (err.code === 'EACCES') return `sending the query to ${where} failed: broadcast not permitted (EACCES)`;
  return `sending the query to ${where} failed: ${err.message}`;
}

function bind(socket: Socket, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** A udp6 socket, or undefined when this machine has no IPv6. */
async function openUdp6(log?: Logger): Promise<Socket | undefined> {
  const s = createSocket({ type: 'udp6', ipv6Only: true });
  try {
    await bind(s, '::');
    return s;
  } catch (err) {
    log?.debug(`no IPv6 discovery socket: ${(err as Error).message}`);
    s.close();
    return undefined;
  }
}

/** Every address of this machine's interfaces, without an IPv6 zone. */
function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

const withoutZone = (address: string) => address.replace(/%.*$/, '');

/** One subscriber set: each datagram decoded once, however many subscribe. */
function replyStream(): ReplyStream & { readonly size: number; emit(reply: Reply): void } {
  const subscribers = new Set<(reply: Reply) => void>();
  return {
    get size() {
      return subscribers.size;
    },
    emit: (reply) => {
      for (const s of [...subscribers]) s(reply);
    },
    subscribe(onReply) {
      // A function of its own per subscription, so subscribing twice with one callback is two subscriptions.
      const s = (reply: Reply) => onReply(reply);
      subscribers.add(s);
      return { unsubscribe: () => void subscribers.delete(s) };
    },
  };
}

export async function openDiscovery(opts: DiscoveryOptions = {}): Promise<Discovery> {
  const env = opts.env ?? process.env;
  const port = opts.port ?? DEFAULT_PORT;
  const p = await plan(opts, env);
  const log = opts.logger;
  const socket = createSocket({ type: 'udp4' });
  socket.on('error', (err) => log?.debug({ err: err.message }, 'discovery socket error'));
  await bind(socket);
  socket.setBroadcast(true);
  const wantsV6 = p.targets.some((t) => isIP(t.address) === 6) || p.statics.length > 0 || p.mdnsOn.length > 0;
  const socket6 = wantsV6 ? await openUdp6(log) : undefined;
  socket6?.on('error', (err) => log?.debug({ err: err.message }, 'IPv6 discovery socket error'));

  const targets = [...p.targets];
  /** How a reply from each unicast target counts as found. */
  const unicast = new Map<string, FoundVia>(targets.filter((t) => t.via !== 'broadcast' && t.via !== 'multicast').map((t) => [peerKey({ host: t.address, port: t.port }), t.via]));
  const asked = new Map<string, Digest>();
  /** Digests to send in the next flush, by formatted digest. */
  let pending = new Map<string, Digest>();
  let flush: Promise<void> | undefined;
  let closed = false;

  const sendOne = (buf: Buffer, t: Target) =>
    new Promise<string | undefined>((resolve) => {
      const s = isIP(t.address) === 6 ? socket6 : socket;
      if (!s) return resolve(`sending the query to [${t.address}]:${t.port} failed: this machine has no IPv6`);
      s.send(buf, t.port, t.address, (err) => resolve(err ? sendErrorMessage(t, err) : undefined));
    });

  const sendBuffers = async (bufs: readonly Buffer[], to: readonly Target[]): Promise<string[]> => {
    const results = await Promise.all(bufs.flatMap((buf) => to.map((t) => sendOne(buf, t))));
    return results.filter((e): e is string => e !== undefined);
  };
  const sendTo = (digests: readonly Digest[], to: readonly Target[]) => sendBuffers(encodeQuery(digests), to);
  const helloDatagram = Buffer.from(HELLO, 'ascii');
  const whoDatagram = encodeWho();
  let helloing = false;
  let whoSends = 0;
  let whoAt = -Infinity;
  /** The who-request, when it is due (the first sends, then once a second), sent before the query. */
  const whoIfDue = (): Buffer[] => {
    const now = performance.now();
    if (whoSends >= WHO_SENDS && now - whoAt < WHO_EVERY_MS) return [];
    whoSends++;
    whoAt = now;
    return [whoDatagram];
  };

  const flushNow = async (): Promise<void> => {
    const digests = [...pending.values()];
    pending = new Map();
    flush = undefined;
    if (closed || targets.length === 0) return;
    const bufs = [...whoIfDue(), ...encodeQuery(digests)];
    const errors = await sendBuffers(bufs, targets);
    for (const e of errors) log?.debug(e);
    if (errors.length === targets.length * bufs.length) throw new Error(errors[0]);
  };

  /** A target found after the first query (static peer resolved, DNS-SD): asked everything asked so far. */
  const addUnicast = (t: Target, via: FoundVia) => {
    const key = peerKey({ host: t.address, port: t.port });
    if (closed || unicast.has(key)) return;
    unicast.set(key, via);
    targets.push({ ...t, via });
    if (asked.size || helloing) void sendBuffers([whoDatagram], [t]).then((errs) => errs.forEach((e) => log?.debug(e)));
    if (asked.size) void sendTo([...asked.values()], [t]).then((errs) => errs.forEach((e) => log?.debug(e)));
    if (helloing) void sendBuffers([helloDatagram], [t]).then((errs) => errs.forEach((e) => log?.debug(e)));
  };

  for (const spec of p.statics) {
    resolveHost(spec, port).then(
      (t) => addUnicast(t, 'static'),
      (err: Error) => log?.warn(`static peer ${spec}: ${err.message.replace(/^-H \S+: /, '')}; skipping it`),
    );
  }
  let stopBrowse: (() => void) | undefined;
  if (p.mdnsOn.length) {
    // Loaded and started without delaying the first query; the browse ends with the discovery.
    void import('./mdns-browser.js').then(({ browseMdns }) => {
      if (closed) return;
      stopBrowse = browseMdns({
        addresses: p.mdnsOn,
        logger: log,
        onPeer: (peer) => {
          opts.onMdnsPeer?.(peer);
          addUnicast({ address: peer.address, port: peer.port }, 'mdns');
        },
      });
    });
  }

  const own = new Set((opts.ownAddresses ?? localAddresses()).map(withoutZone));
  const machines = new MachineIds();
  /** When each address not yet identified was last asked again. */
  const reasked = new Map<string, number>();
  /** Asks an address that answered but has not given its id (say, its id answer was lost) again. */
  const askAgain = (rinfo: RemoteInfo) => {
    const key = peerKey({ host: rinfo.address, port: rinfo.port });
    const now = performance.now();
    if (closed || machines.known(key) || now - (reasked.get(key) ?? -Infinity) < WHO_AGAIN_MS) return;
    if (reasked.size >= 4096) reasked.clear(); // bounded, whatever forged replies arrive
    reasked.set(key, now);
    void sendBuffers([whoDatagram], [{ address: rinfo.address, port: rinfo.port }]).then((errs) => errs.forEach((e) => log?.debug(e)));
  };
  const decode = (rinfo: RemoteInfo, v6: boolean, r: ReturnType<typeof decodeReply>): Reply | undefined => {
    if (!r.ok) {
      log?.debug({ from: rinfo.address, reason: r.reason }, 'ignored an invalid reply');
      return undefined;
    }
    const digests = r.digests.filter((d) => asked.has(formatDigest(d)));
    if (digests.length < r.digests.length) log?.debug({ from: rinfo.address }, 'ignored offers of digests we did not ask for');
    const peer = { host: rinfo.address, port: rinfo.port };
    return digests.length ? { peer, digests, via: viaOf(peer, v6) } : undefined;
  };
  // One 'message' listener per socket, each datagram decoded once, however many subscribe.
  const replies = replyStream();
  const partials = replyStream();
  const hereSubscribers = new Set<(p: { peer: Peer; via: FoundVia }) => void>();
  const viaOf = (peer: Peer, v6: boolean): FoundVia => unicast.get(peerKey(peer)) ?? (v6 ? 'multicast' : 'broadcast');
  const onMessage = (v6: boolean) => (msg: Buffer, rinfo: RemoteInfo) => {
    const id = decodeIdAnswer(msg);
    if (id !== undefined) {
      if (machines.claim(peerKey({ host: rinfo.address, port: rinfo.port }), id)) log?.debug({ from: rinfo.address, id }, 'instance id');
      return;
    }
    if (isHelloReply(msg)) {
      askAgain(rinfo);
      const peer = { host: rinfo.address, port: rinfo.port };
      for (const s of [...hereSubscribers]) s({ peer, via: viaOf(peer, v6) });
      return;
    }
    const r = decodeReply(msg);
    if (r.ok || r.reason !== 'bad-magic') {
      if (replies.size === 0) return;
      const reply = decode(rinfo, v6, r);
      if (!reply) return;
      askAgain(rinfo);
      replies.emit(reply);
      return;
    }
    if (partials.size === 0) return;
    if (own.has(withoutZone(rinfo.address))) return;
    const partial = decode(rinfo, v6, decodePartialReply(msg));
    if (!partial) return;
    askAgain(rinfo);
    partials.emit(partial);
  };
  socket.on('message', onMessage(false));
  socket6?.on('message', onMessage(true));

  return {
    hosts: p.hosts,
    targets: () => [
      ...targets.map((t) => `${peerKey({ host: t.address, port: t.port })} (${t.via})`),
      ...(p.mdnsOn.length ? [`DNS-SD (_0share._tcp) browsed from ${p.mdnsOn.join(', ')}`] : []),
    ],
    replies,
    partials,
    machineOf: (peer) => machines.machineOf(peerKey(peer)),
    here: {
      subscribe(onPeer) {
        const s = (x: { peer: Peer; via: FoundVia }) => onPeer(x);
        hereSubscribers.add(s);
        return { unsubscribe: () => void hereSubscribers.delete(s) };
      },
    },
    async hello() {
      helloing = true;
      if (closed || targets.length === 0) return;
      const errors = await sendBuffers([whoDatagram, helloDatagram], targets);
      for (const e of errors) log?.debug(e);
      if (errors.length === targets.length * 2) throw new Error(errors[0]);
    },
    send(digests) {
      for (const d of digests) {
        const k = formatDigest(d);
        asked.set(k, d);
        pending.set(k, d);
      }
      flush ??= new Promise<void>((r) => setImmediate(r)).then(flushNow);
      return flush;
    },
    close() {
      closed = true;
      stopBrowse?.();
      socket.close();
      socket6?.close();
    },
  };
}
