// Reuse from the local stores in swarm mode: a new version that shares most of its files with
// a cached older one costs only the changed files over the network; shared files are hard-linked
// when their mode and mtime match (the inode is the old version's), and a damaged local copy is
// never trusted (that file comes from the peer). Every stored tree passes `0install store verify`.
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch, type FetchEvent } from '../../src/api/fetch.js';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import { addDirectory, verifyEntry } from '../../src/io/store-add.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { need0install, zeroSandbox, ziResult } from '../helpers/zeroinstall.js';

let root: string;
let v1: Digest;
let v2: Digest;
let treeBytes = 0;
let peer: ServeHandle;
const FILES = 40;
const SIZE = 256 * 1024;

/** File i of a version: the same bytes in both versions, except the changed ones. */
function content(i: number, changed: boolean): Buffer {
  return Buffer.alloc(SIZE, (i * 7 + (changed ? 101 : 0)) % 256);
}

function writeVersion(dir: string, changed: (i: number) => boolean): void {
  mkdirSync(join(dir, 'lib'), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const p = join(dir, 'lib', `part${i}`);
    writeFileSync(p, content(i, changed(i)));
    utimesSync(p, 1_700_000_000, 1_700_000_000);
  }
  writeFileSync(join(dir, 'run'), '#!/bin/sh\n', { mode: 0o755 });
  utimesSync(join(dir, 'run'), 1_700_000_000, 1_700_000_000);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-reuse-'));
  // v2 changes 4 of the 40 files (10% of the bytes).
  writeVersion(join(root, 'v1'), () => false);
  writeVersion(join(root, 'v2'), (i) => i % 10 === 3);
  v1 = (await manifestOfTree(join(root, 'v1'), 'sha256new')).digest;
  v2 = (await manifestOfTree(join(root, 'v2'), 'sha256new')).digest;
  treeBytes = FILES * SIZE + '#!/bin/sh\n'.length;
  const seed = join(root, 'seed');
  await addDirectory(join(root, 'v2'), seed, v2);
  peer = await serve({ port: 0, bind: '127.0.0.1', stores: [seed] });
});

afterAll(async () => {
  await peer?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A client store holding v1. */
async function clientWithV1(): Promise<string> {
  const store = mkdtempSync(join(root, 'client-'));
  await addDirectory(join(root, 'v1'), store, v1);
  return store;
}

describe('swarm reuse of local files', () => {
  it('a new version that shares 90% of its bytes with a cached one costs only the changed files', async () => {
    const store = await clientWithV1();
    const events: FetchEvent[] = [];
    const [r] = await fetch([v2], { hosts: [`127.0.0.1:${peer.address.port}`], stores: [store], timeout: 200, onEvent: (e) => events.push(e) });
    expect(r).toMatchObject({ status: 'committed' });
    expect((await verifyEntry(r!.path!, v2)).ok).toBe(true);
    // Network bytes: the 4 changed files and the small ones, plus the manifest.
    process.stderr.write(`[swarm-reuse] received ${r!.bytes} of ${treeBytes} bytes (${(r!.bytes / treeBytes).toFixed(3)})\n`);
    expect(r!.bytes).toBeLessThan(0.15 * treeBytes);
    expect(r!.bytes).toBeGreaterThanOrEqual(4 * SIZE);
    expect(r!.sources?.local).toBe(36 * SIZE + '#!/bin/sh\n'.length); // run is the same in both
    // The same mode and mtime: the shared file is the old version's inode.
    const shared = lstatSync(join(r!.path!, 'lib', 'part0'));
    expect(shared.ino).toBe(lstatSync(join(store, formatDigest(v1), 'lib', 'part0')).ino);
    expect(shared.mode & 0o777).toBe(0o444);
  });

  it('never trusts a damaged local copy: that file comes from the peer', async () => {
    const store = await clientWithV1();
    const old = join(store, formatDigest(v1));
    chmodSync(old, 0o755);
    chmodSync(join(old, 'lib'), 0o755);
    const bad = join(old, 'lib', 'part5');
    chmodSync(bad, 0o644);
    writeFileSync(bad, Buffer.alloc(SIZE, 1)); // same size, other bytes; .manifest unchanged
    const [r] = await fetch([v2], { hosts: [`127.0.0.1:${peer.address.port}`], stores: [store], timeout: 200 });
    expect(r).toMatchObject({ status: 'committed' });
    expect((await verifyEntry(r!.path!, v2)).ok).toBe(true);
    expect(r!.bytes).toBeGreaterThanOrEqual(5 * SIZE);
    expect(r!.sources?.local).toBe(35 * SIZE + '#!/bin/sh\n'.length);
  });

  it('with wholeTar (the 2008 mode), nothing is reused', async () => {
    const store = await clientWithV1();
    const [r] = await fetch([v2], { hosts: [`127.0.0.1:${peer.address.port}`], stores: [store], timeout: 200, wholeTar: true });
    expect(r!.status).toBe('committed');
    expect(r!.bytes).toBeGreaterThan(treeBytes);
  });

  it.runIf(need0install())('what was assembled from local files passes `0install store verify`', async () => {
    const sb = zeroSandbox();
    try {
      await addDirectory(join(root, 'v1'), sb.userStore, v1);
      const [r] = await fetch([v2], { hosts: [`127.0.0.1:${peer.address.port}`], stores: [sb.userStore], timeout: 200 });
      expect(r!.status).toBe('committed');
      for (const d of [v1, v2]) {
        const v = ziResult(sb, ['store', 'verify', join(sb.userStore, formatDigest(d))]);
        expect(v.status, v.stderr + v.stdout).toBe(0);
      }
    } finally {
      rmSync(sb.root, { recursive: true, force: true });
    }
  });
});
