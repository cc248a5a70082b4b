// The piece route's view of a manifest: which paths a client may ask pieces of (the files and
// symlinks it lists), each with its number in manifest order (the numbering of /have and of the
// swarm plan), its size and whether it is a symlink. Built in one pass over the manifest's bytes,
// which it keeps, and held in typed arrays: per file, where its directory's and its own name lie
// in those bytes, its size and kind, and a hash table of file numbers (seeded per process), since
// a peer keeps one for every tree it serves pieces of. Nothing per file lives on the JS heap:
// parseManifest's entries for a 50,000-file manifest cost about 23 MB of heap (a parse peak of
// about 60 MB), and even a Map of path strings about 7 MB, which the heap's growth policy
// multiplies in the peer's peak RSS; here it is the 4.8 MB manifest and about 2 MB of arrays. Only the new
// formats' lines are accepted, and only names without an empty, '.' or '..' component (the peer
// joins them to a directory), so the old format and malformed lines are a ManifestError and the
// tree is served only whole; the fields the route does not use (hashes, mtimes) are not checked.
// Pure.
import { ManifestError } from './manifest-format.js';

const NL = 0x0a;
const SP = 0x20;
const SLASH = 0x2f;
const DOT = 0x2e;
const ZERO = 0x30;

export interface PieceIndex {
  /** Files and symlinks listed. */
  readonly files: number;
  /** The number of the file or symlink whose path is these bytes, if listed. */
  find(path: Uint8Array): number | undefined;
  /** Its size (a symlink's: its target's length). */
  size(file: number): number;
  isSymlink(file: number): boolean;
}

/** Whether `b[from, to)` is a valid name: no empty, '.' or '..' component, and no slash at all unless `path`. */
function validName(b: Buffer, from: number, to: number, path: boolean): boolean {
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && b[i] !== SLASH) continue;
    if (i < to && !path) return false;
    const n = i - start;
    if (n === 0 || (n === 1 && b[start] === DOT) || (n === 2 && b[start] === DOT && b[start + 1] === DOT)) return false;
    start = i + 1;
  }
  return true;
}

/** The decimal number in `b[from, to)` (no sign, no leading zero, at most 16 digits), or -1. */
function decimal(b: Buffer, from: number, to: number): number {
  const n = to - from;
  if (n < 1 || n > 16 || (n > 1 && b[from] === ZERO)) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = b[i]! - ZERO;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

const malformed = (lineNo: number) => new ManifestError(`manifest line ${lineNo} is malformed`);

/** Per process, so that nobody can make names collide on purpose (every lookup would then walk them all). */
const SEED = Math.floor(Math.random() * 0x100000000) | 0;

/** Feeds `b[from, to)` to a seeded 32-bit hash state `h` (murmur-like mixing, a byte at a time). */
function mix(h: number, b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    h = Math.imul(h ^ b[i]!, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h;
}

/** The final avalanche of a hash state. */
function fin(h: number): number {
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const SLASH_BYTE = Uint8Array.of(SLASH);

/** The index of a new-format manifest (throws ManifestError for anything else); it keeps `manifest`. */
export function pieceIndex(manifest: Uint8Array): PieceIndex {
  const buf = Buffer.from(manifest.buffer, manifest.byteOffset, manifest.byteLength);
  let lines = 0;
  for (let i = buf.indexOf(NL); i >= 0; i = buf.indexOf(NL, i + 1)) lines++;
  // Per file: its directory's name and its own as ranges of `buf`, its size, whether a symlink.
  const dirAt = new Int32Array(lines);
  const dirEnd = new Int32Array(lines);
  const leafAt = new Int32Array(lines);
  const leafEnd = new Int32Array(lines);
  const sizes = new Float64Array(lines);
  const symlink = new Uint8Array(lines);
  let files = 0;
  let dAt = 0;
  let dEnd = 0;
  let lineNo = 0;
  for (let start = 0; start < buf.length; ) {
    lineNo++;
    const end = buf.indexOf(NL, start);
    if (end < 0) throw new ManifestError(`manifest line ${lineNo} does not end with a newline`);
    const type = buf[start];
    if (buf[start + 1] !== SP) throw malformed(lineNo);
    if (type === 0x44) {
      // D /path
      if (buf[start + 2] !== SLASH || !validName(buf, start + 3, end, true)) throw malformed(lineNo);
      dAt = start + 3;
      dEnd = end;
    } else if (type === 0x46 || type === 0x58 || type === 0x53) {
      // F|X hash mtime size name, S hash size name: the size is the field before the name.
      let p = start + 2;
      let sizeAt = 0;
      for (let field = type === 0x53 ? 2 : 3; field > 0; field--) {
        const sp = buf.indexOf(SP, p);
        if (sp < 0 || sp >= end) throw malformed(lineNo);
        if (field === 1) sizeAt = p;
        p = sp + 1;
      }
      const size = decimal(buf, sizeAt, p - 1);
      if (size < 0 || !validName(buf, p, end, false)) throw malformed(lineNo);
      dirAt[files] = dAt;
      dirEnd[files] = dEnd;
      leafAt[files] = p;
      leafEnd[files] = end;
      sizes[files] = size;
      symlink[files] = type === 0x53 ? 1 : 0;
      files++;
    } else throw malformed(lineNo);
    start = end + 1;
  }

  // An open-addressing table of file numbers + 1 (0: empty), at most half full.
  let slots = 16;
  while (slots < 2 * files) slots *= 2;
  const mask = slots - 1;
  const table = new Int32Array(slots);
  for (let f = 0; f < files; f++) {
    let h = SEED;
    if (dirEnd[f]! > dirAt[f]!) h = mix(mix(h, buf, dirAt[f]!, dirEnd[f]!), SLASH_BYTE, 0, 1);
    let slot = fin(mix(h, buf, leafAt[f]!, leafEnd[f]!)) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = f + 1;
  }
  /** Whether file `f`'s name is `path`'s bytes. */
  const named = (f: number, path: Buffer): boolean => {
    const dl = dirEnd[f]! - dirAt[f]!;
    const ll = leafEnd[f]! - leafAt[f]!;
    if (dl === 0) return path.length === ll && path.compare(buf, leafAt[f]!, leafEnd[f]!) === 0;
    return (
      path.length === dl + 1 + ll &&
      path[dl] === SLASH &&
      path.compare(buf, dirAt[f]!, dirEnd[f]!, 0, dl) === 0 &&
      path.compare(buf, leafAt[f]!, leafEnd[f]!, dl + 1) === 0
    );
  };
  return {
    files,
    find: (path) => {
      const p = Buffer.isBuffer(path) ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength);
      for (let slot = fin(mix(SEED, p, 0, p.length)) & mask; table[slot] !== 0; slot = (slot + 1) & mask) {
        if (named(table[slot]! - 1, p)) return table[slot]! - 1;
      }
      return undefined;
    },
    size: (file) => sizes[file]!,
    isSymlink: (file) => symlink[file] === 1,
  };
}
