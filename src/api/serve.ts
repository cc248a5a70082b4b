// The peer as a library call: `serve(opts)` answers UDP queries and serves implementations over
// HTTP on the same port number, read-only from the given stores, until `close()`; its status
// page (`/`) and `/stats` show what it serves and is serving, and it keeps the fetch records that
// processes on this machine report (`/local/fetches`, for `0share why`). Listening on
// every address (the default), it also answers over IPv6 (unicast and the ff02::95c3 group),
// advertises itself over DNS-SD, and follows interfaces that come and go (polled every few
// seconds): it joins the group and the mDNS group on new ones and leaves those gone.
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { allowList, DEFAULT_ALLOW, parseCidr } from '../core/cidr.js';
import { type DiscoveryInterface, interfacesSignature, ipv6Interfaces } from '../core/interfaces.js';
import { DEFAULT_PORT } from '../core/protocol.js';
import { readSkipIfaces } from '../io/config-files.js';
import { startHttpServer } from '../io/http-server.js';
import { watchInterfaces } from '../io/interfaces.js';
import { listenIpv6 } from '../io/ipv6-listener.js';
import { type Logger, silentLogger } from '../io/logger.js';
import { startMdnsAdvertiser } from '../io/mdns-advertiser.js';
import { LocalFetches } from '../io/local-fetches.js';
import type { RenderPage } from '../io/page-response.js';
import { PeerStats } from '../io/peer-stats.js';
import { defaultStores, listImplementations } from '../io/stores.js';
import { startUdpResponder, type UdpStats } from '../io/udp-responder.js';
import { VERSION } from '../io/version.js';
import { keepRecord, recordOf } from './local-records.js';
import { havePage, statusPage, type StatusSources } from './status.js';

export interface ServeOptions {
  /** UDP and TCP port; 0 picks a free TCP port and uses its number for UDP too. Default 38339. */
  port?: number;
  /** Address to listen on. Default 0.0.0.0. */
  bind?: string;
  /** Stores to serve from, read-only. Default: 0install's stores. */
  stores?: readonly string[];
  /** CIDRs allowed to query and download. Default: private, link-local and loopback. */
  allow?: readonly string[];
  /** Uploads at once; more get 503, and so does a source over its fair share while others wait. Default 8. */
  maxUploads?: number;
  /** Bytes per second for all uploads together. Default unlimited. */
  maxUploadRate?: number;
  /** ms a download may go without the client taking bytes before it is dropped. Default 30 s. */
  stallTimeout?: number;
  /** Interface name patterns not to advertise or listen for multicast on, besides docker*, br-*, veth*… and the config file's. */
  skipIfaces?: readonly string[];
  /** Advertise over DNS-SD (default true; only when listening on every address). */
  mdns?: boolean;
  /** ms between looks at the interfaces (default 3000). */
  interfacePoll?: number;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface ServeHandle {
  readonly address: { address: string; port: number };
  readonly udpStats: UdpStats;
  /** Uploads, bytes served and recent requests, as the status page shows them. */
  readonly stats: PeerStats;
  /** Uploads in progress. */
  uploads(): number;
  /** Stops listening, drops open connections and closes both sockets. */
  close(): Promise<void>;
}

export async function serve(opts: ServeOptions = {}): Promise<ServeHandle> {
  const log = opts.logger ?? silentLogger();
  const bind = opts.bind ?? '0.0.0.0';
  const stores = opts.stores ?? defaultStores();
  const allowText = opts.allow && opts.allow.length > 0 ? opts.allow : DEFAULT_ALLOW;
  const isAllowed = allowList(allowText.map(parseCidr));
  const maxUploads = opts.maxUploads ?? 8;
  if (!Number.isInteger(maxUploads) || maxUploads < 1) throw new RangeError(`maxUploads must be a positive integer, not ${maxUploads}`);

  const maxUploadRate = opts.maxUploadRate;
  if (maxUploadRate !== undefined && !(maxUploadRate > 0)) throw new RangeError(`maxUploadRate must be positive, not ${maxUploadRate}`);
  const port = opts.port ?? DEFAULT_PORT;
  const stats = new PeerStats();
  const fetches = new LocalFetches();
  const sources: StatusSources = {
    stats,
    stores,
    limits: { maxUploads, maxUploadRate },
    fetches: () => ({ inProgress: fetches.inProgress(Date.now()), bytesReceived: fetches.bytesReceived }),
  };
  const page: RenderPage = async (route, body) => {
    if (route.kind === 'local-report') return keepRecord(fetches, body ?? '');
    if (route.kind === 'local-fetch') return recordOf(fetches, route.digest);
    if (route.kind === 'have') return havePage(stores, route.digest, route.fetching);
    return statusPage(sources, route.kind);
  };
  const start = async () => {
    const http = await startHttpServer({ port, bind, stores, isAllowed, maxUploads, maxUploadRate, logger: log, stallTimeout: opts.stallTimeout, stats, page });
    try {
      return { http, udp: await startUdpResponder({ port: http.port, bind, stores, isAllowed, logger: log, ipv6: bind === '0.0.0.0' }) };
    } catch (err) {
      await http.close();
      throw err;
    }
  };
  // With port 0 the free TCP port may be taken for UDP by someone else: try another.
  let started: Awaited<ReturnType<typeof start>> | undefined;
  for (let attempt = 1; !started; attempt++) {
    try {
      started = await start();
    } catch (err) {
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
  const { http, udp } = started;
  const wildcard = bind === '0.0.0.0' || bind === '::';
  // [::] already takes IPv4 too; 0.0.0.0 gets an IPv6-only companion.
  const http6 = bind === '0.0.0.0' ? await listenIpv6(http.server, http.port, log) : undefined;

  // Interfaces: the IPv6 group and DNS-SD follow them as they come and go. Bound to one address,
  // the peer advertises on that address's interface only (and gets no broadcasts or multicast).
  let implementations = 0;
  let countedAt = 0;
  const count = () => {
    countedAt = Date.now();
    return listImplementations(stores).then(
      (l) => void (implementations = l.length),
      () => undefined,
    );
  };
  // The count advertised is at most a few seconds old (recounted in the background when asked).
  const advert = () => {
    if (Date.now() - countedAt > 5_000) void count();
    return { host: hostname(), port: http.port, version: VERSION, implementations };
  };
  const skip = [...(opts.skipIfaces ?? []), ...readSkipIfaces(opts.env, log)];
  const served = (now: readonly DiscoveryInterface[]): DiscoveryInterface[] =>
    wildcard ? [...now] : now.filter((i) => i.ipv4.some((a) => a.address === bind)).map((i) => ({ ...i, ipv4: i.ipv4.filter((a) => a.address === bind), ipv6: [] }));
  let mdns: Awaited<ReturnType<typeof startMdnsAdvertiser>>;
  const follow = (now: readonly DiscoveryInterface[]) => {
    udp.joinGroups(ipv6Interfaces(now));
    mdns?.setInterfaces(now);
  };
  const loopback = /^(127\.|::1$|localhost$)/.test(bind);
  const watch = loopback
    ? undefined
    : watchInterfaces(
        skip,
        (now) => {
          log.info(`Interfaces changed: ${interfacesSignature(now) || 'none'}`);
          follow(served(now));
        },
        opts.interfacePoll,
      );
  if (watch) {
    await count();
    const now = served(watch.current());
    udp.joinGroups(ipv6Interfaces(now));
    if (opts.mdns !== false) mdns = await startMdnsAdvertiser({ advert, ifaces: now, logger: log });
  }

  for (const store of stores) {
    const exists = await access(store).then(() => true, () => false);
    log.info(`Serving implementations from ${store}${exists ? '' : ' (does not exist yet)'}`);
  }
  const where = udp.ipv6 && http6 ? `${bind} and [::]` : bind;
  log.info(`Listening on ${where} port ${http.port} (UDP queries, HTTP downloads), answering ${allowText.join(', ')}`);

  return {
    address: { address: bind, port: http.port },
    udpStats: udp.stats,
    stats,
    uploads: http.uploads,
    close: async () => {
      watch?.stop();
      await Promise.all([http.close(), udp.close(), http6?.close(), mdns?.close()]);
    },
  };
}
