// The peer through its programmatic API, in-process on 127.0.0.1: the drop counters and their
// debug log lines, --allow refusals over UDP (silence) and HTTP (403), close() freeing the port,
// and the who-request: answered with the process's instance id, the same to every asker, at once
// (before a query's reply), never when shorter than the answer.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest } from '../../src/core/digest.js';
import { encodeWho } from '../../src/core/protocol.js';
import { addDirectory } from '../../src/io/store-add.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';

const HOST = '127.0.0.1';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push((JSON.parse(l) as { msg: string }).msg);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** Sends datagrams and then a valid query; returns every reply seen once the valid one arrives. */
async function exchange(port: number, datagrams: Buffer[], valid: Buffer, tries = 20): Promise<string[]> {
  const s = createSocket('udp4');
  const replies: string[] = [];
  s.on('message', (m: Buffer) => replies.push(m.toString()));
  await new Promise<void>((r) => s.bind(0, HOST, r));
  for (const d of datagrams) s.send(d, port, HOST);
  for (let i = 0; i < tries && replies.length === 0; i++) {
    s.send(valid, port, HOST);
    await new Promise((r) => setTimeout(r, 200));
  }
  s.close();
  return replies;
}

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: HOST, port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    })
      .on('error', reject)
      .end();
  });
}

describe('serve() API', () => {
  let root: string;
  let store: string;
  let digest: string;
  let peer: ServeHandle;
  const log = capture();

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), '0share-serve-api-'));
    const src = join(root, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'hello'), 'hello\n');
    const d = (await manifestOfTree(src, 'sha256new')).digest;
    store = join(root, 'store');
    await addDirectory(src, store, d);
    digest = formatDigest(d);
    peer = await serve({ port: 0, bind: HOST, stores: [store, join(root, 'missing')], logger: log.logger });
  });

  afterAll(async () => {
    await peer?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('logs the stores it serves, then where it listens', () => {
    expect(log.lines).toContain(`Serving implementations from ${store}`);
    expect(log.lines).toContain(`Serving implementations from ${join(root, 'missing')} (does not exist yet)`);
    expect(log.lines.some((l) => l.startsWith(`Listening on ${HOST} port ${peer.address.port}`))).toBe(true);
  });

  it('counts every kind of bad datagram, logs each at debug, and answers the valid query', async () => {
    const bad = [
      Buffer.alloc(1401, 0x41),
      Buffer.from([0x30, 0x73, 0x00, 0xff]),
      Buffer.from(`0share-reply\n${digest}`),
      Buffer.from('0share\nsha1new=xyz'),
      Buffer.from('0share\n'),
    ];
    const replies = await exchange(peer.address.port, bad, Buffer.from(`0share\n${digest}`));
    expect(replies).toEqual([`0share-reply\n${digest}`]);
    const d = peer.udpStats.dropped;
    expect([d.oversized, d['not-text'], d['bad-magic'], d['bad-digest'], d['no-digest']]).toEqual([1, 1, 1, 1, 1]);
    expect(log.lines).toContainEqual(expect.stringMatching(/^Ignored datagram from 127\.0\.0\.1:\d+: oversized \(1 so far\)$/));
    expect(log.lines).toContainEqual(expect.stringMatching(/^Ignored datagram from 127\.0\.0\.1:\d+: bad-digest \(1 so far\)$/));
    expect(log.lines).toContainEqual(expect.stringMatching(/^Request from 127\.0\.0\.1:\d+ for /));
    expect(log.lines).toContain(`Yes, we have ${digest}`);
  });

  it.skipIf(process.getuid?.() !== 0)('never replies to a privileged source port', async () => {
    const s = createSocket('udp4');
    const replies: Buffer[] = [];
    s.on('message', (m: Buffer) => replies.push(m));
    s.bind(600 + Math.floor(Math.random() * 400), HOST);
    await once(s, 'listening');
    const before = peer.udpStats.dropped['low-port'];
    s.send(Buffer.from(`0share\n${digest}`), peer.address.port, HOST);
    while (peer.udpStats.dropped['low-port'] === before) await new Promise((r) => setTimeout(r, 20));
    // An answer to the same query from an ephemeral port shows the peer was not just slow.
    expect(await exchange(peer.address.port, [], Buffer.from(`0share\n${digest}`))).toEqual([`0share-reply\n${digest}`]);
    s.close();
    expect(replies).toEqual([]);
  });

  it('logs each HTTP request with status, bytes, time and source', async () => {
    expect(await status(peer.address.port, `/implementation/${digest}`)).toBe(200);
    expect(log.lines).toContainEqual(expect.stringMatching(new RegExp(`^GET /implementation/${digest} 200 \\d+ bytes \\d+ ms from 127\\.0\\.0\\.1:\\d+$`)));
  });

  it('answers nobody outside --allow: no UDP reply, 403 over HTTP', async () => {
    const strict = await serve({ port: 0, bind: HOST, stores: [store], allow: ['10.0.0.0/8'], logger: pino({ level: 'silent' }) });
    try {
      const replies = await exchange(strict.address.port, [], Buffer.from(`0share\n${digest}`), 3);
      expect(replies).toEqual([]);
      expect(strict.udpStats.dropped['not-allowed']).toBeGreaterThan(0);
      expect(await status(strict.address.port, `/implementation/${digest}`)).toBe(403);
    } finally {
      await strict.close();
    }
  });

  it('answers the who-request with its instance id, the same to every asker, before the reply to a query sent after it', async () => {
    const ask = async () => {
      const s = createSocket('udp4');
      const got: string[] = [];
      s.on('message', (m: Buffer) => got.push(m.toString('latin1')));
      await new Promise<void>((r) => s.bind(0, HOST, r));
      s.send(Buffer.from('0share-who'), peer.address.port, HOST); // too short to be answered
      s.send(encodeWho(), peer.address.port, HOST);
      s.send(Buffer.from(`0share\n${digest}`), peer.address.port, HOST);
      for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      s.close();
      return got;
    };
    const [a, b] = [await ask(), await ask()];
    expect(a).toHaveLength(2);
    expect(a[0]).toMatch(/^0share-id\n[0-9a-f]{16}$/);
    expect(a[1]).toBe(`0share-reply\n${digest}`);
    expect(b).toEqual(a);
    expect(log.lines).toContainEqual(expect.stringMatching(/^Who-request from 127\.0\.0\.1:\d+: answering with our instance id$/));
  });

  it('frees both ports on close()', async () => {
    const p = await serve({ port: 0, bind: HOST, stores: [store] });
    const port = p.address.port;
    await p.close();
    const again = await serve({ port, bind: HOST, stores: [store] });
    expect(again.address.port).toBe(port);
    await again.close();
  });
});
