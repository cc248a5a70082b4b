// The peer as a library call: `serve(opts)` answers UDP queries and serves implementations over
// HTTP on the same port number, read-only from the given stores, until `close()`; its status
// page (`/`) and `/stats` show what it serves and is serving.
import { access } from 'node:fs/promises';
import { allowList, DEFAULT_ALLOW, parseCidr } from '../core/cidr.js';
import { DEFAULT_PORT } from '../core/protocol.js';
import { startHttpServer } from '../io/http-server.js';
import { type Logger, silentLogger } from '../io/logger.js';
import { PeerStats } from '../io/peer-stats.js';
import { defaultStores } from '../io/stores.js';
import { startUdpResponder, type UdpStats } from '../io/udp-responder.js';
import { statusPage, type StatusSources } from './status.js';

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
  const sources: StatusSources = { stats, stores, limits: { maxUploads, maxUploadRate } };
  const page = (kind: 'status' | 'stats') => statusPage(sources, kind);
  const start = async () => {
    const http = await startHttpServer({ port, bind, stores, isAllowed, maxUploads, maxUploadRate, logger: log, stallTimeout: opts.stallTimeout, stats, page });
    try {
      return { http, udp: await startUdpResponder({ port: http.port, bind, stores, isAllowed, logger: log }) };
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

  for (const store of stores) {
    const exists = await access(store).then(() => true, () => false);
    log.info(`Serving implementations from ${store}${exists ? '' : ' (does not exist yet)'}`);
  }
  log.info(`Listening on ${bind} port ${http.port} (UDP queries, HTTP downloads), answering ${allowText.join(', ')}`);

  return {
    address: { address: bind, port: http.port },
    udpStats: udp.stats,
    stats,
    uploads: http.uploads,
    close: async () => {
      await Promise.all([http.close(), udp.close()]);
    },
  };
}
