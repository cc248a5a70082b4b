// The real `0share serve` process on 127.0.0.1, serving stores filled by the real
// `0install store add` (as an unprivileged user with read-only stores when the tests run as
// root): the 2008 client's side of the protocol, the HTTP routes and refusals, path tricks, the
// upload cap, slowloris, stalled readers, datagram floods and many connections.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliPeer, startCliPeer } from '../helpers/cli-peer.js';
import { need0install, type ZeroSandbox, zeroSandbox, zi, ziResult } from '../helpers/zeroinstall.js';

const AS_NOBODY = process.getuid?.() === 0;
const HOST = '127.0.0.1';
/** Normal requests come from another loopback address than the abusive ones. */
const GOOD_CLIENT = '127.0.0.2';

type Peer = CliPeer;

const startPeer = (store: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<Peer> => startCliPeer(store, extra, { env, asNobody: AS_NOBODY });

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function httpGet(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; localAddress?: string } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path, method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress ?? GOOD_CLIENT, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends a request exactly as written (no client-side normalisation) and returns all it gets. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOST, port, localAddress: GOOD_CLIENT });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
    s.write(text);
  });
}

/** A UDP socket on an ephemeral port of `address`, as the 2008 client used. */
async function udpClient(address = GOOD_CLIENT): Promise<UdpSocket & { replies: Buffer[] }> {
  const s = Object.assign(createSocket('udp4'), { replies: [] as Buffer[] });
  s.on('message', (m: Buffer) => s.replies.push(m));
  await new Promise<void>((r) => s.bind(0, address, r));
  return s;
}

/** Sends `msg` until a reply arrives (retransmitting, like a client on a lossy LAN). */
async function queryUntilReply(s: UdpSocket & { replies: Buffer[] }, port: number, msg: Buffer, tries = 20): Promise<Buffer> {
  const before = s.replies.length;
  for (let i = 0; i < tries && s.replies.length === before; i++) {
    s.send(msg, port, HOST);
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(s.replies.length, 'a reply arrived').toBeGreaterThan(before);
  return s.replies[before]!;
}

function digestOf(dir: string, alg: string, sb: ZeroSandbox): string {
  return zi(sb, ['digest', `--algorithm=${alg}`, dir]).trim();
}

function vmRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

describe.skipIf(!need0install())('0share serve on loopback', () => {
  let work: string;
  let sb: ZeroSandbox;
  let store: string;
  let peer: Peer;
  let sha1: string;
  let sha256: string;
  let big: string;
  let broken: string;
  const SECRET = `TOP-SECRET-${randomBytes(8).toString('hex')}`;
  const FAKE = `sha256new_${'Q'.repeat(52)}`;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), '0share-serve-'));
    chmodSync(work, 0o755);
    // Outside every store: a secret, reachable through symlinks only.
    const outside = join(work, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), `${SECRET}\n`);

    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'sub/deeper'), { recursive: true });
    writeFileSync(join(tree, 'README'), 'hello from 0share\n');
    writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    writeFileSync(join(tree, 'sub/deeper/data.bin'), randomBytes(100_000));
    symlinkSync('../README', join(tree, 'sub/readme-link'));
    symlinkSync(join(outside, 'secret.txt'), join(tree, 'escape-link'));
    const brokenTree = join(work, 'broken');
    mkdirSync(brokenTree);
    writeFileSync(join(brokenTree, 'a-first'), randomBytes(300_000));
    writeFileSync(join(brokenTree, 'b-unreadable'), 'the peer cannot read this\n');
    const bigTree = join(work, 'big');
    mkdirSync(bigTree);
    writeFileSync(join(bigTree, 'blob'), randomBytes(48 * 1024 * 1024));

    sb = zeroSandbox();
    chmodSync(sb.root, 0o755);
    sha1 = digestOf(tree, 'sha1new', sb);
    sha256 = digestOf(tree, 'sha256new', sb);
    big = digestOf(bigTree, 'sha256new', sb);
    zi(sb, ['store', 'add', sha1, tree]);
    zi(sb, ['store', 'add', sha256, tree]);
    zi(sb, ['store', 'add', big, bigTree]);
    broken = digestOf(brokenTree, 'sha256new', sb);
    zi(sb, ['store', 'add', broken, brokenTree]);
    // As root, 0install adds to the system store; as a user, to the user store.
    store = existsSync(join(sb.systemStore, sha1)) ? sb.systemStore : sb.userStore;
    // A digest directory that is a symlink to outside the store.
    symlinkSync(outside, join(store, FAKE));
    // A file the peer's user cannot read: a read error in the middle of a response.
    chmodSync(join(store, broken, 'b-unreadable'), 0o000);
    chmodSync(store, 0o555);

    writeFileSync(join(work, 'started'), '');
    peer = await startPeer(store, sb.env, ['--max-uploads', '2']);
  });

  afterAll(async () => {
    await peer?.stop();
    if (store) chmodSync(store, 0o755);
    for (const d of [work, sb?.root]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('logs what it listens on and which store it serves', () => {
    expect(peer.log()).toContain(`Serving implementations from ${store}`);
  });

  it('answers the 2008 client: "0share\\n<digest>" from an ephemeral port gets "0share-reply\\n<digest>"', async () => {
    const s = await udpClient();
    const reply = await queryUntilReply(s, peer.port, Buffer.from(`0share\n${sha1}`, 'ascii'));
    expect(reply.toString('ascii')).toBe(`0share-reply\n${sha1}`);
    s.close();
    expect(peer.log()).toContain(`Request from ${GOOD_CLIENT}:`);
    expect(peer.log()).toContain(`Yes, we have ${sha1}`);
  });

  it('lists only the digests it has, and does not answer when it has none', async () => {
    const s = await udpClient();
    const unknown = `sha1new=${'0'.repeat(40)}`;
    s.send(Buffer.from(`0share\n${unknown}`), peer.port, HOST);
    s.send(Buffer.from(`0share\n${FAKE}`), peer.port, HOST);
    const reply = await queryUntilReply(s, peer.port, Buffer.from(`0share\n${unknown}\n${sha256.replace('sha256new_', 'sha256new=')}\n${sha1}`));
    expect(reply.toString('ascii')).toBe(`0share-reply\n${sha256}\n${sha1}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(s.replies.map((r) => r.toString())).not.toContain(`0share-reply\n${FAKE}`);
    expect(s.replies.every((r) => !r.toString().includes(unknown))).toBe(true);
    s.close();
  });

  it('serves a gzip tar that the system tar extracts and 0install store add accepts', async () => {
    const res = await httpGet(peer.port, `/implementation/${sha1}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-compressed-tar');
    expect(Number(res.headers['x-0share-size'])).toBe(100_000 + 18 + 19);
    const out = mkdtempSync(join(work, 'x-'));
    const tar = spawnSync('tar', ['-xz', '-C', out], { input: res.body });
    expect(tar.status, tar.stderr.toString()).toBe(0);
    const sb2 = zeroSandbox();
    try {
      const add = ziResult(sb2, ['store', 'add', sha1, out]);
      expect(add.status, add.stderr).toBe(0);
      expect(ziResult(sb2, ['store', 'verify', sha1]).status).toBe(0);
    } finally {
      rmSync(sb2.root, { recursive: true, force: true });
    }
  });

  it('serves plain tar on request, HEAD without a body, and the .manifest', async () => {
    for (const [path, headers] of [[`/implementation/${sha256}`, { 'X-0share-Encoding': 'tar' }], [`/implementation/${sha256}?format=tar`, {}]] as const) {
      const res = await httpGet(peer.port, path, { headers });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-tar');
      const out = mkdtempSync(join(work, 'p-'));
      expect(spawnSync('tar', ['-x', '-C', out], { input: res.body }).status).toBe(0);
      expect(digestOf(out, 'sha256new', sb)).toBe(sha256);
    }
    const head = await httpGet(peer.port, `/implementation/${sha256}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const manifest = await httpGet(peer.port, `/implementation/${sha256}/manifest`);
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(readFileSync(join(store, sha256, '.manifest')))).toBe(true);
  });

  it('refuses with 404, 400 and 405', async () => {
    expect((await httpGet(peer.port, `/implementation/sha1new=${'0'.repeat(40)}`)).status).toBe(404);
    expect((await httpGet(peer.port, '/implementation/not-a-digest')).status).toBe(400);
    expect((await httpGet(peer.port, `/implementation/${sha1.toUpperCase()}`)).status).toBe(400);
    expect((await httpGet(peer.port, '/nowhere')).status).toBe(404);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await httpGet(peer.port, `/implementation/${sha1}`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
  });

  it('never returns a byte from outside the store, whatever the path', async () => {
    const tricks = [
      '/implementation/../../../../etc/passwd',
      `/implementation/${sha1}/../../outside/secret.txt`,
      '/implementation/..%2F..%2Foutside%2Fsecret.txt',
      '/implementation/%2e%2e/%2e%2e/etc/passwd',
      `/implementation/${FAKE}`,
      `/implementation/${FAKE}/manifest`,
      `/implementation/${FAKE}?format=tar`,
      '/implementation/sha256new_..%2F..%2Foutside',
      `//implementation/${sha1}`,
      `/implementation/${sha1}%00`,
      `/implementation/${sha1}/escape-link`,
    ];
    for (const path of tricks) {
      const text = await rawHttp(peer.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
      expect([400, 404], `${path}: ${text.slice(0, 80)}`).toContain(status);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('root:');
    }
    // Inside an implementation, a symlink to outside travels as a symlink, never as its target.
    const res = await httpGet(peer.port, `/implementation/${sha1}`);
    expect(gunzipSync(res.body).includes(SECRET)).toBe(false);
    const list = spawnSync('tar', ['-tvz'], { input: res.body }).stdout.toString();
    expect(list).toMatch(/escape-link -> .*secret\.txt/);
  });

  it.skipIf(!AS_NOBODY)('a read error mid-stream truncates that response only', async () => {
    const outcome = await new Promise<string>((resolve) => {
      request({ host: HOST, port: peer.port, path: `/implementation/${broken}?format=tar`, localAddress: GOOD_CLIENT, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.complete ? 'complete' : 'truncated'));
        res.on('error', () => resolve('truncated'));
        res.on('aborted', () => resolve('truncated'));
      }).on('error', () => resolve('truncated')).end();
    });
    expect(outcome).toBe('truncated');
    expect((await httpGet(peer.port, `/implementation/${sha1}`)).status).toBe(200);
    expect(peer.log()).toMatch(new RegExp(`GET /implementation/${broken}\\?format=tar 200 \\d+ bytes \\d+ ms from ${GOOD_CLIENT}:\\d+ \\(aborted: .*b-unreadable`));
  });

  it('caps concurrent uploads with 503 and Retry-After, and frees the slots when clients leave', async () => {
    const holders: IncomingMessage[] = [];
    for (let i = 0; i < 2; i++) {
      holders.push(
        await new Promise<IncomingMessage>((resolve, reject) => {
          request({ host: HOST, port: peer.port, path: `/implementation/${big}?format=tar`, localAddress: `127.0.0.${20 + i}`, agent: false }, (res) => {
            res.pause();
            resolve(res);
          })
            .on('error', reject)
            .end();
        }),
      );
    }
    const busy = await httpGet(peer.port, `/implementation/${sha1}`);
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('2');
    // The server kept streaming only as far as the stalled clients read.
    expect(vmRssMb(peer.proc.pid!)).toBeLessThan(150);
    for (const h of holders) h.destroy();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await httpGet(peer.port, `/implementation/${sha1}`)).status;
    }
    expect(status).toBe(200);
  });

  it('a slowloris does not block a normal request, and the server drops the slow connections', async () => {
    const sockets: Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 200; i++) {
      const s = connect({ host: HOST, port: peer.port, localAddress: `127.0.1.${1 + (i % 50)}` });
      s.on('error', () => {});
      s.on('close', () => closed++);
      sockets.push(s);
    }
    const line = `GET /implementation/${sha1} HTTP/1.1\r\nHost: x\r\n`;
    let stop = false;
    const drip = (async () => {
      for (let i = 0; !stop; i = (i + 1) % line.length) {
        for (const s of sockets) if (!s.destroyed) s.write(line[i]!);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const res = await httpGet(peer.port, `/implementation/${sha1}`);
    expect(res.status).toBe(200);
    // The header timeout ends every dripping connection (while they keep dripping).
    while (closed < sockets.length) await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await drip;
  });

  it('closes connections over the per-source limit at once', async () => {
    const sockets: Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 80; i++) {
      const s = connect({ host: HOST, port: peer.port, localAddress: '127.0.3.1' });
      s.on('error', () => {});
      s.on('close', () => closed++);
      sockets.push(s);
    }
    while (closed < 16) await new Promise((r) => setTimeout(r, 20));
    // 64 stay open (until the header timeout, seconds away); the other 16 were closed on arrival.
    expect(closed).toBe(16);
    for (const s of sockets) s.destroy();
  });

  it('a client that stops reading pins no memory and does not stop others', async () => {
    const readers: IncomingMessage[] = [];
    const rssBefore = vmRssMb(peer.proc.pid!);
    const res0 = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: HOST, port: peer.port, path: `/implementation/${big}`, localAddress: '127.0.0.30', agent: false }, resolve).on('error', reject).end();
    });
    res0.pause();
    readers.push(res0);
    await new Promise((r) => setTimeout(r, 500));
    // Served with a paused gzip reader of a 48 MB tree: the peer holds buffers, not the tree.
    const ok = await httpGet(peer.port, `/implementation/${sha256}`);
    expect(ok.status).toBe(200);
    const rss = vmRssMb(peer.proc.pid!);
    expect(rss).toBeLessThan(150);
    // Holding the 48 MB tree (or its gzip) would add about 48 MB; the bound above alone would not see it.
    expect(rss - rssBefore).toBeLessThan(24);
    for (const r of readers) r.destroy();
  });

  it('drops a response the client stops reading after --stall-timeout, freeing its upload slot', async () => {
    const strict = await startPeer(store, sb.env, ['--max-uploads', '1', '--stall-timeout', '1000']);
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        request({ host: HOST, port: strict.port, path: `/implementation/${big}?format=tar`, localAddress: '127.0.0.31', agent: false }, resolve).on('error', reject).end();
      });
      res.pause();
      expect((await httpGet(strict.port, `/implementation/${sha1}`)).status).toBe(503);
      const dropped = /GET \/implementation\/\S+\?format=tar 200 \d+ bytes \d+ ms from 127\.0\.0\.31:\d+ \(aborted: client stopped reading\)/;
      while (!dropped.test(strict.log())) await new Promise((r) => setTimeout(r, 100));
      expect((await httpGet(strict.port, `/implementation/${sha1}`)).status).toBe(200);
      res.destroy();
    } finally {
      await strict.stop();
    }
  });

  it('10,000 random, oversized, binary and malformed datagrams leave it answering valid queries', async () => {
    const flood = await udpClient('127.0.0.1');
    const kinds = [
      () => randomBytes(Math.floor(Math.random() * 1400)),
      () => randomBytes(1401 + Math.floor(Math.random() * 8000)),
      () => Buffer.from(`0share\n${randomBytes(20).toString('hex')}`),
      () => Buffer.from(`0share\n${sha1}\x00`),
      () => Buffer.from(`0share-reply\n${sha1}`),
      () => Buffer.concat([Buffer.from('0share\n'), randomBytes(50)]),
      () => Buffer.from(`0share\n${sha1}\n`.repeat(40)),
      () => Buffer.alloc(0),
    ];
    for (let i = 0; i < 10_000; i++) {
      flood.send(kinds[i % kinds.length]!(), peer.port, HOST);
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
    const s = await udpClient('127.0.0.3');
    const reply = await queryUntilReply(s, peer.port, Buffer.from(`0share\n${sha1}`));
    expect(reply.toString()).toBe(`0share-reply\n${sha1}`);
    // None of the garbage was answered.
    expect(flood.replies).toEqual([]);
    s.close();
    flood.close();
    expect(peer.log()).toMatch(/Ignored datagram from 127\.0\.0\.1:\d+: oversized/);
    expect((await httpGet(peer.port, `/implementation/${sha1}`)).status).toBe(200);
  });

  it('rate-limits replies per source, so it cannot amplify a flood of valid queries', async () => {
    const s = await udpClient('127.0.0.4');
    const started = Date.now();
    for (let i = 0; i < 500; i++) {
      s.send(Buffer.from(`0share\n${sha1}`), peer.port, HOST);
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 500));
    const elapsed = (Date.now() - started) / 1000;
    expect(s.replies.length).toBeGreaterThan(0);
    // burst 20, then 10 a second
    expect(s.replies.length).toBeLessThanOrEqual(20 + Math.ceil(10 * elapsed));
    for (const r of s.replies) expect(r.length).toBeLessThanOrEqual(`0share\n${sha1}`.length + 6);
    s.close();
  });

  it('500 concurrent connections: it still serves a normal request', async () => {
    const sockets: Socket[] = [];
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: HOST, port: peer.port, localAddress: `127.0.2.${1 + (i % 10)}` }, () => {
            if (i % 2) s.write(`GET /implementation/${sha1} HTTP/1.1\r\nHost: x\r\n\r\n`);
            resolve();
          });
          s.on('error', () => resolve());
          s.pause();
          sockets.push(s);
        }),
      ),
    );
    // Requests from the crowd may take the upload slots for a moment: retry as a client would.
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await httpGet(peer.port, `/implementation/${sha256}`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    for (const s of sockets) s.destroy();
  });

  it('shuts down cleanly on SIGTERM, having written nothing', async () => {
    await peer.stop();
    expect(peer.proc.exitCode).toBe(0);
    const verify = ziResult(sb, ['store', 'verify', sha1]);
    expect(verify.status, verify.stderr).toBe(0);
    expect(spawnSync('find', [sb.root, '-newer', join(work, 'started')]).stdout.toString()).toBe('');
  });
});
