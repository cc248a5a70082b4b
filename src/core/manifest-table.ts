// A parsed manifest in the new formats (sha1new, sha256, sha256new) that keeps no object per
// entry: the manifest's bytes and, per entry, where its line lies, its directory, its size and its
// kind, in typed arrays (about 21 bytes an entry beside the text). An entry is made on demand
// (`entry(i)`), for as long as its user needs it. A swarm holds its verified manifest this way
// for the whole fetch: as ManifestEntry objects (object, path view, hash string, mtime) a
// 50,000-file tree cost about 14 MB of heap, which the young generation copied once and the heap's
// growth policy multiplied in the peak RSS. `parseManifest` gives the entries of the same parse
// as an array, for the callers that keep them all anyway. Pure.
import { asBuffer, type EntryKind, type ManifestEntry, ManifestError } from './manifest-format.js';
import { PathArena } from './path-arena.js';

const NL = 0x0a;
const SP = 0x20;
const SLASH = 0x2f;

const KIND_DIR = 0;
const KIND_FILE = 1;
const KIND_EXEC = 2;
const KIND_SYMLINK = 3;
const KINDS: readonly EntryKind[] = ['dir', 'file', 'file', 'symlink'];


function malformed(buf: Buffer, start: number, end: number, lineNo: number): ManifestError {
  return new ManifestError(`manifest line ${lineNo} is malformed: '${buf.toString('utf8', start, end)}'`);
}

/** End of the space-separated field starting at `p` (before `end`), or -1 if no space follows it. */
const fieldEnd = (buf: Buffer, p: number, end: number) => {
  const sp = buf.indexOf(SP, p);
  return sp < 0 || sp >= end ? -1 : sp;
};

/** Whether buf[a, b) is a decimal number as 0install writes it (no sign, no leading zero). */
function isDecimal(buf: Buffer, a: number, b: number): boolean {
  if (b <= a || (buf[a] === 0x30 && b - a > 1)) return false;
  for (let i = a; i < b; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  return true;
}

/** Whether buf[a, b) is lower-case hex. */
function isHex(buf: Buffer, a: number, b: number): boolean {
  if (b <= a) return false;
  for (let i = a; i < b; i++) {
    const c = buf[i]!;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

export class ManifestTable implements Iterable<ManifestEntry> {
  private constructor(
    private readonly buf: Buffer,
    /** Entries (directories, files, symlinks), in the manifest's order. */
    readonly length: number,
    /** Per entry: where its line starts and where its newline is. */
    private readonly lineAt: Int32Array,
    private readonly lineEnd: Int32Array,
    /** Per entry: the entry number of its directory's `D` line, -1 for the top level. */
    private readonly dirOf: Int32Array,
    private readonly sizes: Float64Array,
    private readonly kinds: Uint8Array,
  ) {}

  /** Parses `manifest` (kept, not copied); rejects anything 0install would not write. */
  static parse(manifest: Uint8Array): ManifestTable {
    const buf = asBuffer(manifest);
    let lines = 0;
    for (let i = buf.indexOf(NL); i >= 0; i = buf.indexOf(NL, i + 1)) lines++;
    const lineAt = new Int32Array(lines);
    const lineEnd = new Int32Array(lines);
    const dirOf = new Int32Array(lines);
    const sizes = new Float64Array(lines);
    const kinds = new Uint8Array(lines);
    let dir = -1;
    let n = 0;
    for (let start = 0; start < buf.length; n++) {
      const lineNo = n + 1;
      const end = buf.indexOf(NL, start);
      if (end < 0) throw new ManifestError(`manifest line ${lineNo} does not end with a newline`);
      const kind = buf[start];
      const line = start;
      start = end + 1;
      lineAt[n] = line;
      lineEnd[n] = end;
      dirOf[n] = dir;
      if (buf[line + 1] !== SP || end - line < 3) throw malformed(buf, line, end, lineNo);
      if (kind === 0x44) {
        // D /path
        if (buf[line + 2] !== SLASH || end - line < 4) throw malformed(buf, line, end, lineNo);
        kinds[n] = KIND_DIR;
        dirOf[n] = -1;
        dir = n;
        continue;
      }
      const isFile = kind === 0x46 || kind === 0x58; // F, X: hash mtime size name; S: hash size name
      if (!isFile && kind !== 0x53) throw malformed(buf, line, end, lineNo);
      const h = line + 2;
      const hEnd = fieldEnd(buf, h, end);
      const mEnd = isFile && hEnd >= 0 ? fieldEnd(buf, hEnd + 1, end) : hEnd;
      const sEnd = mEnd >= 0 ? fieldEnd(buf, mEnd + 1, end) : -1;
      if (sEnd < 0 || !isHex(buf, h, hEnd) || !isDecimal(buf, mEnd + 1, sEnd) || (isFile && !isDecimal(buf, hEnd + 1, mEnd))) {
        throw malformed(buf, line, end, lineNo);
      }
      // The leaf: not empty, no slash.
      const slash = buf.indexOf(SLASH, sEnd + 1);
      if (sEnd + 1 === end || (slash >= 0 && slash < end)) throw malformed(buf, line, end, lineNo);
      kinds[n] = kind === 0x58 ? KIND_EXEC : isFile ? KIND_FILE : KIND_SYMLINK;
      sizes[n] = Number(buf.toString('latin1', mEnd + 1, sEnd));
    }
    return new ManifestTable(buf, n, lineAt, lineEnd, dirOf, sizes, kinds);
  }

  kind(i: number): EntryKind {
    return KINDS[this.kinds[i]!]!;
  }

  /** A file's content length or a symlink's target length; 0 for a directory. */
  size(i: number): number {
    return this.sizes[i]!;
  }

  /** Entry `i`'s path: a view of the manifest for a directory, else joined in `arena` or a new buffer. */
  path(i: number, arena?: PathArena): Buffer {
    const buf = this.buf;
    if (this.kinds[i] === KIND_DIR) {
      const path = buf.subarray(this.lineAt[i]! + 3, this.lineEnd[i]!);
      return arena ? arena.keep(path) : path;
    }
    const leafAt = this.nameAt(i);
    const leafEnd = this.lineEnd[i]!;
    const d = this.dirOf[i]!;
    if (d < 0) return arena ? arena.keep(buf.subarray(leafAt, leafEnd)) : buf.subarray(leafAt, leafEnd);
    const dirAt = this.lineAt[d]! + 3;
    const dirEnd = this.lineEnd[d]!;
    if (arena) return arena.join(buf.subarray(dirAt, dirEnd), buf.subarray(leafAt, leafEnd));
    const out = Buffer.allocUnsafe(dirEnd - dirAt + 1 + leafEnd - leafAt);
    buf.copy(out, 0, dirAt, dirEnd);
    out[dirEnd - dirAt] = SLASH;
    buf.copy(out, dirEnd - dirAt + 1, leafAt, leafEnd);
    return out;
  }

  /** Entry `i`'s last path component, as a view of the manifest. */
  name(i: number): Buffer {
    const end = this.lineEnd[i]!;
    if (this.kinds[i] !== KIND_DIR) return this.buf.subarray(this.nameAt(i), end);
    const at = this.lineAt[i]! + 3;
    return this.buf.subarray(Math.max(at, this.buf.lastIndexOf(SLASH, end - 1) + 1), end);
  }

  /** Where the name of file or symlink `i` starts in its line (after the hash, mtime and size fields). */
  private nameAt(i: number): number {
    let p = this.lineAt[i]! + 2;
    for (let fields = this.kinds[i] === KIND_SYMLINK ? 2 : 3; fields > 0; fields--) p = this.buf.indexOf(SP, p) + 1;
    return p;
  }

  /** Entry `i`, made now; its path as `path(i, arena)` gives it. */
  entry(i: number, arena?: PathArena): ManifestEntry {
    const k = this.kinds[i]!;
    const path = this.path(i, arena);
    if (k === KIND_DIR) return { path, kind: 'dir' };
    const buf = this.buf;
    const at = this.lineAt[i]!;
    const hEnd = buf.indexOf(SP, at + 2);
    const hash = buf.toString('latin1', at + 2, hEnd);
    const size = this.sizes[i]!;
    if (k === KIND_SYMLINK) return { path, kind: 'symlink', hash, size };
    const mtime = BigInt(buf.toString('latin1', hEnd + 1, buf.indexOf(SP, hEnd + 1)));
    return { path, kind: 'file', exec: k === KIND_EXEC, hash, mtime, size };
  }

  /** The entries of one kind, each made as it is reached. */
  *ofKind(kind: EntryKind): Generator<ManifestEntry> {
    for (let i = 0; i < this.length; i++) if (KINDS[this.kinds[i]!] === kind) yield this.entry(i);
  }

  *[Symbol.iterator](): Iterator<ManifestEntry> {
    for (let i = 0; i < this.length; i++) yield this.entry(i);
  }
}

/**
 * Parses a manifest in the new formats back into entries, so a client can check files one by one
 * against it. Rejects anything 0install would not write. The entries' paths live in an arena of
 * their own (src/core/path-arena.ts).
 */
export function parseManifest(manifest: Uint8Array): ManifestEntry[] {
  const table = ManifestTable.parse(manifest);
  const arena = new PathArena();
  const entries = new Array<ManifestEntry>(table.length);
  for (let i = 0; i < table.length; i++) entries[i] = table.entry(i, arena);
  return entries;
}
