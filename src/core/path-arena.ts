// Where long-lived paths live: copied into large slabs of their own. Kept as small Buffers, they
// would come from Node's shared 8 KiB pool, and each one kept would pin its slab with everything
// else allocated there (names, headers, lines): about 0.5 KB per entry of a tree. Used for the
// paths of a manifest being built (the extractor) or parsed (a swarm's verified manifest).

const SLAB = 256 * 1024;

export class PathArena {
  private slab = Buffer.allocUnsafeSlow(0);
  private used = 0;

  /** A copy of `b` in the arena. */
  keep(b: Uint8Array): Buffer {
    const out = this.take(b.length);
    out.set(b);
    return out;
  }

  /** `dir/leaf` (or `leaf` when `dir` is empty) in the arena. */
  join(dir: Uint8Array, leaf: Uint8Array): Buffer {
    if (dir.length === 0) return this.keep(leaf);
    const out = this.take(dir.length + 1 + leaf.length);
    out.set(dir);
    out[dir.length] = 0x2f;
    out.set(leaf, dir.length + 1);
    return out;
  }

  private take(n: number): Buffer {
    if (this.used + n > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB, n));
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }
}
