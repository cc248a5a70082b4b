// Upload limits of the real `0share serve` on loopback: with --max-uploads 2 a third client gets
// 503 and the fetch is served by another peer; one address opening 8 connections gets no more than
// its fair share while another address waits; --max-upload-rate still delivers a verified tree
// (the rate it achieved is printed, not asserted); --nice lowers the peer's CPU priority.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type CliPeer, startCliPeer } from '../helpers/cli-peer.js';
import { storeImplementation, tempDir } from '../helpers/trees.js';

const HOST = '127.0.0.1';
const TREE_BYTES = 24 * 1024 * 1024;

type Peer = CliPeer;
const startPeer = (store: string, extra: string[] = []) => startCliPeer(store, extra);

/** A download from `from` that reads its status line and then stops reading; resolves with the status. */
function holdDownload(port: number, digest: string, from: string): Promise<{ status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, localAddress: from }, () =>
      socket.write(`GET /implementation/${digest} HTTP/1.1\r\nHost: x\r\nX-0share-Encoding: tar\r\n\r\n`),
    );
    socket.once('data', (d: Buffer) => {
      socket.pause();
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'))?.[1] ?? 0), socket });
    });
    socket.once('error', reject);
  });
}

function stats(port: number): Promise<{ uploads: unknown[]; limits: { maxUploads: number; maxUploadRate?: number } }> {
  return new Promise((resolve, reject) => {
    request({ host: HOST, port, path: '/stats', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body)));
    })
      .on('error', reject)
      .end();
  });
}

/** Waits until the peer counts `n` uploads in progress (the close of a held download reaches it asynchronously). */
async function uploadsAre(port: number, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await stats(port)).uploads.length === n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the peer never had ${n} uploads in progress`);
}

describe('upload limits of 0share serve', () => {
  const tmp = tempDir('0share-limits-');
  let store: string;
  let digest: string;
  const held: Socket[] = [];
  const peers: Peer[] = [];

  beforeAll(async () => {
    store = join(tmp.dir, 'store');
    // Larger than the socket buffers, so a client that stops reading keeps its upload open.
    ({ digest } = await storeImplementation(join(tmp.dir, 'src'), store, { big: randomBytes(TREE_BYTES) }));
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await Promise.all(peers.map((p) => p.stop()));
    await tmp.cleanup();
  });

  afterEach(() => {
    for (const s of held.splice(0)) s.destroy();
  });

  const hold = async (port: number, from: string) => {
    const h = await holdDownload(port, digest, from);
    if (h.status === 200) held.push(h.socket);
    else h.socket.destroy();
    return h;
  };

  it('with --max-uploads 2, a third client gets 503 for the tree (not for the manifest) and the fetch is served by another peer', async () => {
    const busy = await startPeer(store, ['--max-uploads', '2']);
    const other = await startPeer(store);
    peers.push(busy, other);
    expect((await hold(busy.port, '127.0.0.2')).status).toBe(200);
    expect((await hold(busy.port, '127.0.0.3')).status).toBe(200);
    expect((await hold(busy.port, '127.0.0.4')).status).toBe(503);
    // The manifest takes no upload slot: a new client can still start its swarm there.
    const manifest = await new Promise<number>((resolve, reject) =>
      request({ host: HOST, port: busy.port, path: `/implementation/${digest}/manifest` }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject).end(),
    );
    expect(manifest).toBe(200);

    const into = join(tmp.dir, 'client-store');
    const r = runCli(['fetch', digest, '--json', '--store', into, '-H', `${HOST}:${busy.port}`, '-H', `${HOST}:${other.port}`]);
    expect(r.status, r.stderr).toBe(0);
    const [result] = (JSON.parse(r.stdout) as { results: Array<{ status: string }> }).results;
    expect(result!.status).toBe('committed');
    // Every byte of the tree came from the other peer: the busy one sent no tree and no piece.
    expect(busy.log()).not.toMatch(new RegExp(`(GET /implementation/${digest} |POST /implementation/${digest}/files )200 .* from 127\\.0\\.0\\.1:`));
    expect(readFileSync(join(into, digest, 'big')).length).toBe(TREE_BYTES);
  });

  it('one address opening 8 connections gets no more than its share while another address waits', async () => {
    const peer = await startPeer(store, ['--max-uploads', '4']);
    peers.push(peer);
    const A = '127.0.0.5';
    const B = '127.0.0.6';
    // Alone, A may use every slot.
    const first = await Promise.all([1, 2, 3, 4].map(() => hold(peer.port, A)));
    expect(first.map((h) => h.status)).toEqual([200, 200, 200, 200]);
    // B finds them all taken: it now waits (it was told to retry).
    expect((await hold(peer.port, B)).status).toBe(503);
    // A's next 4 connections: refused (every slot is taken).
    const more = await Promise.all([1, 2, 3, 4].map(() => hold(peer.port, A)));
    expect(more.map((h) => h.status)).toEqual([503, 503, 503, 503]);
    // Two of A's downloads end: A holds 2 = its share (4 slots, A and B contending).
    const mine = held.splice(0, 4);
    mine[0]!.destroy();
    mine[1]!.destroy();
    held.push(mine[2]!, mine[3]!);
    await uploadsAre(peer.port, 2);
    expect((await hold(peer.port, A)).status).toBe(503);
    // The peer logs the reason once the response is out.
    for (let i = 0; i < 100 && !peer.log().includes('fair share:'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(peer.log()).toMatch(/503 0 bytes \d+ ms from 127\.0\.0\.5:\d+ \(rejected: fair share: this source holds its share of uploads while others wait\)/);
    // The waiting address gets the free slots.
    expect((await hold(peer.port, B)).status).toBe(200);
    expect((await hold(peer.port, B)).status).toBe(200);
    const counts = { A: 0, B: 0 };
    for (const s of held) counts[s.localAddress === A ? 'A' : 'B']++;
    expect(counts).toEqual({ A: 2, B: 2 });
  });

  it('--max-upload-rate still delivers a verified tree, and /stats shows the limits', async () => {
    const peer = await startPeer(store, ['--max-upload-rate', '20M/s', '--max-uploads', '3']);
    peers.push(peer);
    expect((await stats(peer.port)).limits).toEqual({ maxUploads: 3, maxUploadRate: 20 * 1024 * 1024 });
    const into = join(tmp.dir, 'rate-store');
    const t0 = performance.now();
    const r = runCli(['fetch', digest, '--store', into, '-H', `${HOST}:${peer.port}`]);
    const s = (performance.now() - t0) / 1000;
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(into, digest, 'big')).length).toBe(TREE_BYTES);
    console.log(`[upload-limits] ${TREE_BYTES / 1024 / 1024} MiB at --max-upload-rate 20M/s: ${s.toFixed(2)} s, ${(TREE_BYTES / 1024 / 1024 / s).toFixed(1)} MiB/s`);
  });

  it('--nice lowers the CPU priority of the serving process', async () => {
    const peer = await startPeer(store, ['--nice', '12']);
    peers.push(peer);
    const fields = readFileSync(`/proc/${peer.proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // Field 19 of /proc/PID/stat is the nice value; fields[0] here is field 3.
    expect(Number(fields[16])).toBe(12);
  });
});
