// ChunkPool: buffers are carved from slabs, a slab is reused only after every buffer carved from
// it came back, foreign chunks and repeated gives are ignored, and a consumer that gives nothing
// back just gets fresh memory.
import { describe, expect, it } from 'vitest';
import { ChunkPool } from '../../src/io/chunk-pool.js';

describe('ChunkPool', () => {
  it('carves small buffers from one slab and hands a whole slab for a full-size take', () => {
    const pool = new ChunkPool(1024);
    const a = pool.take(100);
    const b = pool.take(200);
    expect(a.length).toBe(100);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 100);
    const c = pool.take(1024);
    expect(c.buffer).not.toBe(a.buffer);
    expect(pool.take(0).length).toBe(0);
    expect(() => pool.take(1025)).toThrow(RangeError);
  });

  it('reuses a slab only once every buffer carved from it has come back', () => {
    const pool = new ChunkPool(1024);
    const a = pool.take(600);
    const b = pool.take(600); // does not fit: a new slab
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    const c = pool.take(1024); // a's slab is idle again
    expect(c.buffer).toBe(a.buffer);

    const d = pool.take(1000);
    const e = pool.take(10);
    const f = pool.take(1000);
    pool.give(e);
    pool.give(e); // a repeat before the slab is reused changes nothing
    expect(pool.take(1024).buffer).not.toBe(d.buffer);
    pool.give(d);
    pool.give(f);
  });

  it('ignores chunks that are not its own', () => {
    const pool = new ChunkPool(64);
    pool.give(Buffer.alloc(64));
    pool.give(new ChunkPool(64).take(64));
    const a = pool.take(64);
    expect(a.length).toBe(64);
  });

  it('gives fresh memory when nothing comes back', () => {
    const pool = new ChunkPool(64);
    const seen = new Set<ArrayBufferLike>();
    for (let i = 0; i < 10; i++) seen.add(pool.take(64).buffer);
    expect(seen.size).toBe(10);
  });
});
