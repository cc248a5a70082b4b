// An incremental tar parser: chunks in, entries and their data out, synchronously, with no
// stream or promise per entry and no copy of the data (each data piece is a view of the chunk it
// arrived in). It reads what tar-stream 3's extract() reads, and as tar-stream does: ustar
// headers (with the prefix field), GNU headers, octal or base-256 numbers, pax 'x' records (with
// the 'g' global records merged into them), GNU long names ('L', 'N') and long link names ('K');
// all-zero blocks are skipped wherever a header may start. Names come out as their raw bytes
// (pax `path`/`linkpath` are UTF-8 by definition and decoded as such, as tar-stream does).
// test/prop/tar-parse.prop.test.ts checks it against tar-stream on random archives.
//
// What the entries may be (types, names, sizes) is the extractor's business (src/core/tar-rules.ts);
// this module only refuses what is not tar: bad checksums, unknown formats, sizes that are not
// numbers, long-name records over 4 MiB, and input that ends inside a header or an entry.

export const TAR_BLOCK = 512;
/** Largest pax or GNU long-name record accepted (tar-stream's limit). */
export const MAX_LONG_HEADER = 4 * 1024 * 1024;

export type TarParseCode = 'corrupt' | 'truncated';

export class TarParseError extends Error {
  override name = 'TarParseError';
  constructor(message: string, readonly code: TarParseCode) {
    super(message);
  }
}

/** One real entry, its pax records and long names applied. */
export interface TarEntryHeader {
  /** Raw name bytes. */
  name: Buffer;
  /** The type as tar-stream names it ('file', 'directory', 'symlink', 'link', ...), null for a flag tar does not define. */
  type: string | null;
  size: number;
  /** NaN when the field is garbage. */
  mode: number;
  /** Seconds since the epoch; NaN when garbage or out of Date's range. */
  mtime: number;
  linkname: Buffer | null;
  pax: Record<string, string> | null;
  /** Tar offset of the entry's data. */
  dataOffset: number;
}

export interface TarSink {
  /** A real entry; its data (if any) follows in data() calls, then entryEnd(). */
  entry(h: TarEntryHeader): void;
  data(piece: Buffer): void;
  entryEnd(): void;
}

const TYPES: Record<number, string> = {
  0: 'file',
  1: 'link',
  2: 'symlink',
  3: 'character-device',
  4: 'block-device',
  5: 'directory',
  6: 'fifo',
  7: 'contiguous-file',
  72: 'pax-header',
  55: 'pax-global-header',
  27: 'gnu-long-link-path',
  28: 'gnu-long-path',
  30: 'gnu-long-path',
};

const USTAR = Buffer.from('ustar\0', 'latin1');
const GNU = Buffer.from('ustar ', 'latin1');
const GNU_VER = Buffer.from(' \0', 'latin1');
const NUL = 0;

function indexOf(b: Buffer, byte: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === byte) return i;
  return end;
}

function parse256(b: Buffer, off: number, len: number): number {
  const positive = b[off] === 0x80;
  if (!positive && b[off] !== 0xff) return NaN;
  let sum = 0;
  for (let i = off + 1; i < off + len; i++) sum = sum * 256 + (positive ? b[i]! : 0xff - b[i]!);
  return positive ? sum : -sum;
}

/** A numeric field as tar-stream's decodeOct reads it: base-256, or octal after spaces and NULs up to a space. */
function decodeOct(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) return parse256(b, off, len);
  const stop = off + len;
  let i = off;
  while (i < stop && b[i] === 0x20) i++;
  const end = indexOf(b, 0x20, i, stop);
  while (i < end && b[i] === NUL) i++;
  if (end === i) return 0;
  return parseInt(b.toString('latin1', i, end), 8);
}

function checksum(b: Buffer, off: number): number {
  let sum = 8 * 32;
  for (let i = off; i < off + 148; i++) sum += b[i]!;
  for (let i = off + 156; i < off + TAR_BLOCK; i++) sum += b[i]!;
  return sum;
}

function field(b: Buffer, off: number, len: number): Buffer {
  return b.subarray(off, indexOf(b, NUL, off, off + len));
}

/** pax records, "<len> <key>=<value>\n", as tar-stream's decodePax reads them (stops at the first bad one). */
export function decodePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let b = buf;
  while (b.length) {
    let i = 0;
    while (i < b.length && b[i] !== 0x20) i++;
    const len = parseInt(b.toString('utf8', 0, i), 10);
    if (!len) return out;
    const rec = b.toString('utf8', i + 1, len - 1);
    const eq = rec.indexOf('=');
    if (eq === -1) return out;
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    b = b.subarray(len);
  }
  return out;
}

interface RawHeader {
  type: string | null;
  name: Buffer;
  linkname: Buffer | null;
  size: number;
  mode: number;
  mtime: number;
}

/** A header block at b[off, off + 512), or null for an all-zero block; throws for a block that is not tar. */
function decodeHeader(b: Buffer, off: number, at: number): RawHeader | null {
  const sum = checksum(b, off);
  if (sum === 8 * 32) return null;
  if (sum !== decodeOct(b, off + 148, 8)) {
    throw new TarParseError(`the header block at byte ${at} has a bad checksum (corrupt, or still compressed?)`, 'corrupt');
  }
  let name = field(b, off, 100);
  const magic = b.subarray(off + 257, off + 263);
  if (magic.equals(USTAR)) {
    if (b[off + 345]) name = Buffer.concat([field(b, off + 345, 155), Buffer.from('/'), name]);
  } else if (!(magic.equals(GNU) && b.subarray(off + 263, off + 265).equals(GNU_VER))) {
    throw new TarParseError(`the header block at byte ${at} is of an unknown format (no ustar magic)`, 'corrupt');
  }
  const flag = b[off + 156] === 0 ? 0 : b[off + 156]! - 0x30;
  // A base-256 mtime that is neither positive nor negative is 0 to tar-stream (new Date(1000 * null)).
  const m0 = b[off + 136]!;
  const mtime = m0 & 0x80 && m0 !== 0x80 && m0 !== 0xff ? 0 : decodeOct(b, off + 136, 12);
  return {
    type: TYPES[flag] ?? null,
    // Copies: the header block's chunk is not kept alive by the entry.
    name: Buffer.from(name),
    linkname: b[off + 157] === 0 ? null : Buffer.from(field(b, off + 157, 100)),
    size: decodeOct(b, off + 124, 12),
    mode: decodeOct(b, off + 100, 8),
    // As new Date(1000 * mtime) leaves it: NaN beyond Date's range.
    mtime: Number.isNaN(mtime) || Math.abs(mtime * 1000) > 8.64e15 ? NaN : mtime,
  };
}

const padTo = (n: number) => (TAR_BLOCK - (n % TAR_BLOCK)) % TAR_BLOCK;

export class TarParser {
  /** Tar bytes taken so far. */
  private pos = 0;
  /** A header block being gathered across chunks, or a long-header record. */
  private hold: Buffer[] = [];
  private held = 0;
  private need = TAR_BLOCK;
  private state: 'header' | 'long' | 'data' | 'skip' = 'header';
  private long: RawHeader | undefined;
  private dataLeft = 0;
  private skipLeft = 0;
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;
  private longPath: Buffer | null = null;
  private longLink: Buffer | null = null;

  constructor(private readonly sink: TarSink) {}

  /** Parses a chunk; the sink's calls happen before this returns. Throws TarParseError (or what the sink throws). */
  write(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.state === 'data') {
        const take = Math.min(this.dataLeft, n - off);
        const piece = take === n && off === 0 ? chunk : chunk.subarray(off, off + take);
        off += take;
        this.pos += take;
        this.dataLeft -= take;
        this.sink.data(piece);
        if (this.dataLeft === 0) this.endData();
        continue;
      }
      if (this.state === 'skip') {
        const take = Math.min(this.skipLeft, n - off);
        off += take;
        this.pos += take;
        this.skipLeft -= take;
        if (this.skipLeft === 0) this.state = 'header';
        continue;
      }
      // 'header' or 'long': gather `need` bytes (straight from the chunk when they are all there).
      let buf: Buffer;
      let at: number;
      if (this.held === 0 && n - off >= this.need) {
        buf = chunk;
        at = off;
        off += this.need;
        this.pos += this.need;
      } else {
        const take = Math.min(this.need - this.held, n - off);
        this.hold.push(chunk.subarray(off, off + take));
        this.held += take;
        off += take;
        this.pos += take;
        if (this.held < this.need) {
          // A kept part must outlive the caller's chunk: copy it.
          this.hold[this.hold.length - 1] = Buffer.from(this.hold[this.hold.length - 1]!);
          continue;
        }
        buf = Buffer.concat(this.hold, this.held);
        at = 0;
        this.hold = [];
        this.held = 0;
      }
      const start = this.pos - this.need;
      if (this.state === 'header') this.header(buf, at, start);
      else this.longRecord(buf.subarray(at, at + this.need));
    }
  }

  /** The input has ended: throws unless it ended between entries (on a block boundary). */
  end(): void {
    if (this.state === 'data' || this.state === 'skip' || this.state === 'long' || this.held > 0) {
      throw new TarParseError(this.state === 'data' ? 'the archive ends in the middle of an entry' : 'the archive ends in the middle of a header', 'truncated');
    }
  }

  /** Tar offset of the byte after what was taken. */
  get offset(): number {
    return this.pos;
  }

  /** True while an entry's data (or its padding) is still to come. */
  get inEntry(): boolean {
    return this.state === 'data' || this.state === 'skip';
  }

  private header(b: Buffer, off: number, at: number): void {
    const h = decodeHeader(b, off, at);
    this.need = TAR_BLOCK;
    if (!h) return;
    if (h.type === 'pax-header' || h.type === 'pax-global-header' || h.type === 'gnu-long-path' || h.type === 'gnu-long-link-path') {
      if (!(h.size >= 0)) throw new TarParseError(`the ${h.type} record at byte ${at} has an invalid size`, 'corrupt');
      if (h.size > MAX_LONG_HEADER) throw new TarParseError(`the ${h.type} record at byte ${at} is over ${MAX_LONG_HEADER >> 20} MiB`, 'corrupt');
      this.long = h;
      this.skipLeft = padTo(h.size);
      // An empty record says nothing (tar-stream does not read one either).
      if (h.size === 0) {
        this.long = undefined;
        return;
      }
      this.need = h.size;
      this.state = 'long';
      return;
    }
    let { name, linkname, size } = h;
    if (this.longPath) name = this.longPath;
    if (this.longLink) linkname = this.longLink;
    this.longPath = this.longLink = null;
    const pax = this.pax;
    this.pax = null;
    if (pax) {
      if (pax.path) name = Buffer.from(pax.path, 'utf8');
      if (pax.linkpath) linkname = Buffer.from(pax.linkpath, 'utf8');
      if (pax.size) size = parseInt(pax.size, 10);
    }
    if (!(size >= 0)) throw new TarParseError(`the header at byte ${at} has an invalid size`, 'corrupt');
    const dataOffset = at + TAR_BLOCK;
    this.sink.entry({ name, type: h.type, size, mode: h.mode, mtime: h.mtime, linkname, pax, dataOffset });
    // As tar-stream: a directory's size is not data (the extractor refuses a non-zero one).
    if (size === 0 || h.type === 'directory') {
      this.sink.entryEnd();
      return;
    }
    this.dataLeft = size;
    this.skipLeft = padTo(size);
    this.state = 'data';
  }

  private endData(): void {
    this.state = this.skipLeft > 0 ? 'skip' : 'header';
    this.sink.entryEnd();
  }

  private longRecord(rec: Buffer): void {
    const h = this.long!;
    this.long = undefined;
    if (h.type === 'gnu-long-path') this.longPath = Buffer.from(field(rec, 0, rec.length));
    else if (h.type === 'gnu-long-link-path') this.longLink = Buffer.from(field(rec, 0, rec.length));
    else if (h.type === 'pax-global-header') this.paxGlobal = decodePax(rec);
    else this.pax = this.paxGlobal === null ? decodePax(rec) : { ...this.paxGlobal, ...decodePax(rec) };
    this.need = TAR_BLOCK;
    this.state = this.skipLeft > 0 ? 'skip' : 'header';
  }
}
