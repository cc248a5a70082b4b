// Reusable read buffers for one stream of file data (one download). The producer takes a buffer
// of the bytes it is about to read, fills it and sends it downstream; the final consumer gives it
// back once nothing refers to its bytes any more (for a socket: after the write's callback
// reported success). Buffers are carved out of a few fixed-size slabs, so a small file does not
// hold a whole slab; a slab is reused once every buffer carved from it has come back. One that
// never comes back just keeps its slab from being reused, and the slab is collected as usual, so
// a consumer that gives nothing back gets fresh memory, exactly as without a pool. Reuse keeps a
// download's memory to the few slabs in flight instead of a trail of garbage buffers that V8
// frees only at its next collection.

interface Slab {
  readonly buf: Buffer;
  /** Bytes carved so far. */
  used: number;
  /** Offsets of the buffers carved and not yet given back. */
  readonly out: Set<number>;
}

const EMPTY = Buffer.alloc(0);

export class ChunkPool {
  /** Slabs by their memory (weakly: a slab with buffers that never came back is collected). */
  private readonly slabs = new WeakMap<ArrayBuffer, Slab>();
  private readonly idle: Slab[] = [];
  private current?: Slab;

  /**
   * @param size bytes per slab, the largest buffer `take` hands out
   * @param keep at most this many idle slabs are kept for reuse
   */
  constructor(
    readonly size: number,
    private readonly keep = 8,
  ) {}

  /** A buffer of `bytes` (at most `size`) whose contents are arbitrary. */
  take(bytes: number): Buffer {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > this.size) throw new RangeError(`cannot take ${bytes} bytes from a pool of ${this.size}-byte slabs`);
    if (bytes === 0) return EMPTY;
    let slab = this.current;
    if (!slab || slab.used + bytes > this.size) {
      slab = this.idle.pop() ?? { buf: Buffer.allocUnsafeSlow(this.size), used: 0, out: new Set<number>() };
      this.slabs.set(slab.buf.buffer as ArrayBuffer, slab);
      this.current = slab;
    }
    const buf = slab.buf.subarray(slab.used, slab.used + bytes);
    slab.out.add(slab.used);
    slab.used += bytes;
    return buf;
  }

  /**
   * Gives back a buffer from `take` once nothing refers to its bytes any more; give each one back
   * at most once (a repeat is ignored only until its slab is reused). Chunks that are not from
   * this pool are ignored.
   */
  give(chunk: Uint8Array): void {
    const slab = this.slabs.get(chunk.buffer as ArrayBuffer);
    if (!slab?.out.delete(chunk.byteOffset - slab.buf.byteOffset)) return;
    if (slab.out.size > 0) return;
    slab.used = 0;
    if (slab !== this.current && this.idle.length < this.keep) this.idle.push(slab);
  }
}
