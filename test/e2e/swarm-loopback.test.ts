// The swarm mode on loopback, with real in-process peers (`serve`): manifest first, pieces from
// every holder at once, per-file checks with one peer lying about one file only (that file comes
// again from an honest peer, and the liar is never asked again), the fallback to the whole tar
// for peers that know only it (the 2008 routes, or 0share peers from before the swarm), and the
// piece route's refusals, the /mtimes route (and a peer without it), and the partial dir's lock held from the download until the commit has
// renamed the tree (or it was discarded). Each peer sits behind a recording proxy (HTTP) and an offerer (UDP)
// on one port, so the test sees every request and decides who answers discovery first.
import { createSocket, type Socket } from 'node:dgram';
import { chmodSync, existsSync, lstatSync, lutimesSync, utimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transferPorts } from '../../src/api/client-ports.js';
import { swarmTiming } from '../../src/api/client-timing.js';
import { fetch, type FetchEvent } from '../../src/api/fetch.js';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import { encodePieceList } from '../../src/core/piece-list.js';
import { decodeQuery, encodeReply } from '../../src/core/protocol.js';
import { ManifestTable } from '../../src/core/manifest-table.js';
import { planFiles, planUnits, unitBytes } from '../../src/core/swarm-plan.js';
import { takePartial } from '../../src/io/partial-dir.js';
import { tieRank } from '../../src/machines/swarm.machine.js';
import { pieceFetcher } from '../../src/io/piece-fetch.js';
import { addDirectory, verifyEntry } from '../../src/io/store-add.js';
import { layOut } from '../../src/io/swarm-staging.js';
import { packTree } from '../../src/io/tar-pack.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { need0install, zeroSandbox, ziResult } from '../helpers/zeroinstall.js';

const LIB_DEEP_MTIME = 1_234_000_000;
const LINK_MTIME = 1_345_000_000;
let root: string;
let src: string;
let digest: Digest;
const served: ServeHandle[] = [];

interface Front {
  port: number;
  /** Requests as they arrived: method, path, Date.now(). */
  requests: { method: string; url: string; at: number }[];
  close(): Promise<void>;
}

/** A UDP socket on `port` that offers `digest` (after `delay` ms) to every query naming it. */
async function offerer(port: number, delay: number): Promise<Socket> {
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  udp.on('message', (m, rinfo) => {
    const asked = decodeQuery(m);
    if (!asked.ok || !asked.digests.some((d) => formatDigest(d) === formatDigest(digest))) return;
    setTimeout(() => {
      for (const b of encodeReply([digest])) udp.send(b, rinfo.port, rinfo.address);
    }, delay);
  });
  return udp;
}

/** An HTTP proxy in front of `target` (a port on 127.0.0.1) recording every request, and its offerer. */
async function front(target: number, delay: number, handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<Front> {
  const requests: Front['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', at: Date.now() });
    if (handler?.(req, res)) return;
    const up = request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers, agent: false }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const udp = await offerer(port, delay);
  return {
    port,
    requests,
    close: async () => {
      udp.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function freshStore(): string {
  return mkdtempSync(join(root, 'store-'));
}

async function peerWith(tamper?: string): Promise<ServeHandle> {
  const store = freshStore();
  const dir = await addDirectory(src, store, digest);
  // As `store add` of a tar leaves it (adding a directory gives symlinks fresh times).
  lutimesSync(join(dir, 'link'), LINK_MTIME, LINK_MTIME);
  if (tamper) {
    // Same size, other bytes, .manifest left as it was: this peer lies about this one file only.
    const p = join(dir, tamper);
    chmodSync(dir, 0o755);
    chmodSync(p, 0o644);
    writeFileSync(p, 'X'.repeat(1000));
    chmodSync(p, 0o444);
    chmodSync(dir, 0o555);
  }
  const h = await serve({ port: 0, bind: '127.0.0.1', stores: [store] });
  served.push(h);
  return h;
}

const fronts: Front[] = [];
/** A front (closed in afterAll) for a peer, or for `handler` alone when there is no peer behind it. */
async function frontOf(h: ServeHandle | undefined, delay: number, handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<Front> {
  const f = await front(h?.address.port ?? 0, delay, handler);
  fronts.push(f);
  return f;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-swarm-'));
  src = join(root, 'src');
  mkdirSync(join(src, 'lib', 'deep'), { recursive: true });
  // a0 … a9 first in the manifest (so in the first batch), then many small files, a large one
  // (cut into ranges), an executable, an empty file and a symlink.
  for (let i = 0; i < 10; i++) writeFileSync(join(src, `a${i}`), Buffer.alloc(1000, 65 + i));
  for (let i = 0; i < 300; i++) writeFileSync(join(src, 'lib', `f${String(i).padStart(3, '0')}`), Buffer.alloc(1000 + i * 97, i % 251));
  writeFileSync(join(src, 'lib', 'deep', 'big'), Buffer.from(Array.from({ length: 20 * 1024 * 1024 }, (_, i) => (i * 31) % 253)));
  writeFileSync(join(src, 'run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  writeFileSync(join(src, 'empty'), '');
  symlinkSync('lib/deep/big', join(src, 'link'));
  // Times of their own, which the /mtimes route carries (the manifest does not).
  utimesSync(join(src, 'lib', 'deep'), LIB_DEEP_MTIME, LIB_DEEP_MTIME);
  digest = (await manifestOfTree(src, 'sha256new')).digest;
});

afterAll(async () => {
  await Promise.all(fronts.map((f) => f.close()));
  await Promise.all(served.map((s) => s.close()));
  rmSync(root, { recursive: true, force: true });
});

/** A swarm seed under which file `index` (and so the unit it is first in) comes before every other of the tree's. */
function seedPuttingFirst(index: number): number {
  const files = Array.from({ length: 400 }, (_, k) => k);
  for (let seed = 1; ; seed++) if (files.every((k) => k === index || tieRank(seed, index) < tieRank(seed, k))) return seed;
}

const mtimeOf = (p: string) => Math.floor(lstatSync(p).mtimeMs / 1000);
const tmpLeft = (store: string) => readdirSync(store).filter((n) => n.startsWith('tmp-'));
const hostsOf = (fs: Front[]) => fs.map((f) => `127.0.0.1:${f.port}`);

/** A swarm fetch from `f` alone into a fresh store, which must commit a tree that verifies at the first attempt; returns the store. */
async function swarmFetchFrom(f: Front): Promise<string> {
  const store = freshStore();
  const [r] = await fetch([digest], { hosts: hostsOf([f]), stores: [store], timeout: 200 });
  expect(r).toMatchObject({ status: 'committed', attempts: [] });
  expect((await verifyEntry(r!.path!, digest)).ok).toBe(true);
  return store;
}

describe('swarm fetch on loopback', () => {
  it('gets the files from every holder at once, drops a peer that lies about one file, and the tree verifies', async () => {
    // The liar answers discovery first, so it gets the first batch (a1 is in it).
    const liar = await frontOf(await peerWith('a1'), 0);
    const honest = [await frontOf(await peerWith(), 40), await frontOf(await peerWith(), 40)];
    const store = freshStore();
    const events: FetchEvent[] = [];
    let droppedAt = 0;
    const [r] = await fetch([digest], {
      hosts: hostsOf([liar, ...honest]),
      stores: [store],
      timeout: 300,
      // The first batch (a1 is in it) first in the swarm's order, so the liar, alone at first, is asked for it.
      swarmSeed: seedPuttingFirst(0),
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'peer-failed') droppedAt = Date.now();
      },
    });
    expect(r).toMatchObject({ status: 'committed', attempts: [] });
    expect((await verifyEntry(r!.path!, digest)).ok).toBe(true);
    expect(tmpLeft(store)).toEqual([]);
    // The liar was dropped once, for that file, and never asked again.
    const drops = events.filter((e) => e.type === 'peer-failed');
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ peer: { port: liar.port }, reason: expect.stringMatching(/'a1' does not match its manifest line/) });
    const liarPieces = liar.requests.filter((q) => q.method === 'POST');
    expect(liarPieces.length).toBeGreaterThan(0);
    for (const q of liarPieces) expect(q.at).toBeLessThanOrEqual(droppedAt);
    // Both honest peers served pieces, and the per-source counts say so.
    for (const h of honest) expect(h.requests.filter((q) => q.method === 'POST').length).toBeGreaterThan(0);
    const sources = events.filter((e) => e.type === 'sources').at(-1);
    expect(sources && sources.type === 'sources' && Object.values(sources.bytes).filter((b) => b > 0).length).toBeGreaterThanOrEqual(2);
    // Nobody sent the whole tar.
    const tree = `/implementation/${formatDigest(digest)}`;
    for (const f of [liar, ...honest]) expect(f.requests.filter((q) => q.url === tree || q.url.startsWith(`${tree}?`))).toEqual([]);
    // The first responder's /mtimes gave the directories and symlinks their times.
    expect(liar.requests.filter((q) => q.url === `${tree}/mtimes`)).toHaveLength(1);
    expect(mtimeOf(join(r!.path!, 'lib', 'deep'))).toBe(LIB_DEEP_MTIME);
    expect(mtimeOf(join(r!.path!, 'link'))).toBe(LINK_MTIME);
  });

  it('a 0share peer without the /mtimes route (older) still serves the swarm; directories and symlinks keep the fetch\'s times', async () => {
    const older = await frontOf(await peerWith(), 0, (req, res) => {
      if (!req.url?.endsWith('/mtimes')) return false;
      res.writeHead(404).end();
      return true;
    });
    const store = await swarmFetchFrom(older);
    expect(older.requests.filter((q) => q.method === 'POST').length).toBeGreaterThan(0);
    const path = join(store, formatDigest(digest));
    expect(mtimeOf(join(path, 'lib', 'deep'))).not.toBe(LIB_DEEP_MTIME);
    expect(mtimeOf(join(path, 'link'))).not.toBe(LINK_MTIME);
  });

  it.runIf(need0install())('what the swarm stored passes `0install store verify`', async () => {
    const a = await frontOf(await peerWith(), 0);
    const b = await frontOf(await peerWith(), 0);
    const sb = zeroSandbox();
    try {
      const [r] = await fetch([digest], { hosts: hostsOf([a, b]), stores: [sb.userStore], timeout: 200 });
      expect(r!.status).toBe('committed');
      const v = ziResult(sb, ['store', 'verify', r!.path!]);
      expect(v.status, v.stderr + v.stdout).toBe(0);
    } finally {
      rmSync(sb.root, { recursive: true, force: true });
    }
  });

  it('falls back to the whole tar from a peer that knows only the 2008 routes', async () => {
    const oldPeer = await frontOf(undefined, 0, (req, res) => {
      if (req.method === 'GET' && req.url === `/implementation/${formatDigest(digest)}`) {
        res.writeHead(200, { 'Content-Type': 'application/x-tar' });
        packTree(src).pipe(res);
      } else res.writeHead(404).end();
      return true;
    });
    await swarmFetchFrom(oldPeer);
    expect(oldPeer.requests.map((q) => `${q.method} ${q.url}`)).toEqual([
      `GET /implementation/${formatDigest(digest)}/manifest`,
      `GET /implementation/${formatDigest(digest)}`,
    ]);
  });

  it('falls back to the whole tar from a 0share peer that serves the manifest but no pieces', async () => {
    const noPieces = await frontOf(await peerWith(), 0, (req, res) => {
      if (req.method !== 'POST') return false;
      res.writeHead(404).end();
      return true;
    });
    const store = await swarmFetchFrom(noPieces);
    expect(noPieces.requests.at(-1)).toMatchObject({ method: 'GET', url: `/implementation/${formatDigest(digest)}` });
    expect(tmpLeft(store)).toEqual([]);
  });

  it('keeps the partial dir locked until the commit has renamed it, or the discard removed it', async () => {
    const a = await frontOf(await peerWith(), 0);
    const peer = { host: '127.0.0.1', port: a.port };
    const store = freshStore();
    const partial = join(store, `tmp-partial-${formatDigest(digest)}`);
    const portsFor = (s: string) => transferPorts({ stores: [s], swarm: { timing: swarmTiming({}) } });
    const stage = (ports: ReturnType<typeof portsFor>) => ports.download({ digest, peer, signal: new AbortController().signal, onConnected: () => {}, onProgress: () => {} });
    const ports = portsFor(store);
    const staged = await stage(ports);
    expect(staged.tmpDir).toBe(partial);
    // Staged, not yet committed: a second fetch of the digest must not take the tree.
    expect(readFileSync(`${partial}.lock`, 'latin1')).toBe(String(process.pid));
    expect(await takePartial(store, digest)).toBeUndefined();
    const path = await ports.commit({ digest, peer, staged });
    expect((await verifyEntry(path, digest)).ok).toBe(true);
    expect(readdirSync(store)).toEqual([formatDigest(digest)]);

    const other = freshStore();
    const ports2 = portsFor(other);
    const staged2 = await stage(ports2);
    expect(existsSync(`${staged2.tmpDir}.lock`)).toBe(true);
    await ports2.discard(staged2);
    expect(readdirSync(other)).toEqual([]);
    await ports.settled();
    await ports2.settled();
  });

  it('a unit asked again after an attempt was stopped part-way asks only for the files not yet verified', async () => {
    const a = await frontOf(await peerWith(), 0);
    const tree = mkdtempSync(join(root, 'tree-'));
    const entries = ManifestTable.parse((await manifestOfTree(src, 'sha256new')).manifest);
    await layOut(tree, entries);
    const files = planFiles(entries);
    const unit = planUnits(files)[0]!;
    const fetchUnit = pieceFetcher({ digest, tree, files });
    let got = 0;
    const ask = (pieces: typeof unit.pieces) =>
      fetchUnit({ unit: { id: 0, pieces, bytes: unitBytes(pieces) }, peer: { host: '127.0.0.1', port: a.port }, signal: new AbortController().signal, onProgress: (n) => (got = n) });
    // The stopped attempt: the unit's first three files arrived and were verified.
    await ask(unit.pieces.slice(0, 3));
    await ask(unit.pieces);
    expect(got).toBe(unitBytes(unit.pieces.slice(3)));
    expect(a.requests.filter((q) => q.method === 'POST')).toHaveLength(2);
    // Every file is in place and has its final mode; asked once more, nothing is asked.
    for (const { entry } of unit.pieces.map((p) => files.get(p.file))) {
      const st = lstatSync(join(tree, Buffer.from(entry.path).toString()));
      expect(entry.kind === 'symlink' ? st.isSymbolicLink() : st.isFile() && (st.mode & 0o222) === 0, Buffer.from(entry.path).toString()).toBe(true);
    }
    await ask(unit.pieces);
    expect(a.requests.filter((q) => q.method === 'POST')).toHaveLength(2);
  });

  it('with wholeTar (the 2008 mode), it asks for the whole tar only', async () => {
    const a = await frontOf(await peerWith(), 0);
    const [r] = await fetch([digest], { hosts: hostsOf([a]), stores: [freshStore()], timeout: 200, wholeTar: true });
    expect(r!.status).toBe('committed');
    expect(a.requests.map((q) => q.method + ' ' + q.url)).toEqual([`GET /implementation/${formatDigest(digest)}`]);
  });
});

describe('the piece route of a 0share peer', () => {
  let port: number;
  beforeAll(async () => {
    port = (await peerWith()).address.port;
  });

  interface Answer {
    status: number;
    body: Buffer;
    allow?: string;
    length?: string;
    /** The whole body arrived (false: the connection ended before Content-Length bytes). */
    complete: boolean;
  }
  /** POSTs `body`; with `slow`, reads the answer in small steps with pauses (a slow client). */
  const post = (path: string, body: Buffer, method = 'POST', to = port, slow = false) =>
    new Promise<Answer>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port: to, path, method, agent: false }, (res) => {
        const parts: Buffer[] = [];
        const done = () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), allow: res.headers.allow, length: res.headers['content-length'], complete: res.complete });
        res.on('data', (c: Buffer) => {
          parts.push(c);
          if (slow && parts.length % 8 === 0) {
            res.pause();
            setTimeout(() => res.resume(), 15);
          }
        });
        res.on('end', done);
        res.on('aborted', done);
        res.on('error', () => {});
      });
      r.on('error', reject);
      r.end(body);
    });
  const files = () => `/implementation/${formatDigest(digest)}/files`;
  /** The bytes a list asks for, from the source tree. */
  const bytesOf = (pieces: { path: Buffer; offset: number; length: number }[]) =>
    Buffer.concat(
      pieces.map((p) => {
        const abs = join(src, p.path.toString());
        const data = lstatSync(abs).isSymbolicLink() ? Buffer.from(readlinkSync(abs)) : readFileSync(abs);
        return data.subarray(p.offset, p.offset + p.length);
      }),
    );
  /** Every file and symlink of the tree, the large file in 4 MiB ranges, in an order of its own for `k`. */
  const everything = (k: number) => {
    const pieces = [
      ...Array.from({ length: 10 }, (_, i) => ({ path: Buffer.from(`a${i}`), offset: 0, length: 1000 })),
      ...Array.from({ length: 300 }, (_, i) => ({ path: Buffer.from(`lib/f${String(i).padStart(3, '0')}`), offset: 0, length: 1000 + i * 97 })),
      ...Array.from({ length: 5 }, (_, i) => ({ path: Buffer.from('lib/deep/big'), offset: i * 4 * 1024 * 1024, length: 4 * 1024 * 1024 })),
      { path: Buffer.from('link'), offset: 0, length: 'lib/deep/big'.length },
      { path: Buffer.from('empty'), offset: 0, length: 0 },
    ];
    return pieces.map((p, i) => ({ p, r: (i * (k + 7) * 2654435761) % 4093 })).sort((a, b) => a.r - b.r).map((x) => x.p);
  };

  it('answers the pieces asked for, back to back', async () => {
    const r = await post(files(), encodePieceList([
      { path: Buffer.from('a2'), offset: 10, length: 5 },
      { path: Buffer.from('link'), offset: 0, length: 'lib/deep/big'.length },
      { path: Buffer.from('lib/deep/big'), offset: 1, length: 3 },
    ]));
    expect(r.status).toBe(200);
    expect(r.length).toBe(String(5 + 12 + 3));
    expect(r.body.toString('latin1')).toBe('CCCCC' + 'lib/deep/big' + String.fromCharCode(31, 62, 93));
  });

  it('lists answered at once to slow readers arrive intact, each with its Content-Length (no read buffer is reused before the socket wrote it)', async () => {
    const lists = Array.from({ length: 6 }, (_, k) => everything(k));
    const answers = await Promise.all(lists.map((l) => post(files(), encodePieceList(l), 'POST', port, true)));
    for (const [k, a] of answers.entries()) {
      const want = bytesOf(lists[k]!);
      expect(a.status).toBe(200);
      expect(a.length).toBe(String(want.length));
      expect(a.complete).toBe(true);
      expect(a.body.equals(want), `list ${k}`).toBe(true);
    }
  });

  it('refuses what the manifest does not list, ranges outside a file, and bad lists, before any byte', async () => {
    for (const body of [
      encodePieceList([{ path: Buffer.from('../../etc/passwd'), offset: 0, length: 1 }]),
      encodePieceList([{ path: Buffer.from('lib'), offset: 0, length: 1 }]),
      encodePieceList([{ path: Buffer.from('.manifest'), offset: 0, length: 1 }]),
      encodePieceList([{ path: Buffer.from('a2'), offset: 999, length: 2 }]),
      encodePieceList([{ path: Buffer.from('link'), offset: 1, length: 2 }]),
      Buffer.from('1 2\n'),
      Buffer.from('-1 2 a2\n'),
      Buffer.from('0 1 a2'),
      Buffer.alloc(0),
    ]) {
      const r = await post(files(), body);
      expect(r.status, body.toString()).toBe(400);
      expect(r.body.toString()).toMatch(/piece|not a file|outside/);
    }
  });

  it('404 before any byte for a file the manifest lists that is missing here, or not its size', async () => {
    const store = freshStore();
    const dir = await addDirectory(src, store, digest);
    chmodSync(join(dir, 'lib'), 0o755);
    rmSync(join(dir, 'lib', 'f005'));
    chmodSync(join(dir, 'lib', 'f006'), 0o644);
    writeFileSync(join(dir, 'lib', 'f006'), 'short');
    const h = await serve({ port: 0, bind: '127.0.0.1', stores: [store] });
    served.push(h);
    // A directory on the way swapped for a symlink to a copy of it outside the tree.
    const outside = mkdtempSync(join(root, 'outside-'));
    writeFileSync(join(outside, 'big'), readFileSync(join(src, 'lib', 'deep', 'big')));
    chmodSync(join(dir, 'lib', 'deep'), 0o755);
    rmSync(join(dir, 'lib', 'deep'), { recursive: true });
    symlinkSync(outside, join(dir, 'lib', 'deep'));
    for (const [name, why] of [
      ['lib/f005', /'lib\/f005' is missing here/],
      ['lib/f006', /'lib\/f006' here is not the file the manifest lists/],
      ['lib/deep/big', /'lib\/deep' is not a directory here/],
    ] as const) {
      const r = await post(files(), encodePieceList([{ path: Buffer.from('a2'), offset: 0, length: 1 }, { path: Buffer.from(name), offset: 0, length: 1 }]), 'POST', h.address.port);
      expect(r.status, name).toBe(404);
      expect(r.body.toString()).toMatch(why);
    }
    // Past the first MiB of a list, a file that is not there ends the answer short (its first MiB was checked whole).
    const long = [{ path: Buffer.from('lib/f100'), offset: 0, length: 10_700 }, ...everything(0).filter((p) => p.path.toString().startsWith('a')), { path: Buffer.from('lib/f005'), offset: 0, length: 1 }];
    long.splice(1, 0, ...Array.from({ length: 120 }, (_, i) => ({ path: Buffer.from(`lib/f${200 + (i % 90)}`), offset: 0, length: 1000 + (200 + (i % 90)) * 97 })));
    const cut = await post(files(), encodePieceList(long), 'POST', h.address.port);
    expect(cut.status).toBe(200);
    expect(Number(cut.length)).toBe(long.reduce((n, p) => n + p.length, 0));
    expect(cut.complete).toBe(false);
    expect(cut.body.length).toBeLessThan(Number(cut.length));
  });

  it('404 for a digest it does not have; 405 for GET on the piece route and POST on the others', async () => {
    expect((await post(`/implementation/sha256new_${'B'.repeat(52)}/files`, encodePieceList([{ path: Buffer.from('a2'), offset: 0, length: 1 }]))).status).toBe(404);
    const get = await post(files(), Buffer.alloc(0), 'GET');
    expect(get).toMatchObject({ status: 405, allow: 'POST' });
    expect((await post(`/implementation/${formatDigest(digest)}`, Buffer.alloc(0))).status).toBe(405);
  });
});
