// HTTP/1.1 keep-alive in the transfer routes' client (io/http-exchange.ts with a
// io/connection-pool.ts), against raw TCP servers and Node's own on loopback: a connection whose
// answer was complete and well framed carries the next request to the same peer (answers that end
// in the read of their head and answers that end in a later read; a server's cap of requests per
// connection); `Connection: close`, an HTTP/1.0 answer, a body that ends at the close, bytes after
// the body, a body cut short and an abort each close it instead; a pooled connection the peer
// closed before answering sends the request again on a new one; closing the pool closes its idle
// connections and any given back later.
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionPool } from '../../src/io/connection-pool.js';
import { exchange } from '../../src/io/http-exchange.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** What a server saw: connections opened and closed, and the requests (head and body) on each. */
interface Seen {
  connections: number;
  closed: number;
  requests: string[];
}

/**
 * A raw TCP server that reads requests one after another on each connection; `answer` gets the
 * socket, the request and its index on that connection.
 */
async function raw(answer: (sock: Socket, request: string, nth: number) => void) {
  const seen: Seen = { connections: 0, closed: 0, requests: [] };
  const srv = createServer((sock) => {
    seen.connections++;
    let got = '';
    let nth = 0;
    sock.on('data', (d) => {
      got += d.toString('latin1');
      for (let end = got.indexOf('\r\n\r\n'); end >= 0; end = got.indexOf('\r\n\r\n')) {
        const len = Number(/content-length: (\d+)/i.exec(got.slice(0, end))?.[1] ?? 0);
        if (got.length < end + 4 + len) return;
        const request = got.slice(0, end + 4 + len);
        got = got.slice(end + 4 + len);
        seen.requests.push(request);
        answer(sock, request, nth++);
      }
    });
    sock.on('close', () => seen.closed++);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  return { port: (srv.address() as AddressInfo).port, seen };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

/** One whole exchange (POST with a small body) through `pool`; resolves with the status and body. */
async function get(port: number, pool: ConnectionPool, signal?: AbortSignal) {
  const ex = await exchange({ host: '127.0.0.1', port, method: 'POST', path: '/x', body: Buffer.from('0 1 a\n'), pool, signal });
  const parts: Buffer[] = [];
  await ex.body((piece) => void parts.push(Buffer.from(piece)));
  return { status: ex.status, body: Buffer.concat(parts).toString() };
}

function pool() {
  const p = new ConnectionPool();
  cleanups.push(() => p.close());
  return p;
}

describe('keep-alive', () => {
  it("reuses the connection for the next requests to Node's server, whether the body ends with its head or in a later read", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    let connections = 0;
    const srv = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => (req.url === '/big' ? res.end(big) : res.end('small')));
    });
    srv.on('connection', () => connections++);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => srv.close());
    const port = (srv.address() as AddressInfo).port;
    const p = pool();
    for (const path of ['/small', '/big', '/small', '/big', '/big']) {
      const ex = await exchange({ host: '127.0.0.1', port, method: 'POST', path, body: Buffer.from('x'), pool: p });
      let n = 0;
      await ex.body((piece) => void (n += piece.length));
      expect(n).toBe(path === '/big' ? big.length : 5);
    }
    expect(connections).toBe(1);
  });

  it("moves to a new connection once Node's server has had its maxRequestsPerSocket on one", async () => {
    let connections = 0;
    const srv = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    srv.maxRequestsPerSocket = 2;
    srv.on('connection', () => connections++);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => srv.close());
    const port = (srv.address() as AddressInfo).port;
    const p = pool();
    for (let i = 0; i < 5; i++) expect(await get(port, p)).toEqual({ status: 200, body: 'ok' });
    expect(connections).toBe(3);
  });

  it('sends no Connection: close with a pool, and one connection carries the requests one after another', async () => {
    const { port, seen } = await raw((sock, _req, nth) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr${nth}`));
    const p = pool();
    expect(await get(port, p)).toEqual({ status: 200, body: 'r0' });
    expect(await get(port, p)).toEqual({ status: 200, body: 'r1' });
    expect(seen.connections).toBe(1);
    expect(seen.requests).toHaveLength(2);
    for (const r of seen.requests) expect(r).not.toMatch(/connection:/i);
  });

  it.each([
    ['Connection: close', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'],
    ['an HTTP/1.0 answer', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok'],
    ['bytes after the body', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n'],
    ['a refusal', 'HTTP/1.1 503 Busy\r\nContent-Length: 2\r\nRetry-After: 2\r\n\r\nno'],
  ])('closes the connection after %s', async (_what, answer) => {
    const { port, seen } = await raw((sock) => sock.write(answer));
    const p = pool();
    for (let i = 0; i < 2; i++) {
      const ex = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/', pool: p });
      if (ex.status === 200) await ex.body(() => {});
      else ex.close();
    }
    await settle();
    expect(seen.connections).toBe(2);
    expect(seen.closed).toBe(2);
  });

  it('a body that ends at the close is read whole and its connection not reused', async () => {
    const { port, seen } = await raw((sock) => sock.end('HTTP/1.1 200 OK\r\n\r\nall of it'));
    const p = pool();
    expect((await get(port, p)).body).toBe('all of it');
    expect((await get(port, p)).body).toBe('all of it');
    expect(seen.connections).toBe(2);
  });

  it('a body cut short or an abort closes the connection; the next request gets a new one', async () => {
    const { port, seen } = await raw((sock, req) => {
      if (req.includes('/short')) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
      else if (req.includes('/slow')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome');
      else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool();
    const short = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/short', pool: p });
    await expect(short.body(() => {})).rejects.toThrow(/before the end of the answer/);
    const ac = new AbortController();
    const slow = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/slow', pool: p, signal: ac.signal });
    await expect(slow.body(() => ac.abort())).rejects.toThrow(/aborted/);
    expect((await get(port, p)).body).toBe('ok');
    await settle();
    expect(seen.connections).toBe(3);
    expect(seen.closed).toBe(2);
  });

  it('sends the request again on a new connection when the pooled one was closed by the peer before answering', async () => {
    // The peer closes a connection when a second request arrives on it (its keep-alive timeout, as it races the request).
    const { port, seen } = await raw((sock, _req, nth) => (nth === 0 ? sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') : sock.destroy()));
    const p = pool();
    expect((await get(port, p)).body).toBe('ok');
    expect((await get(port, p)).body).toBe('ok');
    expect(seen.connections).toBe(2);
    expect(seen.requests).toHaveLength(3);
  });

  it('an idle connection the peer closed is not taken again', async () => {
    const { port, seen } = await raw((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => sock.end(), 10);
    });
    const p = pool();
    expect((await get(port, p)).body).toBe('ok');
    await settle();
    expect((await get(port, p)).body).toBe('ok');
    expect(seen.connections).toBe(2);
    expect(seen.requests).toHaveLength(2);
  });

  it('closing the pool closes its idle connections, and a connection given back afterwards', async () => {
    let release: () => void = () => {};
    const { port, seen } = await raw((sock, req) => {
      if (!req.includes('/held')) return void sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no');
      release = () => sock.write('k');
    });
    const p = new ConnectionPool();
    const held = await exchange({ host: '127.0.0.1', port, method: 'GET', path: '/held', pool: p });
    const body = held.body(() => {});
    await get(port, p);
    await settle();
    p.close();
    await settle();
    expect(seen.closed).toBe(1); // the idle one; the held exchange still owns its connection
    release();
    await body;
    await settle();
    expect(seen.connections).toBe(2);
    expect(seen.closed).toBe(2);
  });
});
