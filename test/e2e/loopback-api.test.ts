// The programmatic client (`fetch`, `query`) against a real in-process peer (`serve`) on
// loopback: unicast with -H, broadcast to 127.255.255.255, a digest nobody has, a cached digest,
// fallback from a peer that refuses the connection, a lying peer beside an honest one, and the
// discovery window: ending early once every -H host answered, and windowFrom.
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch, type FetchEvent } from '../../src/api/fetch.js';
import { query } from '../../src/api/query.js';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, parseDigest, type Digest } from '../../src/core/digest.js';
import { decodeQuery, encodeReply } from '../../src/core/protocol.js';
import { addDirectory, verifyEntry } from '../../src/io/store-add.js';
import { packTree } from '../../src/io/tar-pack.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';

let root: string;
let storeA: string;
let digest: Digest;
let peer: ServeHandle;

function freshStore(): string {
  return mkdtempSync(join(root, 'store-'));
}

/**
 * A UDP socket on 127.0.0.1 (port 0: any) that offers `digest` to every query asking for it but
 * the first `lose` queries; `queries` counts what it received.
 */
async function offerer(port: number, lose = 0): Promise<Socket & { readonly queries: number }> {
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  let queries = 0;
  udp.on('message', (m, rinfo) => {
    if (++queries <= lose) return; // "lost"
    const asked = decodeQuery(m);
    if (!asked.ok || !asked.digests.some((d) => formatDigest(d) === formatDigest(digest))) return;
    for (const b of encodeReply([digest])) udp.send(b, rinfo.port, rinfo.address);
  });
  return Object.defineProperty(udp, 'queries', { get: () => queries }) as Socket & { readonly queries: number };
}

function tmpLeft(store: string): string[] {
  return readdirSync(store).filter((n) => n.startsWith('tmp-'));
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-api-'));
  const src = join(root, 'src');
  mkdirSync(join(src, 'bin'), { recursive: true });
  writeFileSync(join(src, 'README'), 'hello\n');
  writeFileSync(join(src, 'bin', 'run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  writeFileSync(join(src, 'big'), Buffer.alloc(3 * 1024 * 1024, 7));
  digest = (await manifestOfTree(src, 'sha256new')).digest;
  storeA = join(root, 'storeA');
  await addDirectory(src, storeA, digest);
  peer = await serve({ port: 0, bind: '127.0.0.1', stores: [storeA] });
});

afterAll(async () => {
  await peer?.close();
  rmSync(root, { recursive: true, force: true });
});

const host = () => `127.0.0.1:${peer.address.port}`;

describe('fetch/query against a real peer on loopback', () => {
  it('fetches with -H, verifies and commits into the first store', async () => {
    const store = freshStore();
    const events: FetchEvent[] = [];
    const [r] = await fetch([digest], { hosts: [host()], stores: [store], onEvent: (e) => events.push(e) });
    expect(r).toMatchObject({ digest, status: 'committed', path: join(store, formatDigest(digest)), attempts: [] });
    expect(r!.bytes).toBeGreaterThan(3 * 1024 * 1024);
    expect((await verifyEntry(r!.path!, digest)).ok).toBe(true);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['reply', 'connecting', 'progress', 'done']));
    // The peer announced the size of the tree's files (X-0share-Size), for progress bars.
    const files = 'hello\n'.length + '#!/bin/sh\necho hi\n'.length + 3 * 1024 * 1024;
    expect(events.filter((e) => e.type === 'progress').map((e) => e.expected)).toContain(files);
    expect(tmpLeft(store)).toEqual([]);
  });

  it('reports an already-cached digest without asking anyone', async () => {
    const events: FetchEvent[] = [];
    const [r] = await fetch([digest], { hosts: [host()], stores: [storeA], onEvent: (e) => events.push(e) });
    expect(r).toMatchObject({ status: 'cached', path: join(storeA, formatDigest(digest)), bytes: 0 });
    expect(events.map((e) => e.type)).toEqual(['done']);
  });

  it('finds the peer by broadcast to 127.255.255.255 when the peer listens on all addresses', async () => {
    // Every address, but no DNS-SD and no multicast group on this machine's real interfaces.
    const wide = await serve({ port: 0, bind: '0.0.0.0', stores: [storeA], allow: ['127.0.0.0/8'], mdns: false, skipIfaces: ['*'] });
    try {
      const store = freshStore();
      const [r] = await fetch([digest], { broadcast: ['127.255.255.255'], port: wide.address.port, stores: [store], timeout: 500 });
      expect(r).toMatchObject({ status: 'committed' });
      expect(r!.peer!.host).toMatch(/^127\./);
    } finally {
      await wide.close();
    }
  });

  it('a digest nobody has fails after the window with no-reply', async () => {
    const store = freshStore();
    const missing = parseDigest('sha256new_' + 'B'.repeat(52));
    const [r] = await fetch([missing], { hosts: [host()], stores: [store], timeout: 150 });
    expect(r).toMatchObject({ status: 'failed', failure: 'no-reply', attempts: [] });
    expect(readdirSync(store)).toEqual([]);
  });

  it('query reports who has what', async () => {
    const missing = parseDigest('sha256new_' + 'B'.repeat(52));
    const heard: string[] = [];
    const out = await query([digest, missing], { hosts: [host()], timeout: 150, onReply: (d) => heard.push(d) });
    expect(out.peers[formatDigest(digest)]).toEqual([{ host: '127.0.0.1', port: peer.address.port }]);
    expect(out.peers[formatDigest(missing)]).toEqual([]);
    expect(heard).toEqual([formatDigest(digest)]);
  });

  it('a peer that drops the connection mid-transfer is named, and nothing is left', async () => {
    const half = createServer((_req, res) => {
      res.writeHead(200);
      const pack = packTree(join(root, 'src'));
      let sent = 0;
      pack.on('data', (c: Buffer) => {
        sent += c.length;
        res.write(c);
        if (sent > 1024 * 1024) {
          pack.destroy();
          res.socket?.destroy();
        }
      });
    });
    await new Promise<void>((r) => half.listen(0, '127.0.0.1', () => r()));
    const port = (half.address() as AddressInfo).port;
    const udp = await offerer(port);
    try {
      const store = freshStore();
      const [r] = await fetch([digest], { hosts: [`127.0.0.1:${port}`], stores: [store], timeout: 150 });
      expect(r).toMatchObject({ status: 'failed', failure: 'peers-failed' });
      expect(r!.attempts[0]!.reason).toMatch(/^closed the connection after \d+ bytes/);
      expect(readdirSync(store)).toEqual([]);
    } finally {
      udp.close();
      half.closeAllConnections();
      await new Promise((r) => half.close(r));
    }
  });

  it('a peer that answers UDP but refuses TCP is named with the firewall advice; every attempt is announced', async () => {
    // A UDP socket that offers the digest, on a port where nothing listens for TCP.
    const udp = await offerer(0);
    const port = udp.address().port;
    try {
      const alone = await fetch([digest], { hosts: [`127.0.0.1:${port}`], stores: [freshStore()], timeout: 150 });
      expect(alone[0]!.attempts.map((a) => a.reason)).toEqual([
        `refused the connection to TCP port ${port}: open TCP ${port} in its firewall, or check that 0share is running there`,
      ]);
      const events: FetchEvent[] = [];
      const [r] = await fetch([digest], { hosts: [`127.0.0.1:${port}`, host()], stores: [freshStore()], timeout: 300, onEvent: (e) => events.push(e) });
      expect(r!.status).toBe('committed');
      const connecting = events.filter((e) => e.type === 'connecting');
      const failed = events.filter((e) => e.type === 'peer-failed');
      expect(failed).toHaveLength(r!.attempts.length);
      expect(connecting).toHaveLength(r!.attempts.length + 1);
    } finally {
      udp.close();
    }
  });

  it('retransmits: a peer that misses the first query is still found within the window', async () => {
    const udp = await offerer(0, 1);
    try {
      const out = await query([digest], { hosts: [`127.0.0.1:${udp.address().port}`], timeout: 600 });
      expect(udp.queries).toBeGreaterThanOrEqual(2);
      expect(out.peers[formatDigest(digest)]).toEqual([{ host: '127.0.0.1', port: udp.address().port }]);
    } finally {
      udp.close();
    }
  });

  it('with -H, stops waiting once every host has answered (a 60 s window is not waited out)', async () => {
    const out = await query([digest], { hosts: [host()], timeout: 60_000 });
    expect(out.peers[formatDigest(digest)]).toEqual([{ host: '127.0.0.1', port: peer.address.port }]);
    // The only host offers it over UDP and refuses TCP: nobody else can answer, so fail now.
    const udp = await offerer(0);
    try {
      const [r] = await fetch([digest], { hosts: [`127.0.0.1:${udp.address().port}`], stores: [freshStore()], timeout: 60_000 });
      expect(r).toMatchObject({ status: 'failed', failure: 'peers-failed' });
      expect(r!.attempts).toHaveLength(1);
    } finally {
      udp.close();
    }
  }, 30_000);

  it('a window counted from long before the query (windowFrom) still gives peers time to answer, retransmits included', async () => {
    const udp = await offerer(0, 1);
    try {
      const [r] = await fetch([digest], { hosts: [`127.0.0.1:${udp.address().port}`], stores: [freshStore()], timeout: 600, windowFrom: performance.now() - 60_000 });
      expect(udp.queries).toBeGreaterThanOrEqual(2);
      // Heard on the retransmit: tried (nothing serves TCP there), so the attempt is recorded.
      expect(r!.attempts.map((a) => a.peer.port)).toEqual([udp.address().port]);
    } finally {
      udp.close();
    }
  });

  it('a digest queued behind a running transfer shares the first window and its resends', async () => {
    // One transfer at a time: X (nobody has it) holds the slot for the whole window. The peer has
    // Y, misses the first query and answers the resends, which X's machine makes: Y must be in
    // them, or Y would start after the window with nobody heard.
    const x = parseDigest('sha256new_' + 'X'.repeat(52));
    const udp = await offerer(0, 1);
    try {
      const [rx, ry] = await fetch([x, digest], { hosts: [`127.0.0.1:${udp.address().port}`], stores: [freshStore()], timeout: 300, concurrency: 1 });
      expect(rx).toMatchObject({ status: 'failed', failure: 'no-reply' });
      // Heard on a resend; nothing serves TCP there, so the attempt is recorded.
      expect(ry!.attempts.map((a) => a.peer.port)).toEqual([udp.address().port]);
    } finally {
      udp.close();
    }
  });

  it('an AbortSignal cancels a transfer in progress and its temp dir goes', async () => {
    const slow = createServer((_req, res) => {
      res.writeHead(200);
      const pack = packTree(join(root, 'src'));
      pack.once('data', (c: Buffer) => res.write(c)); // one chunk, then silence
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const port = (slow.address() as AddressInfo).port;
    const udp = await offerer(port);
    try {
      const store = freshStore();
      const ac = new AbortController();
      const result = fetch([digest], {
        hosts: [`127.0.0.1:${port}`],
        stores: [store],
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'progress') ac.abort();
        },
      });
      const [r] = await result;
      expect(r).toMatchObject({ status: 'failed', failure: 'cancelled' });
      expect(readdirSync(store)).toEqual([]);
    } finally {
      udp.close();
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });

  describe('with a lying peer', () => {
    let liar: Server;
    let udp: ReturnType<typeof createSocket>;
    let liarPort: number;

    beforeAll(async () => {
      // An HTTP server that serves a different tree, and a UDP socket on the same port that says it has everything.
      const other = join(root, 'other');
      mkdirSync(other, { recursive: true });
      writeFileSync(join(other, 'README'), 'not what you asked for\n');
      liar = createServer((_req, res) => {
        res.writeHead(200);
        packTree(other).pipe(res);
      });
      await new Promise<void>((r) => liar.listen(0, '127.0.0.1', () => r()));
      liarPort = (liar.address() as AddressInfo).port;
      udp = await offerer(liarPort);
    });

    afterAll(async () => {
      udp.close();
      liar.closeAllConnections();
      await new Promise((r) => liar.close(r));
    });

    it('drops the lying peer with a message naming it and gets the implementation from the honest one', async () => {
      const store = freshStore();
      const [r] = await fetch([digest], { hosts: [`127.0.0.1:${liarPort}`, host()], stores: [store], timeout: 300 });
      expect(r!.status).toBe('committed');
      expect(r!.peer).toEqual({ host: '127.0.0.1', port: peer.address.port });
      // The liar may or may not have answered first; if it was tried, it was dropped for its data.
      for (const a of r!.attempts) {
        expect(a.peer.port).toBe(liarPort);
        expect(a.reason).toMatch(/does not match the digest/);
      }
      expect(tmpLeft(store)).toEqual([]);
    });

    it('fails cleanly when only the liar answers', async () => {
      const store = freshStore();
      const [r] = await fetch([digest], { hosts: [`127.0.0.1:${liarPort}`], stores: [store], timeout: 150 });
      expect(r).toMatchObject({ status: 'failed', failure: 'peers-failed' });
      expect(r!.attempts).toHaveLength(1);
      expect(r!.attempts[0]!.reason).toMatch(/sent data that does not match the digest \(what arrived has digest sha256new_/);
      expect(readdirSync(store)).toEqual([]);
    });
  });
});
