// ChunkBatch.stream, the large-file path the tar packer and the piece route share: what was
// batched goes first, then the file range a pooled chunk at a time, each read only after `ready`
// resolved; a file that ends before the range does is reported (false), its last chunk given back.
// ChunkBatch.readExactly, the piece route's read of a whole small file: exactly its size or nothing.
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkBatch } from '../../src/io/chunk-batch.js';
import { ChunkPool } from '../../src/io/chunk-pool.js';
import { tempDir } from '../helpers/trees.js';

const tmp = tempDir('0share-chunk-batch-');
afterAll(() => tmp.cleanup());

const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
const file = join(tmp.dir, 'data');
writeFileSync(file, data);

function batchOf(chunk: number) {
  const pool = new ChunkPool(chunk);
  const sent: Buffer[] = [];
  const batch = new ChunkBatch(pool, (c) => sent.push(Buffer.from(c)));
  return { pool, sent, batch };
}

describe('ChunkBatch.stream', () => {
  it('sends the batch so far, then the range in chunks, each read after ready()', async () => {
    const { sent, batch } = batchOf(64);
    batch.put(Buffer.from('head'));
    let readies = 0;
    const fd = openSync(file, 'r');
    try {
      expect(await batch.stream(fd, 300, 100, async () => void readies++)).toBe(true);
    } finally {
      closeSync(fd);
    }
    expect(sent[0]!.toString()).toBe('head');
    expect(sent.slice(1).every((c) => c.length <= 64)).toBe(true);
    expect(Buffer.concat(sent.slice(1))).toEqual(data.subarray(100, 400));
    expect(readies).toBe(sent.length - 1);
  });

  it('says false when the file ends before the range, and gives the unused chunk back', async () => {
    const { pool, sent, batch } = batchOf(64);
    const given: Uint8Array[] = [];
    const give = pool.give.bind(pool);
    pool.give = (c) => (given.push(c), give(c));
    const fd = openSync(file, 'r');
    try {
      expect(await batch.stream(fd, 200, 900, async () => undefined)).toBe(false);
    } finally {
      closeSync(fd);
    }
    expect(Buffer.concat(sent)).toEqual(data.subarray(900));
    // Only the chunk of the read that found the end came back; the sent ones are the consumer's.
    expect(given).toHaveLength(1);
    expect(given[0]!.length).toBe(64);
  });
});

describe('ChunkBatch.readExactly', () => {
  it('adds a file that holds exactly the size asked, after what was batched; adds nothing for one shorter or longer', () => {
    const { sent, batch } = batchOf(2048);
    batch.put(Buffer.from('head'));
    const fd = openSync(file, 'r');
    try {
      expect(batch.readExactly(fd, 1000)).toBe(true);
      expect(batch.readExactly(fd, 999)).toBe(false);
      expect(batch.readExactly(fd, 1001)).toBe(false);
    } finally {
      closeSync(fd);
    }
    batch.flush();
    expect(Buffer.concat(sent)).toEqual(Buffer.concat([Buffer.from('head'), data]));
  });
});
