// One HTTP/1.1 exchange on a connection of its own, for the transfer routes (the whole tar and
// the swarm's pieces), read through one reused buffer (`net.connect`'s `onread`): a transfer of
// hundreds of megabytes allocates no buffer per read, which is what kept the garbage collector
// busy with Node's http client (a fresh 64 KiB buffer per socket read, each one external memory
// that asks V8 for a full collection). The body is handed on as views of that buffer, valid only
// during the callback; a callback that returns a promise holds the connection's input until it
// settles. The socket has one owner, the Exchange: `close()` (or the signal) destroys it.
import { connect, type Socket } from 'node:net';
import { BodyFramer, framingOf, headEnd, HttpResponseError, MAX_HEAD_BYTES, parseResponseHead, type ResponseHead } from '../core/http-response.js';

/** Bytes read from the socket at a time. */
const READ_BUFFER = 256 * 1024;

export interface ExchangeRequest {
  readonly host: string;
  readonly port: number;
  readonly method: 'GET' | 'POST';
  /** Already percent-encoded where needed. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: Buffer;
  readonly signal?: AbortSignal;
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
  /** Ends the exchange, closing the connection (idempotent). */
  close(): void;
}

const abortError = () => Object.assign(new Error('aborted'), { code: 'ABORT_ERR' });

function requestHead(req: ExchangeRequest): string {
  const host = req.host.split('%')[0]!; // no zone in a Host field
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${host.includes(':') ? `[${host}]` : host}:${req.port}`, 'Connection: close'];
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`);
  if (req.body) lines.push(`Content-Length: ${req.body.length}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Connects, sends the request and resolves with the answer's head; the body is read with `body()`. */
export function exchange(req: ExchangeRequest): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) return reject(abortError());
    let head: Buffer | undefined = Buffer.alloc(0);
    let framer: BodyFramer | undefined;
    /** Input not handed on yet: after the head, a copy; later, a view of the read buffer (no read happens while it is held). */
    let held: Buffer | undefined;
    let onData: ((piece: Buffer) => void | Promise<void>) | undefined;
    let settleBody: ((err?: Error) => void) | undefined;
    let failure: Error | undefined;
    let connected = false;
    /** The peer closed its side; the body ends once the input before it is handed on. */
    let eof = false;
    let closed = false;

    const close = () => {
      if (closed) return;
      closed = true;
      req.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
    };
    /** The one place an exchange ends badly: before the head the promise rejects, after it the body does. */
    const fail = (err: Error) => {
      if (failure) return;
      failure = err;
      close();
      if (!framer) reject(err);
      else settleBody?.(err);
    };
    const onAbort = () => fail(abortError());
    const succeed = () => {
      close();
      settleBody?.();
    };

    /** Every input so far was handed on: the body ends at the peer's close, or reading goes on. */
    const drained = () => {
      if (!eof) return socket.resume();
      try {
        framer!.end();
        succeed();
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
          succeed();
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

    const onRead = (n: number, buf: Buffer): boolean => {
      if (failure) return false;
      const input = buf.subarray(0, n);
      if (framer) return deliver(input);
      // Still in the head: collect it (copied: the read buffer is reused).
      head = Buffer.concat([head!, input]);
      const end = headEnd(head);
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) fail(new ExchangeError('answered with an over-long HTTP head', 0));
        return !failure;
      }
      let parsed: ResponseHead;
      try {
        parsed = parseResponseHead(head.subarray(0, end));
        framer = new BodyFramer(framingOf(parsed, req.method));
      } catch (err) {
        fail(new ExchangeError((err as Error).message, 0));
        return false;
      }
      // What came with the head waits until body() is called; reading stops meanwhile.
      held = head.subarray(end);
      head = undefined;
      resolve({ status: parsed.status, headers: parsed.headers, body, close });
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
        if (framer!.done) return succeed();
        const h = held!;
        held = undefined;
        if (deliver(h)) drained();
      });

    const socket: Socket = connect({
      host: req.host,
      port: req.port,
      onread: { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: onRead },
    });
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      socket.write(requestHead(req));
      if (req.body) socket.write(req.body);
    });
    socket.on('end', () => {
      eof = true;
      if (!framer) return fail(new ExchangeError('closed the connection before answering', 0));
      // Reading on means nothing is held: the end is now; else drained() sees it.
      if (onData && held === undefined && !failure && !closed) drained();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) fail(new ConnectError(err.message, err.code));
      else fail(new ExchangeError(err.message, framer?.received ?? 0, err.code));
    });
    socket.on('close', () => {
      // After the peer's end, drained() settles the body; a close without one is a break.
      if (!closed && !eof) fail(new ExchangeError('the connection closed', framer?.received ?? 0));
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
