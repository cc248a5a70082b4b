// The transfer routes' HTTP client (io/http-exchange.ts) against raw TCP servers on loopback:
// the request it writes, bodies framed by Content-Length, chunked and the close, a callback that
// holds the input (the reused read buffer is not overwritten meanwhile: every byte of a large
// body arrives intact; so do the body bytes that came with the head, held as a view of that buffer
// until body() is called), a head split over reads, and each way an exchange ends badly: refused connection, a close before
// the head, a body cut short, a malformed head, an abort.
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectError, exchange, ExchangeError } from '../../src/io/http-exchange.js';

const servers: Array<{ close(): unknown }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A raw TCP server: `onRequest` gets the request bytes once their head (and declared body) is in. */
async function raw(onRequest: (sock: Socket, request: string) => void): Promise<number> {
  const srv: Server = createServer((sock) => {
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(got)?.[1] ?? 0);
      if (got.length >= end + 4 + len) onRequest(sock, got);
    });
    sock.on('error', () => {});
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as AddressInfo).port;
}

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 10)) & 0xff));

async function collect(port: number, hold?: (n: number) => Promise<void> | undefined, method: 'GET' | 'POST' = 'GET', body?: Buffer) {
  const ex = await exchange({ host: '127.0.0.1', port, method, path: '/x', body });
  const parts: Buffer[] = [];
  let n = 0;
  await ex.body((piece) => {
    parts.push(Buffer.from(piece));
    return hold?.(n++);
  });
  return { status: ex.status, headers: ex.headers, body: Buffer.concat(parts) };
}

describe('exchange', () => {
  it('writes the request (method, path, Host, Content-Length, body) and reads a Content-Length body', async () => {
    let seen = '';
    const port = await raw((sock, req) => {
      seen = req;
      sock.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-0share-Size: 9\r\n\r\nhello');
    });
    const r = await collect(port, undefined, 'POST', Buffer.from('0 3 a\n'));
    expect(r.status).toBe(200);
    expect(r.headers.get('x-0share-size')).toBe('9');
    expect(r.body.toString()).toBe('hello');
    expect(seen).toMatch(/^POST \/x HTTP\/1\.1\r\n/);
    expect(seen).toMatch(/\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(seen).toMatch(/\r\nContent-Length: 6\r\n\r\n0 3 a\n$/);
  });

  it("reads a large chunked body from Node's own server intact while the callback holds the input", async () => {
    const data = pattern(5 * 1024 * 1024 + 123);
    const srv = createHttpServer((_req, res) => {
      res.writeHead(200);
      for (let off = 0; off < data.length; off += 100_000) res.write(data.subarray(off, off + 100_000));
      res.end();
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    // Every third piece holds the input for a moment: the reader must not reuse its buffer meanwhile.
    const r = await collect(port, (n) => (n % 3 === 0 ? new Promise((res) => setTimeout(res, 1)) : undefined));
    expect(r.headers.get('transfer-encoding')).toBe('chunked');
    expect(r.body.equals(data)).toBe(true);
  });

  it('reads a body delimited by the close, and one that came in the same packet as the head', async () => {
    const port = await raw((sock) => sock.end('HTTP/1.0 200 OK\r\n\r\nall of it'));
    expect((await collect(port)).body.toString()).toBe('all of it');
  });

  it('a head split over reads is collected; the body bytes that came with the head wait intact until body() is called, while more arrive', async () => {
    const data = pattern(600_000);
    const head = `HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`;
    const port = await raw((sock) => {
      sock.write(head.slice(0, 9));
      setTimeout(() => sock.write(Buffer.concat([Buffer.from(head.slice(9)), data.subarray(0, 100_000)])), 20);
      setTimeout(() => sock.end(data.subarray(100_000)), 40);
    });
    const ex = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/x' });
    expect(ex.status).toBe(200);
    // The rest of the body reaches this machine before anything reads it.
    await new Promise((r) => setTimeout(r, 100));
    const parts: Buffer[] = [];
    await ex.body((piece) => void parts.push(Buffer.from(piece)));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('the body that came in the same read as a whole head is not overwritten by later reads before body() is called', async () => {
    const data = pattern(900_000);
    const port = await raw((sock) => sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data])));
    const ex = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/x' });
    await new Promise((r) => setTimeout(r, 100));
    const parts: Buffer[] = [];
    await ex.body((piece) => void parts.push(Buffer.from(piece)));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('a refused connection is a ConnectError with its code', async () => {
    const port = await raw(() => {});
    servers.pop()!.close();
    await new Promise((r) => setTimeout(r, 50));
    const err = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe('ECONNREFUSED');
  });

  it('a close before the head, a malformed head and a body cut short are ExchangeErrors', async () => {
    const silent = await raw((sock) => sock.end());
    await expect(exchange({ host: '127.0.0.1', port: silent, method: 'GET', path: '/' })).rejects.toThrow(/closed the connection before answering/);
    const garbage = await raw((sock) => sock.end('SSH-2.0-OpenSSH\r\n\r\n'));
    await expect(exchange({ host: '127.0.0.1', port: garbage, method: 'GET', path: '/' })).rejects.toBeInstanceOf(ExchangeError);
    const short = await raw((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'));
    const err = await collect(short).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExchangeError);
    expect((err as ExchangeError).received).toBe(9);
    expect((err as Error).message).toMatch(/before the end of the answer/);
  });

  it('an abort ends the exchange and closes the connection', async () => {
    let closed = false;
    const port = await raw((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome');
      sock.on('close', () => (closed = true));
    });
    const ac = new AbortController();
    const ex = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/', signal: ac.signal });
    const body = ex.body(() => ac.abort());
    await expect(body).rejects.toThrow(/aborted/);
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
  });

  it('a callback that throws ends the exchange with its error', async () => {
    const port = await raw((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd'));
    const ex = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/' });
    await expect(
      ex.body(() => {
        throw new Error('no space');
      }),
    ).rejects.toThrow('no space');
  });
});
