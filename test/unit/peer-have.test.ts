// The have poller against a fake peer on loopback: it asks each tracked peer's /have?with=fetching
// again and again, one request at a time, hands on the files verified and being fetched (404 as
// none, bitmaps of the wrong size not at all) on one kept-alive connection, asks a peer that refuses the query (an older one)
// the plain /have, stops asking a peer it no longer tracks, and asks nobody once closed.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import { encodeHave } from '../../src/core/have-bitmap.js';
import type { Peer } from '../../src/machines/types.js';
import { pollHave } from '../../src/io/peer-have.js';

const D = parseDigest('sha256new_' + 'D'.repeat(52));
const FILES = 10;
const servers: Server[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A peer whose answers are `answers` in turn (the last one repeated); counts requests and the most at once. */
async function fakePeer(answers: Array<{ status: number; body?: Buffer }>) {
  const seen = { requests: 0, paths: new Set<string>(), open: 0, most: 0, connections: 0 };
  const server = createServer((req, res) => {
    seen.requests++;
    seen.paths.add(req.url ?? '');
    seen.open++;
    seen.most = Math.max(seen.most, seen.open);
    const a = answers.length > 1 ? answers.shift()! : answers[0]!;
    res.on('finish', () => seen.open--);
    res.writeHead(a.status, { 'Content-Type': 'application/octet-stream' }).end(a.body ?? '');
  });
  server.on('connection', () => seen.connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const peer: Peer = { host: '127.0.0.1', port: typeof address === 'object' && address ? address.port : 0 };
  return { peer, seen };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 300 && !cond(); i++) await sleep(10);
  expect(cond()).toBe(true);
}

afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

describe('pollHave', () => {
  it('asks a peer again and again on one kept-alive connection', async () => {
    const { peer, seen } = await fakePeer([{ status: 200, body: Buffer.concat([encodeHave(FILES, (i) => i < 3), encodeHave(FILES, () => false)]) }]);
    let heard = 0;
    const poller = pollHave({ digest: D, files: FILES, interval: 5, timeout: 5000, onHave: () => heard++ });
    poller.track([peer]);
    await until(() => heard >= 5);
    poller.close();
    expect(seen.connections).toBe(1);
  });

  it('hands on each answer, 404 as nothing, and skips bitmaps of the wrong size', async () => {
    const { peer, seen } = await fakePeer([
      { status: 404 },
      { status: 200, body: encodeHave(FILES, () => true) }, // one bitmap where two were asked for
      { status: 200, body: Buffer.concat([encodeHave(FILES, (i) => i < 3), encodeHave(FILES, (i) => i === 5)]) },
    ]);
    const heard: string[] = [];
    const poller = pollHave({ digest: D, files: FILES, interval: 5, timeout: 5000, onHave: (_, files, fetching) => heard.push(`${files.join(',')}/${fetching.join(',')}`) });
    poller.track([peer]);
    await until(() => heard.length >= 2);
    poller.close();
    expect(heard.slice(0, 2)).toEqual(['/', '0,1,2/5']);
    expect([...seen.paths]).toEqual([`/implementation/${'sha256new_' + 'D'.repeat(52)}/have?with=fetching`]);
    expect(seen.most).toBe(1);
  });

  it('asks a peer that refuses the query string the plain /have from then on', async () => {
    const server = createServer((req, res) => {
      if (req.url?.includes('?')) res.writeHead(400).end('unsupported query string\n');
      else res.writeHead(200).end(encodeHave(FILES, (i) => i % 2 === 0));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const heard: string[] = [];
    const poller = pollHave({ digest: D, files: FILES, interval: 5, timeout: 5000, onHave: (_, files, fetching) => heard.push(`${files.join(',')}/${fetching.join(',')}`) });
    poller.track([{ host: '127.0.0.1', port }]);
    await until(() => heard.length >= 2);
    poller.close();
    expect(heard.slice(0, 2)).toEqual(['0,2,4,6,8/', '0,2,4,6,8/']);
  });

  it('stops asking a peer it no longer tracks, and everyone once closed', async () => {
    const a = await fakePeer([{ status: 200, body: Buffer.concat([encodeHave(FILES, () => true), encodeHave(FILES, () => false)]) }]);
    const b = await fakePeer([{ status: 200, body: Buffer.alloc(4) }]);
    const by = new Map<number, number>();
    const poller = pollHave({ digest: D, files: FILES, interval: 5, timeout: 5000, onHave: (p) => by.set(p.port, (by.get(p.port) ?? 0) + 1) });
    poller.track([a.peer, b.peer]);
    await until(() => (by.get(a.peer.port) ?? 0) >= 2 && (by.get(b.peer.port) ?? 0) >= 2);
    poller.track([b.peer]);
    await sleep(30);
    const aRequests = a.seen.requests;
    const bRequests = b.seen.requests;
    await until(() => b.seen.requests > bRequests);
    expect(a.seen.requests).toBe(aRequests);
    poller.close();
    await sleep(30);
    const after = b.seen.requests;
    await sleep(50);
    expect(b.seen.requests).toBe(after);
  });

  it('asks again after a request that timed out', async () => {
    let n = 0;
    const server = createServer((_, res) => {
      // The first request is never answered; the next ones are.
      if (n++ > 0) res.writeHead(200).end(Buffer.concat([encodeHave(FILES, () => true), encodeHave(FILES, () => false)]));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const heard: number[] = [];
    const poller = pollHave({ digest: D, files: FILES, interval: 5, timeout: 50, onHave: (_, files) => heard.push(files.length) });
    poller.track([{ host: '127.0.0.1', port }]);
    await until(() => heard.length > 0);
    poller.close();
    server.closeAllConnections();
    expect(heard[0]).toBe(FILES);
  });
});
