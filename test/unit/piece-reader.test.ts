// readPieces: the bytes of a checked piece list in the order asked, read into ChunkPool buffers
// (many small files per buffer, large pieces a chunk at a time) that are reused only once the
// consumer gave them back; what it refuses before the answer starts (a 404 and nothing to send:
// a missing file, a file of another size, shorter or longer, small or large, a symlink, a
// directory or a FIFO where a file is listed, a directory on the way that is a symlink) and what it does further on (the body is destroyed); no descriptor left
// open when the consumer goes away.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkPool } from '../../src/io/chunk-pool.js';
import { type CheckedPiece, READ_AHEAD, readPieces } from '../../src/io/piece-reader.js';
import { PieceRefusal } from '../../src/io/served-pieces.js';
import { openFds } from '../helpers/tar-fixtures.js';

const CHUNK = 64 * 1024;

/** Counts the buffers taken and given back. */
class CountingPool extends ChunkPool {
  taken = 0;
  given = 0;
  override take(bytes: number): Buffer {
    if (bytes > 0) this.taken++;
    return super.take(bytes);
  }
  override give(chunk: Uint8Array): void {
    this.given++;
    super.give(chunk);
  }
}
let base: string;
let tree: string;
/** Every file and symlink of the tree: its bytes (a symlink's target). */
const files = new Map<string, { data: Buffer; symlink: boolean }>();

function add(rel: string, data: Buffer, symlink = false): void {
  if (symlink) symlinkSync(data.toString(), join(tree, rel));
  else writeFileSync(join(tree, rel), data);
  files.set(rel, { data, symlink });
}

/** Distinct bytes for file `i`, `n` of them. */
function bytesOf(i: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) b[k] = (i * 7 + k * 13) % 251;
  return b;
}

beforeEach(() => {
  files.clear();
  base = mkdtempSync(join(tmpdir(), '0share-pieces-'));
  tree = join(base, 'tree');
  mkdirSync(join(tree, 'lib', 'deep'), { recursive: true });
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'f0'), bytesOf(0, 100));
  for (let i = 0; i < 400; i++) add(`lib/f${i}`, bytesOf(i, 100 + ((i * 977) % 9000)));
  add('lib/deep/big', bytesOf(9999, 5 * CHUNK + 123));
  add('empty', Buffer.alloc(0));
  add('link', Buffer.from('lib/deep/big'), true);
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const whole = (rel: string): CheckedPiece => {
  const f = files.get(rel)!;
  return { piece: { path: Buffer.from(rel), offset: 0, length: f.data.length }, size: f.data.length, symlink: f.symlink };
};
const range = (rel: string, offset: number, length: number): CheckedPiece => ({ piece: { path: Buffer.from(rel), offset, length }, size: files.get(rel)!.data.length, symlink: false });
const expected = (list: readonly CheckedPiece[]) =>
  Buffer.concat(list.map((c) => files.get(Buffer.from(c.piece.path).toString())!.data.subarray(c.piece.offset, c.piece.offset + c.piece.length)));

/** A list of every small file, the big file in ranges among them, the symlink and the empty file. */
function mixedList(): CheckedPiece[] {
  const list: CheckedPiece[] = [];
  for (let i = 0; i < 400; i++) {
    list.push(whole(`lib/f${i}`));
    if (i === 100) list.push(range('lib/deep/big', 0, 3 * CHUNK + 5), range('lib/deep/big', 3 * CHUNK + 5, 2 * CHUNK + 118));
    if (i === 200) list.push(whole('link'), whole('empty'), range('lib/deep/big', 7, 11));
  }
  return list;
}

/** Reads the body; `onChunk` decides what happens to each chunk after it was copied. */
async function collect(body: NodeJS.ReadableStream, onChunk: (c: Buffer) => void): Promise<{ data: Buffer; chunks: Buffer[] }> {
  const copies: Buffer[] = [];
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer>) {
    chunks.push(c);
    copies.push(Buffer.from(c));
    onChunk(c);
  }
  return { data: Buffer.concat(copies), chunks };
}

describe('readPieces', () => {
  it('sends the pieces back to back, and reuses no buffer the consumer has not given back', async () => {
    const pool = new ChunkPool(CHUNK, 2);
    const list = mixedList();
    const { body, ready } = readPieces(tree, list, { pool });
    await ready;
    // Nothing is given back: every chunk must still hold its bytes at the end.
    const { chunks } = await collect(body, () => {});
    expect(Buffer.concat(chunks).equals(expected(list))).toBe(true);
    // No two chunks share memory.
    const spans = chunks.map((c) => ({ b: c.buffer, from: c.byteOffset, to: c.byteOffset + c.length }));
    for (const a of spans) expect(spans.filter((o) => o.b === a.b && o.from < a.to && a.from < o.to)).toHaveLength(1);
  });

  it('fills each buffer with many small files, and reuses buffers once they come back', async () => {
    const pool = new ChunkPool(CHUNK, 2);
    const list = mixedList();
    const { body, ready } = readPieces(tree, list, { pool });
    await ready;
    const { data, chunks } = await collect(body, (c) => pool.give(c));
    expect(data.equals(expected(list))).toBe(true);
    // About 2.2 MB in 64 KiB chunks: far fewer chunks than pieces, and few slabs for all of them.
    expect(chunks.length).toBeLessThan(list.length / 5);
    expect(new Set(chunks.map((c) => c.buffer)).size).toBeLessThan(chunks.length / 2);
  });

  it('reads the first READ_AHEAD bytes before the answer starts', async () => {
    const pool = new ChunkPool(CHUNK, 2);
    const list = mixedList();
    const { body, ready } = readPieces(tree, list, { pool });
    await ready;
    await tick();
    expect(body.readableLength).toBeGreaterThanOrEqual(READ_AHEAD);
    body.destroy();
  });

  it('refuses with a 404 before the answer starts, and gives the read-ahead back', async () => {
    mkdirSync(join(tree, 'swapped'));
    add('swapped/f0', bytesOf(0, 100));
    rmSync(join(tree, 'swapped'), { recursive: true });
    symlinkSync('../outside', join(tree, 'swapped'));
    add('lib/short', bytesOf(1, 50));
    writeFileSync(join(tree, 'lib', 'short'), bytesOf(1, 49));
    add('lib/gone', bytesOf(2, 10));
    rmSync(join(tree, 'lib', 'gone'));
    add('lib/was-file', bytesOf(3, 9));
    rmSync(join(tree, 'lib', 'was-file'));
    symlinkSync('f1', join(tree, 'lib', 'was-file'));
    add('lib/long', bytesOf(4, 50));
    writeFileSync(join(tree, 'lib', 'long'), bytesOf(4, 51));
    add('lib/now-dir', bytesOf(5, 20));
    rmSync(join(tree, 'lib', 'now-dir'));
    mkdirSync(join(tree, 'lib', 'now-dir'));
    add('lib/fifo', bytesOf(6, 20));
    rmSync(join(tree, 'lib', 'fifo'));
    execFileSync('mkfifo', [join(tree, 'lib', 'fifo')]);
    // A large file is fstat'ed rather than read one byte further: one of another size.
    add('lib/deep/big2', bytesOf(7, 2 * CHUNK));
    writeFileSync(join(tree, 'lib', 'deep', 'big2'), bytesOf(7, 2 * CHUNK + 1));
    for (const [rel, why] of [
      ['swapped/f0', /'swapped' is not a directory here/],
      ['lib/short', /'lib\/short' here is not the file the manifest lists/],
      ['lib/long', /'lib\/long' here is not the file the manifest lists/],
      ['lib/gone', /'lib\/gone' is missing here/],
      ['lib/was-file', /'lib\/was-file' here is not the file the manifest lists/],
      ['lib/now-dir', /'lib\/now-dir' here is not the file the manifest lists/],
      ['lib/fifo', /'lib\/fifo' here is not the file the manifest lists/],
      ['lib/deep/big2', /'lib\/deep\/big2' here is not the file the manifest lists/],
    ] as const) {
      const pool = new CountingPool(CHUNK, 2);
      const list = [...mixedList().slice(0, 30), whole(rel)];
      const { body, ready } = readPieces(tree, list, { pool });
      const err = await ready.then(() => undefined, (e: unknown) => e);
      expect(err, rel).toBeInstanceOf(PieceRefusal);
      expect((err as PieceRefusal).status).toBe(404);
      expect((err as Error).message).toMatch(why);
      expect(body.destroyed).toBe(true);
      // Nothing was sent, and every buffer read ahead came back to the pool.
      expect(body.readableLength).toBe(0);
      expect(pool.taken).toBeGreaterThan(1);
      expect(pool.given).toBe(pool.taken);
    }
  });

  it('checks a list of exactly READ_AHEAD bytes whole, empty files after its last byte included', async () => {
    add('mib', bytesOf(5, READ_AHEAD));
    add('gone', Buffer.alloc(0));
    rmSync(join(tree, 'gone'));
    const { ready } = readPieces(tree, [whole('mib'), whole('empty'), whole('gone')], { pool: new ChunkPool(CHUNK) });
    const err = await ready.then(() => undefined, (e: unknown) => e);
    expect((err as PieceRefusal).status).toBe(404);
    expect((err as Error).message).toMatch(/'gone' is missing here/);
  });

  it('past the first READ_AHEAD bytes, a file that is not there destroys the body', async () => {
    rmSync(join(tree, 'lib', 'f399'));
    const pool = new ChunkPool(CHUNK, 2);
    const list = mixedList();
    const { body, ready } = readPieces(tree, list, { pool });
    await ready;
    const err = await collect(body, (c) => pool.give(c)).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toMatch(/'lib\/f399' is missing here/);
  });

  it('leaves no descriptor open when the consumer goes away in the middle of a large piece', async () => {
    add('huge', Buffer.alloc(16 * 1024 * 1024, 1));
    const fds = openFds();
    const { body, ready } = readPieces(tree, [whole('huge')], { pool: new ChunkPool(CHUNK) });
    await ready;
    expect(openFds()).toBe(fds + 1);
    body.destroy();
    for (let i = 0; i < 50 && openFds() !== fds; i++) await new Promise((r) => setTimeout(r, 10));
    expect(openFds()).toBe(fds);
  });
});
