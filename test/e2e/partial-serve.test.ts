// A real `0share serve` sharing a fetch in flight on its machine: a store holding a hand-made
// partial dir (`tmp-partial-<digest>/` with the verified `.manifest`, some files verified, some
// still being written or missing, a symlink) locked by a live pid (this test's own). The peer
// answers the query with the partial datagram, `/have` with exactly the verified bits, serves the
// manifest and the verified files' bytes, `409` for the others and `404` for the whole tar (and
// its mtimes); once
// the lock's pid is dead, or the `.manifest` is gone or is not the digest's, it answers nothing.
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { chmodSync, cpSync, mkdirSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { decodeHave } from '../../src/core/have-bitmap.js';
import { parseManifest } from '../../src/core/manifest-table.js';
import { encodePieceList } from '../../src/core/piece-list.js';
import { encodeQuery, HELLO } from '../../src/core/protocol.js';
import { planFiles } from '../../src/core/swarm-plan.js';
import { VERIFIED_TTL_MS } from '../../src/io/partial-holders.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { type CliPeer, startCliPeer } from '../helpers/cli-peer.js';
import { buildTree, storeImplementation, tempDir } from '../helpers/trees.js';

const MTIME = 1_700_000_000;
const content = (name: string) => Buffer.from(`the content of ${name}\n`.repeat(50));

let tmp: ReturnType<typeof tempDir>;
let store: string;
let partial: string;
let digest: string;
let complete: string;
let manifest: Buffer;
let peer: CliPeer;
/** Plan index by path. */
const index = new Map<string, number>();

interface Answer {
  status: number;
  type?: string;
  body: Buffer;
}

function http(path: string, method = 'GET', body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: peer.port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const files = (paths: string[]) => encodePieceList(paths.map((p) => ({ path: Buffer.from(p), offset: 0, length: p === 'link' ? 1 : content(p).length })));

let sources = 0;

/**
 * The datagrams a query for `digests` gets (it must get at least one), up to the answer to a
 * hello sent once the first arrived: the peer sends all of a query's datagrams at once, so any
 * that follow the first arrive before the hello's answer. Each query comes from a new loopback
 * address, so the per-source rate limit never drops one.
 */
async function ask(digests: string[]): Promise<string[]> {
  const s: Socket = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, `127.0.1.${++sources}`, r));
  const got: string[] = [];
  const done = new Promise<void>((resolve) =>
    s.on('message', (m: Buffer) => {
      const text = m.toString('latin1');
      if (text === '0share-peer') return resolve();
      if (got.push(text) === 1) s.send(Buffer.from(HELLO), peer.port, '127.0.0.1');
    }),
  );
  for (const d of encodeQuery(digests.map(parseDigest))) s.send(d, peer.port, '127.0.0.1');
  await done;
  s.close();
  return got;
}

/** The verified mark: the final mode and the manifest's mtime. */
function mark(path: string, mode: number) {
  chmodSync(path, mode);
  utimesSync(path, MTIME, MTIME);
}

beforeAll(async () => {
  tmp = tempDir('0share-partial-');
  store = join(tmp.dir, 'store');
  mkdirSync(store);
  complete = (await storeImplementation(join(tmp.dir, 'other'), store, { only: 'a complete one' })).digest;
  const src = join(tmp.dir, 'src');
  buildTree(src, [
    { path: 'a', kind: 'file', content: content('a'), mtime: MTIME },
    { path: 'run', kind: 'file', content: content('run'), mode: 0o755, mtime: MTIME },
    { path: 'b', kind: 'file', content: content('b'), mtime: MTIME },
    { path: 'sub', kind: 'dir' },
    { path: 'sub/c', kind: 'file', content: content('sub/c'), mtime: MTIME },
    { path: 'sub/d', kind: 'file', content: content('sub/d'), mtime: MTIME },
    { path: 'link', kind: 'symlink', target: 'a' },
  ]);
  const m = await manifestOfTree(src, 'sha256new');
  manifest = m.manifest;
  digest = formatDigest(m.digest);
  for (const f of planFiles(parseManifest(manifest))) index.set(Buffer.from(f.entry.path).toString(), f.index);
  // The fetching process's partial dir: a, run, sub/c and link verified; b still being written
  // (mode 0600), sub/d not there yet.
  partial = join(store, `tmp-partial-${digest}`);
  cpSync(src, partial, { recursive: true, verbatimSymlinks: true });
  chmodSync(partial, 0o700);
  mark(join(partial, 'a'), 0o444);
  mark(join(partial, 'run'), 0o555);
  mark(join(partial, 'sub/c'), 0o444);
  chmodSync(join(partial, 'b'), 0o600);
  unlinkSync(join(partial, 'sub/d'));
  writeFileSync(join(partial, '.manifest'), manifest, { mode: 0o444 });
  writeFileSync(`${partial}.lock`, String(process.pid));
  peer = await startCliPeer(store, ['--no-mdns', '--skip-iface', '*']);
});

afterAll(async () => {
  await peer?.stop();
  await tmp?.cleanup();
});

describe('a peer with a fetch in flight on its machine', () => {
  it('answers a query for it with the partial datagram only (and the usual reply for what it has complete)', async () => {
    expect(await ask([digest])).toEqual([`0share-partial\n${digest}`]);
    expect(await ask([complete, digest])).toEqual([`0share-reply\n${complete}`, `0share-partial\n${digest}`]);
  });

  it('/have sets exactly the bits of the verified files and symlinks', async () => {
    const have = await http(`/implementation/${digest}/have`);
    expect(have.status).toBe(200);
    expect(have.type).toBe('application/octet-stream');
    const bits = decodeHave(have.body, index.size);
    expect(bits).toEqual(new Set(['a', 'run', 'sub/c', 'link'].map((p) => index.get(p)!)));
    // A complete implementation has every bit set.
    const all = await http(`/implementation/${complete}/have`);
    expect(all.status).toBe(200);
    expect(decodeHave(all.body, 1)).toEqual(new Set([0]));
  });

  it('serves the manifest and the verified files, 409 for the others, 404 for the whole tar', async () => {
    const m = await http(`/implementation/${digest}/manifest`);
    expect(m.status).toBe(200);
    expect(m.body.equals(manifest)).toBe(true);
    const ok = await http(`/implementation/${digest}/files`, 'POST', files(['a', 'run', 'sub/c', 'link']));
    expect(ok.status).toBe(200);
    expect(ok.body.equals(Buffer.concat([content('a'), content('run'), content('sub/c'), Buffer.from('a')]))).toBe(true);
    const notYet = await http(`/implementation/${digest}/files`, 'POST', files(['a', 'b', 'sub/d']));
    expect(notYet.status).toBe(409);
    expect(notYet.type).toMatch(/^text\/plain/);
    expect(notYet.body.toString()).toContain('"b" is not verified here yet');
    expect((await http(`/implementation/${digest}/files`, 'POST', files(['sub/d']))).status).toBe(409);
    expect((await http(`/implementation/${digest}`)).status).toBe(404);
    expect((await http(`/implementation/${digest}?format=tar`)).status).toBe(404);
    // Its directories have the fetch's times until the end: no /mtimes either.
    expect((await http(`/implementation/${digest}/mtimes`)).status).toBe(404);
  });

  it('/stats lists it with its files verified so far', async () => {
    const stats = JSON.parse((await http('/stats')).body.toString());
    expect(stats.inFlight).toEqual([{ digest, store, verified: 4, files: index.size }]);
    expect((await http('/')).body.toString()).toContain('4 of 6');
  });

  it('answers nothing for it once the lock names a dead process, the .manifest is gone, or is not the digest’s', async () => {
    const silent = async () => {
      expect(await ask([complete, digest])).toEqual([`0share-reply\n${complete}`]);
      expect((await http(`/implementation/${digest}/have`)).status).toBe(404);
      expect((await http(`/implementation/${digest}/manifest`)).status).toBe(404);
      expect((await http(`/implementation/${digest}/files`, 'POST', files(['a']))).status).toBe(404);
      expect(JSON.parse((await http('/stats')).body.toString()).inFlight).toEqual([]);
    };
    // The peer looks again at most VERIFIED_TTL_MS after it last did.
    const settle = () => new Promise((r) => setTimeout(r, VERIFIED_TTL_MS + 50));
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(`${partial}.lock`, String(gone));
    await settle();
    await silent();
    writeFileSync(`${partial}.lock`, String(process.pid));
    await settle();
    expect(await ask([digest])).toEqual([`0share-partial\n${digest}`]);
    const kept = join(tmp.dir, 'manifest');
    cpSync(join(partial, '.manifest'), kept);
    rmSync(join(partial, '.manifest'));
    await settle();
    await silent();
    writeFileSync(join(partial, '.manifest'), Buffer.concat([manifest, Buffer.from(`F ${'0'.repeat(64)} ${MTIME} 1 extra\n`)]));
    await settle();
    await silent();
  });
});
