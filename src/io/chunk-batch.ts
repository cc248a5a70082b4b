// Small reads gathered into one pooled chunk before they go downstream: the tar packer's headers
// and small files, the piece route's small pieces and symlink targets. Bytes are read or copied
// straight into the chunk being filled (`space`, then `used` advanced by the caller), so a
// thousand small files cost one buffer and one socket write, and the chunk comes from a ChunkPool
// that the consumer gives it back to once written. A large file goes on a pooled chunk at a time
// (`stream`), each read once the consumer is ready for it.
import { read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ChunkPool } from './chunk-pool.js';

const readAt = promisify(read);

export class ChunkBatch {
  private batch?: Buffer;
  /** Bytes filled in the current chunk. */
  used = 0;
  /** The largest chunk the pool hands out. */
  readonly chunk: number;

  constructor(
    private readonly pool: ChunkPool,
    private readonly send: (chunk: Buffer) => void,
  ) {
    this.chunk = pool.size;
  }

  /** Sends the chunk so far. */
  flush(): void {
    const batch = this.batch;
    if (!batch || this.used === 0) return;
    this.batch = undefined;
    this.send(batch.subarray(0, this.used));
  }

  /** The chunk, with room for `n` bytes (at most one chunk) at `used`. */
  space(n: number): Buffer {
    if (this.batch && this.used + n > this.chunk) this.flush();
    if (!this.batch) {
      this.batch = this.pool.take(this.chunk);
      this.used = 0;
    }
    return this.batch;
  }

  /** Copies `data` in; data larger than a chunk goes on as it is, after the chunk so far. */
  put(data: Buffer): void {
    if (data.length > this.chunk) {
      this.flush();
      this.send(data);
      return;
    }
    data.copy(this.space(data.length), this.used);
    this.used += data.length;
  }

  /** Reads `length` bytes (at most one chunk) of `fd` from `position` straight into the chunk; false if the file ends first. */
  read(fd: number, length: number, position: number): boolean {
    const batch = this.space(length);
    for (let got = 0; got < length; ) {
      const n = readSync(fd, batch, this.used + got, length - got, position + got);
      if (n === 0) return false;
      got += n;
    }
    this.used += length;
    return true;
  }

  /**
   * Reads all of the regular file `fd` (from its start) straight into the chunk if it holds exactly
   * `size` bytes (less than a chunk): true then; false, with nothing added, if it ends before or
   * goes on after them. One byte more is asked for: a file of that size ends with a short read
   * (no final zero-length read), a longer one shows.
   */
  readExactly(fd: number, size: number): boolean {
    const batch = this.space(size + 1);
    let got = 0;
    for (;;) {
      const want = size + 1 - got;
      const n = readSync(fd, batch, this.used + got, want, got);
      got += n;
      if (n === 0 || got > size || (n < want && got === size)) break;
    }
    if (got !== size) return false;
    this.used += size;
    return true;
  }

  /**
   * Sends `length` bytes of `fd` from `position` after the chunk so far, a pooled chunk at a time,
   * each read once `ready()` (the consumer's backpressure) resolves; false if the file ends first.
   */
  async stream(fd: number, length: number, position: number, ready: () => Promise<void>): Promise<boolean> {
    this.flush();
    const end = position + length;
    for (let pos = position; pos < end; ) {
      await ready();
      const want = Math.min(this.chunk, end - pos);
      const buf = this.pool.take(want);
      const { bytesRead } = await readAt(fd, buf, 0, want, pos);
      if (bytesRead === 0) {
        this.pool.give(buf);
        return false;
      }
      pos += bytesRead;
      this.send(buf.subarray(0, bytesRead));
    }
    return true;
  }

  /** `n` zero bytes (at most one chunk). */
  zeros(n: number): void {
    if (n === 0) return;
    this.space(n).fill(0, this.used, this.used + n);
    this.used += n;
  }

  /** Gives an unsent chunk back to the pool. */
  discard(): void {
    if (this.batch) this.pool.give(this.batch);
    this.batch = undefined;
    this.used = 0;
  }
}
