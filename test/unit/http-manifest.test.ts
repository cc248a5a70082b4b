// The client of the text routes (io/http-manifest.ts) against raw TCP servers on loopback: a
// manifest with a Content-Length and a chunked one come back whole; a peer that does not offer the
// route (404, or a tar where text was asked) is `ok: false` with its status; a body declared or
// sent over the limit is a 413 without reading on; a refused connection and a body cut short are
// errors naming the route.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import { MAX_MTIMES_BYTES } from '../../src/core/mtimes-list.js';
import { getManifest, getMtimes } from '../../src/io/http-manifest.js';

const digest = parseDigest('sha256new_62ZLHISQKLTMLQFKZQLKBJLKLJGKSSNNDTY26CX4E44YIPOL4MGQ');
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A raw server that answers each request (once its head is in) with `answer`; the requests seen. */
async function raw(answer: (sock: Socket) => void) {
  const seen: string[] = [];
  const srv = createServer((sock) => {
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      seen.push(got.split('\r\n')[0]!);
      answer(sock);
    });
    sock.on('error', () => {});
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { peer: { host: '127.0.0.1', port: (srv.address() as AddressInfo).port }, seen };
}

const signal = () => new AbortController().signal;
const text = (body: Buffer) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`), body]);

describe('getManifest and getMtimes', () => {
  it('return a body with a Content-Length, and a chunked one, whole; progress counts the bytes', async () => {
    const body = Buffer.from(Array.from({ length: 700_000 }, (_, i) => 0x41 + (i % 26)));
    const sized = await raw((sock) => sock.end(text(body)));
    const heard: number[] = [];
    const a = await getManifest(sized.peer, digest, signal(), (n) => heard.push(n));
    expect(a.ok && a.manifest.equals(body)).toBe(true);
    expect(heard.at(-1)).toBe(body.length);
    expect(sized.seen).toEqual([`GET /implementation/${'sha256new_62ZLHISQKLTMLQFKZQLKBJLKLJGKSSNNDTY26CX4E44YIPOL4MGQ'}/manifest HTTP/1.1`]);
    const chunked = await raw((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
      sock.write(`5\r\n12 /a\r\n`);
      sock.end(`1\r\n\n\r\n0\r\n\r\n`);
    });
    const m = await getMtimes(chunked.peer, digest, signal());
    expect(m.ok && m.body.toString()).toBe('12 /a\n');
  });

  it("are not ok, with the status, from a peer that does not offer the route: a 404, or a tar where text was asked", async () => {
    const missing = await raw((sock) => sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
    expect(await getManifest(missing.peer, digest, signal(), () => {})).toEqual({ ok: false, status: 404 });
    const tar = await raw((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 3\r\n\r\nabc'));
    expect(await getManifest(tar.peer, digest, signal(), () => {})).toEqual({ ok: false, status: 200 });
  });

  it('are a 413 for a body declared over the limit, and for one that goes over it', async () => {
    const declared = await raw((sock) => sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${MAX_MTIMES_BYTES + 1}\r\n\r\n`));
    expect(await getMtimes(declared.peer, digest, signal())).toEqual({ ok: false, status: 413 });
    const endless = await raw((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
      const block = Buffer.alloc(1 << 20, 0x41);
      for (let i = 0; i <= MAX_MTIMES_BYTES / block.length; i++) sock.write(block);
      sock.end();
    });
    expect(await getMtimes(endless.peer, digest, signal())).toEqual({ ok: false, status: 413 });
  });

  it('fail naming the route when the peer cannot be reached or cuts the body short', async () => {
    const gone = await raw(() => {});
    servers.pop()!.close();
    await expect(getManifest(gone.peer, digest, signal(), () => {})).rejects.toThrow(/^could not be reached for the manifest: /);
    const short = await raw((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc'));
    await expect(getManifest(short.peer, digest, signal(), () => {})).rejects.toThrow(/^closed the connection while sending the manifest \(/);
  });
});
