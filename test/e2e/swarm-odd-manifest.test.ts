// A manifest that hashes to the digest asked for but is not one 0install would write (files out
// of order, a `..` directory) is not used for the swarm: the staged tree is checked against the
// manifest's entries and committed with the manifest's own bytes, so such a manifest would store
// a tree whose real manifest is another one, or lay files out beside the staging tree. The fetch
// falls back to the whole tar (which this fake peer does not have) and nothing is written. The
// fake peer serves the manifest, the pieces asked for (each file's content is `x`) and no tar.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transferPorts } from '../../src/api/client-ports.js';
import { swarmTiming } from '../../src/api/client-timing.js';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import { contentHash, manifestDigest } from '../../src/core/manifest-format.js';
import { decodePieceList } from '../../src/core/piece-list.js';
import { verifyEntry } from '../../src/io/store-add.js';

const X = contentHash(Buffer.from('x'), 'sha256new');
let root: string;
let server: Server;
let port: number;
/** What the fake peer serves, by digest: the manifest; and every piece route it was asked. */
const manifests = new Map<string, Buffer>();
const pieceRequests: string[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-odd-manifest-'));
  server = createServer((req, res) => {
    const m = /^\/implementation\/([^/]+)(\/[a-z]+)?$/.exec(req.url ?? '');
    const manifest = m && manifests.get(m[1]!);
    if (!manifest) return res.writeHead(404).end();
    if (m[2] === '/manifest') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end(manifest);
    if (m[2] === '/files' && req.method === 'POST') {
      const body: Buffer[] = [];
      req.on('data', (b: Buffer) => body.push(b));
      req.on('end', () => {
        pieceRequests.push(req.url!);
        const pieces = decodePieceList(Buffer.concat(body));
        res.writeHead(200).end(Buffer.concat(pieces.map((p) => Buffer.alloc(p.length, 'x'))));
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  rmSync(root, { recursive: true, force: true });
});

/** Downloads the digest of `text` from the fake peer into a fresh store, and commits what was staged. */
async function fetchOf(text: string): Promise<{ store: string; error: unknown; digest: Digest; path?: string }> {
  const manifest = Buffer.from(text);
  const digest = manifestDigest(manifest, 'sha256new');
  manifests.set(formatDigest(digest), manifest);
  const store = join(mkdtempSync(join(root, 'case-')), 'store');
  const ports = transferPorts({ stores: [store], swarm: { timing: swarmTiming({}) } });
  const peer = { host: '127.0.0.1', port };
  let path: string | undefined;
  const error = await ports
    .download({ digest, peer, signal: new AbortController().signal, onConnected: () => {}, onProgress: () => {} })
    .then(async (staged) => void (path = await ports.commit({ digest, peer, staged })))
    .catch((e: unknown) => e);
  await ports.settled();
  return { store, error, digest, path };
}

/** What is in `store` (which the whole tar's attempt need not have created). */
const left = (store: string) => (existsSync(store) ? readdirSync(store) : []);

describe('a manifest 0install would not write', () => {
  it('the fake peer itself: a canonical manifest is fetched piece by piece, and the tree verifies', async () => {
    const before = pieceRequests.length;
    const { store, error, digest, path } = await fetchOf(`F ${X} 1300000000 1 a\nF ${X} 1300000000 1 b\n`);
    expect(error).toBeUndefined();
    expect(pieceRequests.length).toBeGreaterThan(before);
    expect((await verifyEntry(path!, digest)).ok).toBe(true);
    expect(readdirSync(store)).toEqual([formatDigest(digest)]);
  });

  it('with files out of order: not used; the whole tar is asked for instead, and nothing is staged', async () => {
    const before = pieceRequests.length;
    const { store, error } = await fetchOf(`F ${X} 1300000000 1 b\nF ${X} 1300000000 1 a\n`);
    expect(error).toBeInstanceOf(Error);
    expect(pieceRequests.length).toBe(before);
    expect(left(store)).toEqual([]);
  });

  it('with a `..` directory: nothing is written beside the staging tree', async () => {
    const before = pieceRequests.length;
    const { store, error } = await fetchOf(`F ${X} 1300000000 1 a\nD /..\nF ${X} 1300000000 1 escaped\n`);
    expect(error).toBeInstanceOf(Error);
    expect(pieceRequests.length).toBe(before);
    expect(existsSync(join(store, 'escaped'))).toBe(false);
    expect(left(store)).toEqual([]);
  });
});
