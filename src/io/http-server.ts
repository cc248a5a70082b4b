// The peer's HTTP side: owns the TCP server on --bind/--port. Each request runs one server
// session machine; this adapter feeds it the socket's events and carries out its decisions:
// stream the tree as (gzipped) tar, the .manifest, the mtimes of its directories and symlinks, or the pieces a swarm client asks for with backpressure, write the rejection, or
// destroy the response, or write a page about the peer (`/`, `/stats`) that `page` renders.
// It counts uploads and requests in a PeerStats for those pages. A connection's requests run one
// after another (pipelining) within one upload slot (./connection-queue.ts). It also caps
// connections per source and sets the timeouts that keep slow or silent clients (slowloris,
// readers that stop) from holding the server.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlib, createGzip } from 'node:zlib';
import { createActor } from 'xstate';
import { ByteRate } from '../core/byte-rate.js';
import { formatDigest } from '../core/digest.js';
import { isPageRoute, methodsOf } from '../core/http-route.js';
import { showNetworkToken } from '../core/quote.js';
import { UploadSlots } from '../core/upload-slots.js';
import {
  type BodyEvents,
  type BodyRequest,
  type ServerSessionOutput,
  type ServerSessionPorts,
  serverSessionMachine,
} from '../machines/server-session.machine.js';
import { ChunkPool } from './chunk-pool.js';
import { ConnectionQueue } from './connection-queue.js';
import type { Logger } from './logger.js';
import { ResponseSink, type Throttle } from './response-sink.js';
import { decodePieceList, MAX_PIECE_LIST, PieceListError } from '../core/piece-list.js';
import { answerPage, type RenderPage } from './page-response.js';
import { readBody } from './request-body.js';
import type { PeerStats } from './peer-stats.js';
import { openManifest, resolveServed } from './served-implementation.js';
import { treeMtimes } from './served-mtimes.js';
import { type PieceBody, readPieces } from './piece-reader.js';
import { checkPieces, PieceRefusal } from './served-pieces.js';
import { packTree, READ_CHUNK } from './tar-pack.js';

export interface HttpServerOptions {
  port: number;
  bind: string;
  stores: readonly string[];
  isAllowed: (address: string) => boolean;
  /** Uploads served at once; more get 503 with Retry-After, and so does a source over its fair share while others wait. */
  maxUploads: number;
  /** Bytes per second for all uploads together (a token bucket on the response streams); default unlimited. */
  maxUploadRate?: number;
  logger: Logger;
  /** ms a response may go without the client taking any bytes before it is dropped. */
  stallTimeout?: number;
  /** Open connections allowed from one address; more are closed at once. */
  maxConnectionsPerSource?: number;
  /** Where uploads and requests are counted. */
  stats: PeerStats;
  /** Renders a page route: the peer's pages, and the local fetch records. */
  page: RenderPage;
}

export interface HttpServer {
  readonly server: Server;
  readonly port: number;
  /** Uploads in progress. */
  uploads(): number;
  close(): Promise<void>;
}

const RETRY_AFTER_SECONDS = 2;
/** A session's stall timer hears of a response's progress at most this often (ms), not at every chunk. */
const PROGRESS_MS = 100;
/** Idle read buffers kept for reuse (of READ_CHUNK bytes each). */
const POOLED_CHUNKS = 32;

const REASONS: Record<number, string> = {
  400: 'Bad request: the digest must be sha256new_…, sha256=…, sha1new=… or sha1=… (a store directory name), and the only query is ?format=tar',
  403: 'Forbidden: this peer does not serve your address (see its --allow)',
  404: 'Not found: this peer serves only /implementation/<digest>, /implementation/<digest>/manifest, /implementation/<digest>/mtimes, /implementation/<digest>/files and /implementation/<digest>/have of what it has, its status page / and /stats',
  409: 'Conflict: this peer has not verified that file yet; ask its /have again later',
  405: 'Method not allowed: only GET and HEAD (POST for /implementation/<digest>/files and /local/fetches)',
  500: 'Internal error: the peer could not read its stores',
  503: 'Busy: too many uploads in progress, or your address has its fair share of them while others wait; try another peer or again shortly',
};

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The swarm route: the pieces the body lists, concatenated, with their total as Content-Length
 * (refused with 400/404/409 before any byte; see piece-reader.ts for a longer list's later files).
 */
async function sendPieces(msg: IncomingMessage, res: ServerResponse, req: BodyRequest, events: BodyEvents, pool: ChunkPool, throttle?: Throttle): Promise<number | undefined> {
  const body = await readBody(msg, MAX_PIECE_LIST, req.signal);
  let total: number;
  let pieces: PieceBody;
  try {
    if (!body) throw new PieceListError(`the piece list is larger than ${MAX_PIECE_LIST} bytes`);
    const prepared = await checkPieces(req.found.dir, decodePieceList(body), req.found.partial);
    total = prepared.total;
    pieces = readPieces(req.found.dir, prepared.checked, { pool, signal: req.signal });
    await pieces.ready;
  } catch (err) {
    if (err instanceof PieceListError) events.refused(400, `bad piece list: ${err.message}`);
    else if (err instanceof PieceRefusal) events.refused(err.status, err.message);
    else throw err;
    return undefined;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total, 'X-0share-Digest': formatDigest(req.digest) });
  const sink = new ResponseSink(res, events.progress, pool, throttle);
  await pipeline(pieces.body, sink, { signal: req.signal });
  return sink.bytes;
}

/** Writes the 200 response for a session (headers, then the body unless HEAD). */
function sendBody(msg: IncomingMessage, res: ServerResponse, req: BodyRequest, events: BodyEvents, pool: ChunkPool, throttle?: Throttle): void {
  const run = async (): Promise<number | undefined> => {
    if (req.kind === 'files') return sendPieces(msg, res, req, events, pool, throttle);
    if (req.kind === 'manifest' && req.found.partial) {
      // A partial holder's manifest as it was verified (its hash is the digest).
      const bytes = Buffer.from(req.found.partial.manifest);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': bytes.length });
      const sink = new ResponseSink(res, events.progress, undefined, throttle);
      if (req.head) res.end();
      else await pipeline(Readable.from([bytes]), sink, { signal: req.signal });
      return sink.bytes;
    }
    if (req.kind === 'mtimes') {
      const body = await treeMtimes(req.found.dir, req.signal);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
      const sink = new ResponseSink(res, events.progress, undefined, throttle);
      if (req.head) res.end();
      else await pipeline(Readable.from([body]), sink, { signal: req.signal });
      return sink.bytes;
    }
    if (req.kind === 'manifest') {
      const sink = new ResponseSink(res, events.progress, undefined, throttle);
      const m = await openManifest(req.found.dir);
      if (!m) throw new Error('.manifest vanished');
      try {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': m.size });
        if (req.head) res.end();
        else await pipeline(m.handle.createReadStream({ autoClose: false }), sink, { signal: req.signal });
      } finally {
        await m.handle.close();
      }
      return sink.bytes;
    }
    const headers: Record<string, string | number> = {
      'Content-Type': req.plainTar ? 'application/x-tar' : 'application/x-compressed-tar',
      'X-0share-Digest': formatDigest(req.digest),
    };
    if (req.found.size !== undefined) headers['X-0share-Size'] = req.found.size;
    res.writeHead(200, headers);
    if (req.head) {
      res.end();
      return 0;
    }
    // Chunks reach the sink (or gzip) as they were read, so their buffers go back to the pool.
    const tar = packTree(req.found.dir, { signal: req.signal, pool });
    if (req.plainTar) {
      const sink = new ResponseSink(res, events.progress, pool, throttle);
      await pipeline(tar, sink, { signal: req.signal });
      return sink.bytes;
    }
    const gzip = createGzip({ level: zlib.Z_BEST_SPEED });
    const sink = new ResponseSink(res, events.progress, undefined, throttle);
    await Promise.all([pipeline(tar, new ResponseSink(gzip, () => {}, pool), { signal: req.signal }), pipeline(gzip, sink, { signal: req.signal })]);
    return sink.bytes;
  };
  run().then(
    (bytes) => bytes !== undefined && events.finished(bytes),
    (err: unknown) => events.failed(messageOf(err)),
  );
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const log = opts.logger;
  const stallTimeout = opts.stallTimeout ?? 30_000;
  const perSourceCap = opts.maxConnectionsPerSource ?? 64;
  // A source turned away for want of a slot counts as waiting for a little longer than the
  // Retry-After it was given.
  const slots = new UploadSlots({ maxUploads: opts.maxUploads, waitingMs: RETRY_AFTER_SECONDS * 2500 });
  const rate = opts.maxUploadRate ? new ByteRate(opts.maxUploadRate) : undefined;
  const throttle: Throttle | undefined = rate && ((bytes) => rate.spend(bytes, performance.now()));
  // The read buffers of every upload (tar and pieces), each given back once the socket wrote it.
  const pool = new ChunkPool(READ_CHUNK, POOLED_CHUNKS);

  const acquireUpload = (peer: string) => {
    const admission = slots.admit(peer, performance.now());
    if (!admission.ok) return admission.reason;
    let released = false;
    return () => {
      if (!released) slots.release(peer);
      released = true;
    };
  };

  type Queue = ConnectionQueue<'full' | 'share'>;
  /** Runs one request's session; `done` once it has ended, so the connection's next request may start. */
  const serveRequest = (req: IncomingMessage, res: ServerResponse, queue: Queue, done: () => void) => {
    const started = performance.now();
    const peer = req.socket.remoteAddress ?? '';
    const peerText = `${peer}:${req.socket.remotePort ?? 0}`;
    const target = req.url ?? '';
    const method = req.method ?? '';
    const shownTarget = showNetworkToken(target);
    let upload: number | undefined;
    const ports: ServerSessionPorts = {
      isAllowed: opts.isAllowed,
      resolve: (digest, kind) => resolveServed(opts.stores, digest, kind),
      acquireUpload: () => queue.acquireUpload(),
      sendBody: (body, events) => {
        const what = formatDigest(body.digest) + (body.kind === 'tree' ? '' : `/${body.kind}`);
        const id = (upload = opts.stats.beginUpload(peerText, what, body.kind === 'tree' ? body.found.size : undefined));
        // The upload ends in the stats when the session does (finish), whatever ended it.
        let told = -Infinity;
        const counted: BodyEvents = {
          ...events,
          progress: (bytes) => {
            opts.stats.progress(id, bytes);
            // Each event re-arms the session's stall timer: one every PROGRESS_MS is plenty.
            const now = performance.now();
            if (now - told < PROGRESS_MS) return;
            told = now;
            events.progress(bytes);
          },
        };
        sendBody(req, res, body, counted, pool, throttle);
      },
      sendPage: (page) => answerPage(req, res, page, opts.page),
    };
    const actor = createActor(serverSessionMachine, {
      input: { method, target, peer, wantsPlainTar: req.headers['x-0share-encoding'] === 'tar', stallTimeout, ports },
    });
    const finish = (out: ServerSessionOutput) => {
      if (out.outcome === 'rejected' && !res.headersSent && !res.destroyed) {
        const headers: Record<string, string | number> = { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' };
        if (out.status === 405) headers.Allow = methodsOf(out.route).join(', ');
        if (out.status === 503) headers['Retry-After'] = RETRY_AFTER_SECONDS;
        res.writeHead(out.status, headers);
        // A refused piece list says what was wrong with it; other rejections have a fixed text.
        const pieces = out.route.ok && out.route.kind === 'files' && (out.status === 404 || out.status === 400 || out.status === 409);
        res.end(`${(pieces && out.reason) || REASONS[out.status] || out.reason || ''}\n`);
      } else if (out.outcome === 'aborted') {
        res.destroy();
      }
      const ms = Math.round(performance.now() - started);
      if (upload !== undefined) opts.stats.endUpload(upload, out.bytes);
      const note = out.outcome === 'done' ? undefined : out.outcome === 'rejected' ? out.reason : `${out.outcome}: ${out.reason ?? ''}`;
      const view = { at: Date.now(), method: method.slice(0, 16), target: target.slice(0, 200), status: out.status, bytes: out.bytes, ms, peer: peerText, note };
      // The status page's own refreshes would push everything else out of the recent list.
      opts.stats.request(view, !(out.outcome === 'done' && isPageRoute(out.route)));
      const line = `${method} ${shownTarget} ${out.status} ${out.bytes} bytes ${ms} ms from ${peerText}`;
      // Pages (a swarm polls /have twice a second) are logged only with --debug.
      if (out.outcome === 'done') (isPageRoute(out.route) ? log.debug : log.info).call(log, line);
      else log.info(`${line} (${out.outcome}: ${out.reason ?? ''})`);
    };
    actor.subscribe({
      complete: () => {
        finish(actor.getSnapshot().output!);
        done();
      },
      error: (err) => {
        log.error({ err }, `Session for ${method} ${shownTarget} from ${peerText} failed: ${messageOf(err)}`);
        res.destroy();
        if (upload !== undefined) opts.stats.endUpload(upload);
        done();
      },
    });
    res.on('close', () => {
      if (!res.writableFinished) actor.send({ type: 'CLIENT_CLOSED' });
    });
    actor.start();
  };

  // Pipelined requests on one connection wait for the ones before them (one upload slot each connection).
  const queues = new WeakMap<Socket, Queue>();
  const queueOf = (socket: Socket): Queue => {
    let queue = queues.get(socket);
    if (!queue) {
      const source = socket.remoteAddress ?? '';
      queue = new ConnectionQueue(socket, () => acquireUpload(source));
      queues.set(socket, queue);
    }
    return queue;
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const queue = queueOf(req.socket);
    queue.enqueue((done) => serveRequest(req, res, queue, done));
  };

  const server = createServer(
    {
      // How often Node enforces headersTimeout/requestTimeout (default 30 s).
      connectionsCheckingInterval: 1000,
      maxHeaderSize: 8 * 1024,
      requireHostHeader: false,
    },
    handle,
  );
  // Against slowloris: headers must be complete within 10 s, a request within 20 s; idle
  // keep-alive connections close after 5 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 20_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 64;
  // Requests on one connection, pipelined ones included (Node answers more with 503 and closes).
  server.maxRequestsPerSocket = 1000;
  server.maxConnections = 2048;

  const perSource = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? '';
    const n = (perSource.get(addr) ?? 0) + 1;
    perSource.set(addr, n);
    socket.once('close', () => {
      const left = (perSource.get(addr) ?? 1) - 1;
      if (left > 0) perSource.set(addr, left);
      else perSource.delete(addr);
    });
    if (n > perSourceCap) {
      log.debug(`Closing connection from ${addr}: over ${perSourceCap} connections from one address`);
      socket.destroy();
    }
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    // Malformed requests get a 400; timeouts (slowloris) and resets just lose the connection.
    log.debug(`Bad HTTP from ${socket.remoteAddress ?? '?'}: ${err.code ?? err.message}`);
    if (socket.writable && err.code?.startsWith('HPE_')) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  server.listen(opts.port, opts.bind);
  await once(server, 'listening');
  server.on('error', (err) => log.warn({ err }, `HTTP server error: ${err.message}`));

  return {
    server,
    port: (server.address() as AddressInfo).port,
    uploads: () => slots.active,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
