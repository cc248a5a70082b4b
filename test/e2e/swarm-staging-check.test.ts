// The swarm's final check end to end (src/io/staging-check.ts; it replaced hashing the whole
// staging tree again): a real in-process peer behind a proxy that holds back the unit of one file
// until the test has changed the staging tree (the partial dir) behind files already verified:
// a name added, removed or replaced by another type, a symlink's target. Every change must fail
// the fetch as a local failure naming the path, with the tree removed and nothing in the store;
// the same fetch untouched commits a tree that verifies. (A file this process wrote itself is
// checked by name and type: see test/unit/staging-check.test.ts.)
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch } from '../../src/api/fetch.js';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import { decodeQuery, encodeReply } from '../../src/core/protocol.js';
import { addDirectory, verifyEntry } from '../../src/io/store-add.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';

const OLD = 1_300_000_000;
/** Top-level, 2 MiB: a unit of its own (after a, link and run), which the proxy holds back. */
const HELD = 'zz';
let root: string;
let digest: Digest;
let peer: ServeHandle;
let server: Server;
let udp: Socket;
let port: number;
/** Runs on the staging tree while the held unit waits; then the unit goes on. */
let whileHeld: ((tree: string) => Promise<void>) | undefined;
/** The store the running test fetches into (its partial dir is the staging tree). */
let current = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-staging-check-'));
  const src = join(root, 'src');
  mkdirSync(join(src, 'lib', 'deep'), { recursive: true });
  writeFileSync(join(src, 'a'), 'aaaa');
  writeFileSync(join(src, 'run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  symlinkSync('lib/f1', join(src, 'link'));
  writeFileSync(join(src, HELD), Buffer.alloc(2 * 1024 * 1024, 7));
  for (let i = 0; i < 20; i++) writeFileSync(join(src, 'lib', `f${i}`), `file ${i}\n`);
  writeFileSync(join(src, 'lib', 'deep', 'g'), 'g');
  // Old times, so a write during the test changes a file's whole-second mtime.
  for (const f of ['a', 'run', HELD, 'lib/deep/g', ...Array.from({ length: 20 }, (_, i) => `lib/f${i}`)]) utimesSync(join(src, f), OLD, OLD);
  digest = (await manifestOfTree(src, 'sha256new')).digest;
  const seed = join(root, 'seed');
  await addDirectory(src, seed, digest);
  peer = await serve({ port: 0, bind: '127.0.0.1', stores: [seed] });
  server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (b: Buffer) => body.push(b));
    req.on('end', async () => {
      const sent = Buffer.concat(body);
      if (whileHeld && sent.includes(` ${HELD}\n`)) await whileHeld(join(current, `tmp-partial-${formatDigest(digest)}`));
      const up = request({ host: '127.0.0.1', port: peer.address.port, path: req.url, method: req.method, headers: req.headers, agent: false }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(sent);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
  // Offers the digest on the proxy's port, so the client's swarm talks to the proxy.
  udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  udp.on('message', (m, rinfo) => {
    const asked = decodeQuery(m);
    if (!asked.ok || !asked.digests.some((d) => formatDigest(d) === formatDigest(digest))) return;
    for (const b of encodeReply([digest])) udp.send(b, rinfo.port, rinfo.address);
  });
});

afterAll(async () => {
  udp?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await peer?.close();
  rmSync(root, { recursive: true, force: true });
});


/** Waits until `path` in `tree` is verified: a file with its final mode, or a symlink in place. */
async function verified(tree: string, path: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const st = existsSync(join(tree, path)) ? lstatSync(join(tree, path)) : undefined;
    if (st?.isSymbolicLink() || (st?.isFile() && (st.mode & 0o222) === 0)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${path} was never verified in ${tree}`);
}

/** Everything but the held file: verified before the test changes the tree. */
const BEFORE = ['a', 'run', 'link', 'lib/f1', 'lib/f19', 'lib/deep/g'];

async function fetchWith(change: (tree: string) => void) {
  current = mkdtempSync(join(root, 'store-'));
  whileHeld = async (tree) => {
    for (const p of BEFORE) await verified(tree, p);
    change(tree);
  };
  const [r] = await fetch([digest], { hosts: [`127.0.0.1:${port}`], stores: [current], timeout: 200 });
  return { r: r!, store: current };
}

describe('the swarm\'s final check of its staging tree', () => {
  it('commits the tree untouched, and it verifies', async () => {
    const { r, store } = await fetchWith(() => {});
    expect(r).toMatchObject({ status: 'committed', attempts: [] });
    expect((await verifyEntry(r.path!, digest)).ok).toBe(true);
    expect(readdirSync(store)).toEqual([formatDigest(digest)]);
  });

  const cases: Array<[string, (tree: string) => void, RegExp]> = [
    ['an extra file', (t) => writeFileSync(join(t, 'lib', 'extra'), ''), /"lib\/extra" is in the staging tree but not in the manifest/],
    ['a missing file', (t) => unlinkSync(join(t, 'lib', 'f1')), /"lib\/f1" is in the manifest but missing from the staging tree/],
    [
      'a file replaced by a symlink',
      (t) => {
        unlinkSync(join(t, 'a'));
        symlinkSync('run', join(t, 'a'));
      },
      /"a" is not a regular file, as the manifest says/,
    ],
    [
      'a symlink to a target of another length',
      (t) => {
        unlinkSync(join(t, 'link'));
        symlinkSync('lib/f10', join(t, 'link'));
      },
      /"link" is a symlink to 7 bytes, not 6/,
    ],
    [
      'a symlink replaced by a file',
      (t) => {
        unlinkSync(join(t, 'link'));
        writeFileSync(join(t, 'link'), 'lib/f1', { mode: 0o444 });
      },
      /"link" is not a symlink, as the manifest says/,
    ],
    ['an extra directory', (t) => mkdirSync(join(t, 'lib', 'deep', 'more')), /"lib\/deep\/more" is in the staging tree but not in the manifest/],
  ];
  for (const [what, change, message] of cases) {
    it(`refuses ${what}: a local failure naming it, the tree removed, nothing committed`, async () => {
      const { r, store } = await fetchWith(change);
      expect(r.status).toBe('failed');
      expect(r.failure).toBe('local');
      expect(r.localError).toMatch(/changed after its files were verified/);
      expect(r.localError).toMatch(message);
      expect(readdirSync(store)).toEqual([]);
    });
  }
});
