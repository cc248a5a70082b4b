// A real swarm fetch shared while in flight: `0share fetch --swarm` pulls a tree from a
// rate-limited seed into a store that a real `0share serve` on the same machine serves. While
// the fetch runs, that peer answers the query with the partial datagram, its `/have` shows some
// of the files, and the files it shows come back with the seed's bytes (the fetching process
// wrote the verified `.manifest` and marked each file it verified); once the fetch has
// committed, the peer has the implementation complete: a plain reply and every bit set.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { decodeHave } from '../../src/core/have-bitmap.js';
import { encodePieceList } from '../../src/core/piece-list.js';
import { encodeQuery } from '../../src/core/protocol.js';
import { addDirectory } from '../../src/io/store-add.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { CLI } from '../helpers/cli.js';
import { type CliPeer, startCliPeer } from '../helpers/cli-peer.js';

const FILES = 48;
const SIZE = 128 * 1024;
let root: string;
let digest: string;
let seed: ServeHandle;
let store: string;
let local: CliPeer;

const fileName = (i: number) => `f${String(i).padStart(2, '0')}`;

function http(port: number, path: string, method = 'GET', body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The first datagram the local peer answers a query for the digest with. */
async function firstAnswer(): Promise<string> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got = new Promise<string>((resolve) => s.once('message', (m: Buffer) => resolve(m.toString('latin1'))));
  for (const d of encodeQuery([parseDigest(digest)])) s.send(d, local.port, '127.0.0.1');
  const text = await got;
  s.close();
  return text;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-partial-fetch-'));
  const src = join(root, 'src');
  mkdirSync(src);
  for (let i = 0; i < FILES; i++) writeFileSync(join(src, fileName(i)), Buffer.alloc(SIZE, i));
  const d = (await manifestOfTree(src, 'sha256new')).digest;
  digest = formatDigest(d);
  const seedStore = join(root, 'seed');
  await addDirectory(src, seedStore, d);
  // 1 MiB/s: the 6 MiB tree takes a few seconds.
  seed = await serve({ port: 0, bind: '127.0.0.1', stores: [seedStore], maxUploadRate: 1024 * 1024 });
  store = join(root, 'client');
  mkdirSync(store);
  local = await startCliPeer(store, ['--no-mdns', '--skip-iface', '*']);
});

afterAll(async () => {
  await local?.stop();
  await seed?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a swarm fetch in flight, shared by its machine’s peer', () => {
  it('is offered and served file by file as it is verified, then complete', async () => {
    const proc = spawn(process.execPath, [CLI, 'fetch', digest, '-H', `127.0.0.1:${seed.address.port}`, '--store', store, '--timeout', '200', '--swarm'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));

    // Wait until the local peer shows some of the files verified, not yet all.
    let bits: Set<number> | undefined;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`the fetch ended before its peer showed it in flight: ${err}`);
      const have = await http(local.port, `/implementation/${digest}/have`);
      if (have.status === 200) {
        const set = decodeHave(have.body, FILES);
        if (set instanceof Error) throw set;
        if (set.size > 0 && set.size < FILES) {
          bits = set;
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const shown = [...bits].slice(0, 4);
    const pieces = encodePieceList(shown.map((i) => ({ path: Buffer.from(fileName(i)), offset: 0, length: SIZE })));
    const files = await http(local.port, `/implementation/${digest}/files`, 'POST', pieces);
    const answer = await firstAnswer();
    expect(await exited, err).toBe(0);
    process.stderr.write(`[partial-fetch] the local peer showed ${bits.size} of ${FILES} files verified in flight\n`);
    expect(files.status).toBe(200);
    expect(files.body.equals(Buffer.concat(shown.map((i) => Buffer.alloc(SIZE, i))))).toBe(true);
    // (The fetch may have committed between the /have and the query: then it is a plain reply.)
    expect([`0share-partial\n${digest}`, `0share-reply\n${digest}`]).toContain(answer);

    // Committed: the peer has it complete.
    expect(await firstAnswer()).toBe(`0share-reply\n${digest}`);
    const all = decodeHave((await http(local.port, `/implementation/${digest}/have`)).body, FILES);
    expect(all instanceof Set && all.size).toBe(FILES);
    expect(JSON.parse((await http(local.port, '/stats')).body.toString()).inFlight).toEqual([]);
  });
});
