// HTTP/1.1 pipelining against the peer (in-process, 127.0.0.1): 200 requests written at once on
// one raw socket are answered, all 200 OK and in order, one after another within one upload
// slot; while that connection holds its slot (its client has stopped reading), another client
// is served by the second slot (--max-uploads 2). Before, every pipelined request took a slot of
// its own at once, and all but two got a 503 that never reached the client.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { storeImplementation } from '../helpers/trees.js';

const HOST = '127.0.0.1';
const REQUESTS = 200;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Reads HTTP/1.1 responses (Content-Length or chunked bodies) from a byte stream, in order. */
class ResponseReader {
  private buf = Buffer.alloc(0);
  readonly answers: Answer[] = [];
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (let a = this.parse(); a; a = this.parse()) this.answers.push(a);
  }
  private parse(): Answer | undefined {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    let at = end + 4;
    let body: Buffer;
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (this.buf.length < at + n) return undefined;
      body = this.buf.subarray(at, at + n);
      at += n;
    } else {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = this.buf.indexOf('\r\n', at);
        if (eol < 0) return undefined;
        const n = parseInt(this.buf.subarray(at, eol).toString('latin1'), 16);
        if (this.buf.length < eol + 2 + n + 2) return undefined;
        parts.push(this.buf.subarray(eol + 2, eol + 2 + n));
        at = eol + 2 + n + 2;
        if (n === 0) break;
      }
      body = Buffer.concat(parts);
    }
    this.buf = this.buf.subarray(at);
    return { status: Number(statusLine!.split(' ')[1]), headers, body };
  }
}

function fetchTree(port: number, digest: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    request({ host: HOST, port, path: `/implementation/${digest}?format=tar`, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes }));
    })
      .on('error', reject)
      .end();
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 3000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('pipelined requests on one connection', () => {
  let root: string;
  let peer: ServeHandle;
  const digests: string[] = [];
  const manifests = new Map<string, Buffer>();

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), '0share-pipe-'));
    const store = join(root, 'store');
    for (let i = 0; i < 3; i++) {
      // Incompressible and large enough that 200 answers cannot all sit in socket buffers.
      const m = await storeImplementation(join(root, `src${i}`), store, { data: randomBytes(256 * 1024) });
      digests.push(m.digest);
      manifests.set(m.digest, m.manifest);
    }
    peer = await serve({ port: 0, bind: HOST, stores: [store], maxUploads: 2 });
  });

  afterAll(async () => {
    await peer?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it(`answers ${REQUESTS} pipelined requests in order, within one slot, while another client is served`, async () => {
    // Every 10th request asks for a .manifest, the others for a tree, cycling through the digests.
    const asked = Array.from({ length: REQUESTS }, (_, i) => ({ digest: digests[i % digests.length]!, manifest: i % 10 === 9 }));
    const wire = asked.map((a) => `GET /implementation/${a.digest}${a.manifest ? '/manifest' : '?format=tar'} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const reader = new ResponseReader();
    const sock: Socket = connect(peer.address.port, HOST);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('data', (d: Buffer) => reader.push(d));
    sock.write(wire);

    // Once the first answers are in, stop reading: the server stalls on this connection, holding its slot.
    await until(() => reader.answers.length >= 1, 'the first answer');
    sock.pause();
    expect(peer.uploads()).toBe(1);
    const other = await fetchTree(peer.address.port, digests[0]!);
    expect(other.status).toBe(200);
    expect(other.bytes).toBeGreaterThan(256 * 1024);
    expect(reader.answers.length).toBeLessThan(REQUESTS);
    expect(peer.uploads()).toBe(1);

    sock.resume();
    await until(() => reader.answers.length >= REQUESTS, `${REQUESTS} answers`);
    sock.end();
    await closed;
    expect(reader.answers.map((a) => a.status)).toEqual(asked.map(() => 200));
    reader.answers.forEach((a, i) => {
      const want = asked[i]!;
      if (want.manifest) expect(a.body.equals(manifests.get(want.digest)!), `answer ${i}`).toBe(true);
      else expect(a.headers['x-0share-digest'], `answer ${i}`).toBe(want.digest);
    });
    await until(() => peer.uploads() === 0, 'the slot to be given back');
  });
});
