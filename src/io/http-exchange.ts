// One HTTP/1.1 exchange, for the transfer routes (the whole tar and the swarm's pieces), on a
// ./http-connection.ts (one reused read buffer: a transfer of hundreds of megabytes allocates no
// buffer per read, which is what kept the garbage collector busy with Node's http client). The
// body is handed on as views of that buffer, valid only during the callback; a callback that
// returns a promise holds the connection's input until it settles. Without a pool the exchange
// has a connection of its own, closed when it ends (`Connection: close`). With one (keep-alive)
// the connection comes from the pool when it has one idle for the peer and goes back to it once
// the answer was complete, well framed, HTTP/1.1 without `Connection: close`, and nothing came
// after it; anything else closes it. A request on a pooled connection that the peer had closed
// meanwhile (no byte of an answer) is sent again once on a new connection. The connection has
// one owner at a time: the Exchange until it ends (`close()` or the signal destroys it), then
// the pool.
import { BodyFramer, framingOf, headEnd, HttpResponseError, keepsConnection, MAX_HEAD_BYTES, parseResponseHead, type ResponseHead } from '../core/http-response.js';
import type { ConnectionPool } from './connection-pool.js';
import { Connection } from './http-connection.js';

export interface ExchangeRequest {
  readonly host: string;
  readonly port: number;
  readonly method: 'GET' | 'POST';
  /** Already percent-encoded where needed. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: Buffer;
  readonly signal?: AbortSignal;
  /** Keep-alive: where the connection comes from and goes back to (see above). */
  readonly pool?: ConnectionPool;
}

/** The connection could not be made (the code says why: ECONNREFUSED, EHOSTUNREACH…). */
export class ConnectError extends Error {
  override name = 'ConnectError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The answer broke off or was not HTTP; `received` is the body bytes handed on before. */
export class ExchangeError extends Error {
  override name = 'ExchangeError';
  constructor(
    message: string,
    readonly received: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface Exchange extends ResponseHead {
  /**
   * Hands on the body, piece by piece (views valid only during the call; a returned promise
   * holds the input until it settles, and a rejection ends the exchange with it); resolves once
   * the body is complete. Call once.
   */
  body(onData: (piece: Buffer) => void | Promise<void>): Promise<void>;
  /** Ends the exchange, closing the connection unless it already went back to the pool (idempotent). */
  close(): void;
}

/** A pooled connection the peer had closed before it answered: the request goes again on a new one. */
class StaleConnection extends Error {}

const abortError = () => Object.assign(new Error('aborted'), { code: 'ABORT_ERR' });

function requestHead(req: ExchangeRequest): string {
  const host = req.host.split('%')[0]!; // no zone in a Host field
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${host.includes(':') ? `[${host}]` : host}:${req.port}`];
  if (!req.pool) lines.push('Connection: close');
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`);
  if (req.body) lines.push(`Content-Length: ${req.body.length}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Sends the request (on a pooled connection if there is one) and resolves with the answer's head; the body is read with `body()`. */
export function exchange(req: ExchangeRequest): Promise<Exchange> {
  if (req.signal?.aborted) return Promise.reject(abortError());
  const idle = req.pool?.take(req.host, req.port);
  if (!idle) return exchangeOn(new Connection(req.host, req.port), false, req);
  return exchangeOn(idle, true, req).catch((err: unknown) => {
    if (err instanceof StaleConnection) return exchangeOn(new Connection(req.host, req.port), false, req);
    throw err;
  });
}

function exchangeOn(conn: Connection, reused: boolean, req: ExchangeRequest): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    /** The head allows the connection another request once the body is complete. */
    let keepable = false;
    let framer: BodyFramer | undefined;
    /** Input not handed on yet: a view of the read buffer (no read happens while it is held), or of the head's copy. */
    let held: Buffer | undefined;
    let onData: ((piece: Buffer) => void | Promise<void>) | undefined;
    let settleBody: ((err?: Error) => void) | undefined;
    let failure: Error | undefined;
    /** Some byte of the answer arrived. */
    let answered = false;
    /** The whole request was written. */
    let sent = false;
    /** The peer closed its side; the body ends once the input before it is handed on. */
    let eof = false;
    /** The exchange is over: the connection was closed or given back to the pool. */
    let ended = false;

    /** The one place the exchange lets go of its connection: back to the pool when `keep`, else closed. */
    const end = (keep: boolean) => {
      if (ended) return;
      ended = true;
      req.signal?.removeEventListener('abort', onAbort);
      if (keep && req.pool) req.pool.give(conn);
      else conn.destroy();
    };
    const close = () => end(false);
    /** The one place an exchange ends badly: before the head the promise rejects, after it the body does. */
    const fail = (err: Error) => {
      if (failure) return;
      failure = err;
      end(false);
      if (framer) settleBody?.(err);
      else reject(reused && !answered && !req.signal?.aborted ? new StaleConnection(err.message) : err);
    };
    const onAbort = () => fail(abortError());
    /** The body is complete; `extra`: more input came after it (not a connection to reuse). */
    const succeed = (extra: boolean) => {
      end(keepable && !extra && sent && !eof);
      settleBody?.();
    };

    /** Every input so far was handed on: the body ends at the peer's close, or reading goes on. */
    const drained = () => {
      if (!eof) return conn.resume();
      try {
        framer!.end();
        succeed(false);
      } catch (err) {
        fail(new ExchangeError((err as Error).message, framer!.received));
      }
    };

    /** Hands on what it can of `input`; true when all of it went (reading may go on). */
    const deliver = (input: Buffer): boolean => {
      let rest = input;
      while (rest.length && !failure) {
        let pending: Promise<void> | undefined;
        try {
          const used = framer!.push(rest, (piece) => {
            const r = onData!(piece);
            if (r) {
              pending = r;
              return false;
            }
          });
          rest = rest.subarray(used);
        } catch (err) {
          fail(err instanceof HttpResponseError ? new ExchangeError(err.message, framer!.received) : (err as Error));
          return false;
        }
        if (framer!.done) {
          succeed(rest.length > 0);
          return false;
        }
        if (pending) {
          held = rest;
          pending.then(() => {
            if (failure) return;
            const h = held!;
            held = undefined;
            if (deliver(h)) drained();
          }, fail);
          return false;
        }
      }
      return !failure;
    };

    const read = (input: Buffer): boolean => {
      if (failure) return false;
      answered = true;
      if (framer) return deliver(input);
      // Still in the head. Most heads come whole in their first read: that input is used as it is.
      // A head split over reads is collected (copied: the read buffer is reused by the next read).
      const data = head!.length ? Buffer.concat([head!, input]) : input;
      const end = headEnd(data);
      if (end < 0) {
        head = Buffer.from(data);
        if (head.length > MAX_HEAD_BYTES) fail(new ExchangeError('answered with an over-long HTTP head', 0));
        return !failure;
      }
      let parsed: ResponseHead;
      try {
        parsed = parseResponseHead(data.subarray(0, end));
        const framing = framingOf(parsed, req.method);
        framer = new BodyFramer(framing);
        keepable = keepsConnection(parsed, framing);
      } catch (err) {
        fail(new ExchangeError((err as Error).message, 0));
        return false;
      }
      // What came with the head waits until body() is called: reading stops meanwhile (false),
      // so the read buffer that `held` may view is not written again before it is handed on.
      held = data.subarray(end);
      head = undefined;
      resolve({ status: parsed.status, version: parsed.version, headers: parsed.headers, body, close });
      return false;
    };

    const body = (cb: (piece: Buffer) => void | Promise<void>): Promise<void> =>
      new Promise<void>((res, rej) => {
        onData = cb;
        settleBody = (err) => {
          settleBody = undefined;
          if (err) rej(err);
          else res();
        };
        if (failure) return settleBody(failure);
        const h = held!;
        held = undefined;
        if (framer!.done) return succeed(h.length > 0);
        if (deliver(h)) drained();
      });

    req.signal?.addEventListener('abort', onAbort, { once: true });
    conn.attach({
      connected: () => {
        const whole = () => (sent = true);
        conn.write(requestHead(req), req.body ? undefined : whole);
        if (req.body) conn.write(req.body, whole);
      },
      read,
      end: () => {
        eof = true;
        if (!framer) return fail(new ExchangeError('closed the connection before answering', 0));
        // Reading on means nothing is held: the end is now; else drained() sees it.
        if (onData && held === undefined && !failure && !ended) drained();
      },
      error: (err) => {
        if (!conn.connected) fail(new ConnectError(err.message, err.code));
        else fail(new ExchangeError(err.message, framer?.received ?? 0, err.code));
      },
      // After the peer's end, drained() settles the body; a close without one is a break.
      closed: () => {
        if (!eof) fail(new ExchangeError('the connection closed', framer?.received ?? 0));
      },
    });
  });
}
