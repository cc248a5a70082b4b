// In-flight sharing, the client's side, against a fake partial holder on loopback: a real seed
// (`serve`) on 127.0.0.1 and, on 127.0.0.2 (not one of this machine's interface addresses, so
// its partial reply is heard), a fake machine that is "still fetching": it answers the query
// with `0share-partial`, it refuses `/have?with=fetching` (400: a holder from before it), its plain
// /have says it has every file, and it serves pieces by passing them
// on to the seed, except that any request naming the large file gets 409 (not verified yet).
// The client must take the partial holder into the swarm (never as the transfer's responder),
// poll its /have, get most pieces from it, take the 409 as "not yet" (the large file comes from
// the seed, the partial holder is not dropped), and commit a tree that verifies. So that the large
// file's ranges are still queued when the partial holder's first /have arrives (else the seed may
// take them all before, and the 409 is never asked for), the swarm's order puts them last and the
// seed serves at 4 MB/s.
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch, type FetchEvent } from '../../src/api/fetch.js';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import { encodeHave } from '../../src/core/have-bitmap.js';
import { parseManifest } from '../../src/core/manifest-table.js';
import { decodeQuery, encodePartialReply } from '../../src/core/protocol.js';
import { planFiles, planUnits } from '../../src/core/swarm-plan.js';
import { tieRank } from '../../src/machines/swarm.machine.js';
import { addDirectory, verifyEntry } from '../../src/io/store-add.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';

let root: string;
let digest: Digest;
let seed: ServeHandle;
let fake: { port: number; requests: string[]; close(): Promise<void> };
/** A swarm order in which the large file's ranges come after every batch of small files. */
let swarmSeed: number;

/** The fake partial holder on 127.0.0.2: one port for UDP and HTTP. */
async function fakePartialHolder(seedPort: number, files: number): Promise<typeof fake> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push(`${req.method} ${req.url?.replace(/^\/implementation\/[^/]+/, '')}`);
      // A holder from before `?with=fetching`: the poller falls back to the plain /have.
      if (req.url?.endsWith('/have?with=fetching')) return res.writeHead(400, { 'Content-Type': 'text/plain' }).end('unsupported query string\n');
      if (req.url?.endsWith('/have')) return res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(encodeHave(files, () => true));
      if (req.method === 'POST' && req.url?.endsWith('/files')) {
        if (body.includes('big/blob')) return requests.push('409'), res.writeHead(409, { 'Content-Type': 'text/plain' }).end("'big/blob' is not verified here yet\n");
        const up = request({ host: '127.0.0.1', port: seedPort, path: req.url, method: 'POST', headers: req.headers, agent: false }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        up.on('error', () => res.destroy());
        return up.end(body);
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', () => r()));
  const port = (server.address() as AddressInfo).port;
  const udp: Socket = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, '127.0.0.2', () => r()));
  udp.on('message', (m, rinfo) => {
    const asked = decodeQuery(m);
    if (!asked.ok || !asked.digests.some((d) => formatDigest(d) === formatDigest(digest))) return;
    for (const b of encodePartialReply([digest])) udp.send(b, rinfo.port, rinfo.address);
  });
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

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-partial-'));
  const src = join(root, 'src');
  mkdirSync(join(src, 'lib'), { recursive: true });
  mkdirSync(join(src, 'big'));
  for (let i = 0; i < 600; i++) writeFileSync(join(src, 'lib', `f${String(i).padStart(3, '0')}`), Buffer.alloc(2000 + i * 31, i % 251));
  writeFileSync(join(src, 'big', 'blob'), Buffer.from(Array.from({ length: 9 * 1024 * 1024 }, (_, i) => (i * 7) % 251)));
  digest = (await manifestOfTree(src, 'sha256new')).digest;
  const store = mkdtempSync(join(root, 'seed-'));
  await addDirectory(src, store, digest);
  seed = await serve({ port: 0, bind: '127.0.0.1', stores: [store], maxUploadRate: 4 * 1024 * 1024 });
  const files = planFiles(parseManifest(readFileSync(join(store, formatDigest(digest), '.manifest'))));
  fake = await fakePartialHolder(seed.address.port, files.length);
  const units = planUnits(files);
  const big = units.find((u) => u.rangeOf !== undefined)!.rangeOf!;
  const batches = units.filter((u) => u.rangeOf === undefined).map((u) => u.pieces[0]!.file);
  swarmSeed = 1;
  while (!batches.every((k) => tieRank(swarmSeed, k) < tieRank(swarmSeed, big))) swarmSeed++;
});

afterAll(async () => {
  await fake?.close();
  await seed?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a partial holder in the swarm (loopback, fake holder)', () => {
  it('joins the swarm, serves what it has, and its 409 sends that file to the seed without dropping it', async () => {
    const store = mkdtempSync(join(root, 'client-'));
    const events: FetchEvent[] = [];
    const [r] = await fetch([digest], {
      hosts: [`127.0.0.1:${seed.address.port}`, `127.0.0.2:${fake.port}`],
      stores: [store],
      timeout: 300,
      swarm: true,
      swarmSeed,
      onEvent: (e) => events.push(e),
    });
    expect(r).toMatchObject({ status: 'committed', attempts: [] });
    expect((await verifyEntry(r!.path!, digest)).ok).toBe(true);
    const partialKey = `127.0.0.2:${fake.port}`;
    // Never the transfer's responder: no whole-tar or manifest request, no 'reply' event for it.
    expect(fake.requests.filter((q) => q.startsWith('GET') && !q.includes('/have'))).toEqual([]);
    expect(events.filter((e) => e.type === 'reply').map((e) => (e as { peer: { host: string } }).peer.host)).toEqual(['127.0.0.1']);
    // Polled, asked for pieces, answered 409 for the large file, and never dropped.
    expect(fake.requests.filter((q) => q === 'GET /have?with=fetching')).toHaveLength(1);
    expect(fake.requests).toContain('GET /have');
    expect(fake.requests.filter((q) => q === 'POST /files').length).toBeGreaterThan(1);
    expect(fake.requests).toContain('409');
    expect(events.filter((e) => e.type === 'peer-failed')).toEqual([]);
    const sources = (events.filter((e) => e.type === 'sources').at(-1) as { bytes: Record<string, number> }).bytes;
    expect(sources[partialKey]).toBeGreaterThan(0);
    // The large file came from the seed.
    expect(sources[`127.0.0.1:${seed.address.port}`]).toBeGreaterThanOrEqual(9 * 1024 * 1024);
  });
});
