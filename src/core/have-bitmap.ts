// Which files of an implementation a peer holds, as the body of `GET /implementation/<d>/have`:
// one bit per file or symlink of the manifest (the plan's files, in manifest order: see
// core/swarm-plan.ts planFiles), the first file in the high bit of the first byte, so
// ceil(n / 8) bytes with the spare low bits of the last byte zero. A peer whose machine is still
// fetching the digest sets the bits of the files it has verified; a complete holder sets all.
// Pure; the client knows n from the manifest it verified, so a body of any other length (or with
// a spare bit set) is refused.

export function haveBytes(files: number): number {
  return Math.ceil(files / 8);
}

/** Whether bit `i` of the bitmap `bits` is set. */
export function hasBit(bits: Uint8Array, i: number): boolean {
  return (bits[i >> 3]! & (0x80 >> (i & 7))) !== 0;
}

/** Sets (`on`) or clears bit `i` of the bitmap `bits`. */
export function setBit(bits: Uint8Array, i: number, on: boolean): void {
  const mask = 0x80 >> (i & 7);
  bits[i >> 3] = on ? bits[i >> 3]! | mask : bits[i >> 3]! & ~mask;
}

/** The bitmap of `files` files, bit i set when `has(i)`. */
export function encodeHave(files: number, has: (index: number) => boolean): Buffer {
  const out = Buffer.alloc(haveBytes(files));
  for (let i = 0; i < files; i++) if (has(i)) setBit(out, i, true);
  return out;
}

/** The indexes set in `body`, a bitmap of `files` files; an Error naming what is wrong otherwise. */
export function decodeHave(body: Uint8Array, files: number): Set<number> | Error {
  if (body.length !== haveBytes(files)) {
    return new Error(`a have bitmap of ${body.length} bytes, where ${files} files need ${haveBytes(files)}`);
  }
  const spare = files & 7 ? 0xff >> (files & 7) : 0;
  if (body.length && body[body.length - 1]! & spare) return new Error('a have bitmap with bits set past the last file');
  const out = new Set<number>();
  for (let i = 0; i < files; i++) if (hasBit(body, i)) out.add(i);
  return out;
}
