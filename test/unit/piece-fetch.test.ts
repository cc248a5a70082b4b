// The swarm's piece fetcher (io/piece-fetch.ts) against in-memory peers on loopback: a large file
// whose ranges arrive out of order and from two peers is hashed as they complete (read back only
// for what came ahead of the hash) and verified; a range attempt that breaks off part-way and is
// fetched again from another peer still gives the right file; a lying range is caught when the
// file completes ('lied' from one sender, 'mixed' from several) and the file is deleted; with a
// connection pool, one peer's units share one connection, and a broken attempt's is not reused.
// Whole files (small, empty, large) are created verified with their final mode and mtime, also
// under a umask that strips bits, and one that does not match never stays in the tree.
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import type { ManifestEntry } from '../../src/core/manifest-format.js';
import { decodePieceList } from '../../src/core/piece-list.js';
import { planFiles, type SwarmUnit } from '../../src/core/swarm-plan.js';
import { UnitFailure } from '../../src/machines/swarm.machine.js';
import { ConnectionPool } from '../../src/io/connection-pool.js';
import { pieceFetcher } from '../../src/io/piece-fetch.js';

const RANGE = 64 * 1024;
const SIZE = 4 * RANGE + 1000;
const data = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const entry: ManifestEntry = { path: Buffer.from('big'), kind: 'file', size: SIZE, mtime: 1_600_000_000n, exec: false, hash: createHash('sha256').update(data).digest('hex') };
const files = planFiles([entry]);
const digest = parseDigest('sha256new_62ZLHISQKLTMLQFKZQLKBJLKLJGKSSNNDTY26CX4E44YIPOL4MGQ');
const ranges = Array.from({ length: Math.ceil(SIZE / RANGE) }, (_, i) => ({ file: 0, offset: i * RANGE, length: Math.min(RANGE, SIZE - i * RANGE) }));
const unit = (i: number): SwarmUnit => ({ id: i, pieces: [ranges[i]!], bytes: ranges[i]!.length, rangeOf: 0 });

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A peer serving `content` for 'big'; `cutAfter` bytes of a response then it closes (a broken attempt). */
async function peer(content: Buffer, cutAfter?: number) {
  const srv = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const pieces = decodePieceList(Buffer.concat(parts));
      const body = Buffer.concat(pieces.map((p) => content.subarray(p.offset, p.offset + p.length)));
      if (cutAfter === undefined) return res.writeHead(200, { 'Content-Length': body.length }).end(body);
      res.writeHead(200, { 'Content-Length': body.length });
      res.write(body.subarray(0, cutAfter), () => res.destroy());
    });
  });
  const seen = { connections: 0, closed: 0 };
  srv.on('connection', (sock: Socket) => {
    seen.connections++;
    sock.on('close', () => seen.closed++);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  return { host: '127.0.0.1', port: (srv.address() as AddressInfo).port, seen };
}

function staging() {
  const tree = mkdtempSync(join(tmpdir(), 'zs-piece-'));
  cleanups.push(() => rmSync(tree, { recursive: true, force: true }));
  return tree;
}

const ask = (fetchUnit: ReturnType<typeof pieceFetcher>, u: SwarmUnit, p: { host: string; port: number }) =>
  fetchUnit({ unit: u, peer: p, signal: new AbortController().signal, onProgress: () => {} });

describe('pieceFetcher, a large file in ranges', () => {
  it('verifies a file whose ranges come out of order from two peers, and seals it', async () => {
    const [a, b] = [await peer(data), await peer(data)];
    const tree = staging();
    const verified: number[] = [];
    const fetchUnit = pieceFetcher({ digest, tree, files, onFile: (f) => verified.push(f) });
    // 2, then 0 at once with 4, then 1 and 3: the hash passes ranges that came ahead of it.
    await ask(fetchUnit, unit(2), a);
    await Promise.all([ask(fetchUnit, unit(0), b), ask(fetchUnit, unit(4), a)]);
    expect(verified).toEqual([]);
    await ask(fetchUnit, unit(1), b);
    await ask(fetchUnit, unit(3), a);
    expect(verified).toEqual([0]);
    const path = join(tree, 'big');
    expect(readFileSync(path).equals(data)).toBe(true);
    const st = lstatSync(path);
    expect(st.mode & 0o777).toBe(0o444);
    expect(st.mtimeMs / 1000).toBe(1_600_000_000);
  });

  it('a range attempt cut off part-way, fetched again from another peer, still gives the right file', async () => {
    const lying = Buffer.from(data);
    lying.fill(0x55, 0, 2 * RANGE);
    const [broken, honest] = [await peer(lying, RANGE / 2), await peer(data)];
    const tree = staging();
    const verified: number[] = [];
    const fetchUnit = pieceFetcher({ digest, tree, files, onFile: (f) => verified.push(f) });
    // Range 0 half arrives (wrong bytes, hashed as they came, in order), then breaks off.
    await expect(ask(fetchUnit, unit(0), broken)).rejects.toMatchObject({ fault: 'failed' });
    for (const i of [0, 1, 2, 3, 4]) await ask(fetchUnit, unit(i), honest);
    expect(verified).toEqual([0]);
    expect(readFileSync(join(tree, 'big')).equals(data)).toBe(true);
  });

  it('with a pool, one peer\'s units come one after another over one connection, which closing the pool closes; a broken attempt\'s connection is not reused', async () => {
    const [broken, honest] = [await peer(data, RANGE / 2), await peer(data)];
    const tree = staging();
    const pool = new ConnectionPool();
    cleanups.push(() => pool.close());
    const verified: number[] = [];
    const fetchUnit = pieceFetcher({ digest, tree, files, pool, onFile: (f) => verified.push(f) });
    await expect(ask(fetchUnit, unit(0), broken)).rejects.toMatchObject({ fault: 'failed' });
    await expect(ask(fetchUnit, unit(0), broken)).rejects.toMatchObject({ fault: 'failed' });
    for (const i of [0, 1, 2, 3, 4]) await ask(fetchUnit, unit(i), honest);
    expect(verified).toEqual([0]);
    expect(readFileSync(join(tree, 'big')).equals(data)).toBe(true);
    expect(broken.seen.connections).toBe(2);
    expect(honest.seen).toEqual({ connections: 1, closed: 0 });
    pool.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(honest.seen).toEqual({ connections: 1, closed: 1 });
  });

  it("a lying range fails the file when it completes: 'lied' from one sender, 'mixed' from several; the file is deleted", async () => {
    const bad = Buffer.from(data);
    bad[RANGE + 5] = bad[RANGE + 5]! ^ 1;
    for (const [senders, fault] of [[1, 'lied'], [2, 'mixed']] as const) {
      const liar = await peer(bad);
      const honest = senders === 2 ? await peer(data) : liar;
      const tree = staging();
      const fetchUnit = pieceFetcher({ digest, tree, files });
      for (const i of [0, 1, 2, 3]) await ask(fetchUnit, unit(i), i === 1 ? liar : honest);
      const err = await ask(fetchUnit, unit(4), honest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnitFailure);
      expect(err).toMatchObject({ fault, file: 0 });
      expect(() => lstatSync(join(tree, 'big'))).toThrow();
    }
  });
});

describe('pieceFetcher, whole files', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const contents: Record<string, Buffer> = {
    'a.txt': Buffer.from('alpha\n'),
    'empty': Buffer.alloc(0),
    'run.sh': Buffer.from('#!/bin/sh\necho hi\n'),
    'large.bin': Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7) & 0xff)),
  };
  const wholeFiles = planFiles(
    Object.entries(contents).map(([name, bytes], index): ManifestEntry => ({ path: Buffer.from(name), kind: 'file', size: bytes.length, mtime: BigInt(1_500_000_000 + index), exec: name.endsWith('.sh'), hash: sha(bytes) })),
  );
  const all: SwarmUnit = { id: 0, pieces: [...wholeFiles].map((f) => ({ file: f.index, offset: 0, length: f.entry.size! })), bytes: 0 };

  /** A peer answering piece lists from `served` (by path). */
  async function filesPeer(served: Record<string, Buffer>) {
    const srv = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(decodePieceList(Buffer.concat(parts)).map((p) => served[Buffer.from(p.path).toString()]!.subarray(p.offset, p.offset + p.length)));
        res.writeHead(200, { 'Content-Length': body.length }).end(body);
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => srv.close());
    return { host: '127.0.0.1', port: (srv.address() as AddressInfo).port };
  }

  it('creates each file verified, with its final mode and mtime, also under a umask that strips bits; small, empty and large ones', async () => {
    const p = await filesPeer(contents);
    const tree = staging();
    const verified: number[] = [];
    const old = process.umask(0o077);
    try {
      await ask(pieceFetcher({ digest, tree, files: wholeFiles, onFile: (f) => verified.push(f) }), all, p);
    } finally {
      process.umask(old);
    }
    expect(verified.sort()).toEqual([0, 1, 2, 3]);
    for (const f of wholeFiles) {
      const path = join(tree, Buffer.from(f.entry.path).toString());
      const st = lstatSync(path);
      expect(st.mode & 0o7777, path).toBe(f.entry.exec ? 0o555 : 0o444);
      expect(Math.floor(st.mtimeMs / 1000)).toBe(Number(f.entry.mtime));
      expect(readFileSync(path).equals(contents[Buffer.from(f.entry.path).toString()]!)).toBe(true);
    }
  });

  it("a file that does not match is never left in the tree; the unit fails 'lied' naming the files before it as done", async () => {
    const p = await filesPeer({ ...contents, 'run.sh': Buffer.from('#!/bin/sh\nrm -rf ~\n') });
    const tree = staging();
    const err = await ask(pieceFetcher({ digest, tree, files: wholeFiles }), all, p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitFailure);
    expect((err as UnitFailure).fault).toBe('lied');
    expect([...(err as UnitFailure).done].sort()).toEqual([0, 1]);
    expect(() => lstatSync(join(tree, 'run.sh'))).toThrow(/ENOENT/);
    expect(() => lstatSync(join(tree, 'large.bin'))).toThrow(/ENOENT/);
  });
});
