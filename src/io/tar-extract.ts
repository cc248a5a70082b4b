// The safe extractor: unpacks a tar (or gzipped tar) stream from an untrusted peer into a fresh
// directory the caller owns, hashing every file in the same pass, and returns the manifest of
// what it wrote. It accepts only files, directories and symlinks (src/core/tar-rules.ts), never
// creates anything through a symlink (every path is checked against what this extraction created,
// and files are opened O_CREAT|O_EXCL|O_NOFOLLOW, directories made one by one with mkdir), and caps
// the bytes written, the entry count and the padding after the archive.
//
// The tar format (headers, checksums, pax records, GNU long names) is parsed by tar-stream's
// extract(); names are decoded as latin1 there and turned back into their raw bytes here (pax
// `path`/`linkpath` are UTF-8 by definition), so what lands on disk and in the manifest is exactly
// what the archive says.
//
// The tree comes out in store form, as 0install's fixup_permissions leaves it: files are created
// with their final mode (0444, or 0555 if executable; an open O_CREAT descriptor is writable
// whatever the mode) and mtime (futimes before close), and directories become 0555 with their
// mtimes in the end pass; symlinks get their mtimes with lutimes. So a commit of this tree needs no permission walk (commitStaged's
// `permissionsFixed`).
//
// Each entry's data events are handled synchronously: hashing and, for small files, the writes
// happen as the data arrives, with no promise per chunk. A large file's data (over 256 KiB) is
// written in 1 MiB batches on the thread pool (positional writes, one at a time per file), so the
// disk copy overlaps hashing and receiving; its mtime, check and close follow its last write.
// At most 8 MiB are in flight (then input waits: the network is read only as fast as the disk
// takes it), and every descriptor is closed, after its writes settle, before extraction settles.
//
// After each file is written, an fstat of the open descriptor checks that the file system stored
// its mtime (and mode, in case of an unusual umask); the manifest must describe the tree on disk.
//
// End of the archive: the stream must end with the two zero blocks of the tar format after the
// last entry (otherwise it was truncated). Zero padding after them is ignored (up to 16 MiB);
// any other data after the last entry is an error. As with `tar -i` (and tar-stream), zero blocks
// between entries do not end the archive (the digest check decides whether the tree is right).
import { createHash, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  writev,
  constants,
  fchmodSync,
  fstatSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  utimesSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { finished, Readable } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import tar from 'tar-stream';
import { type Algorithm, hashName } from '../core/digest.js';
import { type ManifestEntry, contentHash, renderManifest } from '../core/manifest-format.js';
import {
  STORE_DIR_MODE,
  TarRuleError,
  checkLinkTarget,
  checkMode,
  checkModeField,
  checkSize,
  entryKind,
  entryMtime,
  isExecutable,
  normalizePath,
  storeFileMode,
} from '../core/tar-rules.js';
import { quoteNetworkText } from '../core/quote.js';
import { BLOCK, padding } from './tar-header.js';

export const DEFAULT_MAX_BYTES = 8 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Zero padding tolerated after the last entry (tar pads to its record size; gzip adds none). */
const MAX_TRAILING_ZEROS = 16 * 1024 * 1024;
/** Input is handed to tar-stream in pieces of at most this size (bounded work per write). */
const MAX_PIECE = 64 * 1024;
/** What tar-stream may hold unparsed before input waits. */
const PARSER_BUFFER = 256 * 1024;
const GUNZIP_CHUNK = 64 * 1024;
const WRITE_BATCH = 1024 * 1024;
const MAX_IOV = 1024;
/** Files larger than this are written on the thread pool. */
const ASYNC_FILE = 256 * 1024;
/** Bytes of asynchronous writes in flight before input waits. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;
const FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export type ExtractErrorCode = 'unsafe' | 'limit' | 'corrupt' | 'truncated' | 'stalled' | 'aborted' | 'io';

export class ExtractError extends Error {
  override name = 'ExtractError';
  constructor(
    message: string,
    readonly code: ExtractErrorCode,
    /** The offending entry's name as it appears in the archive, when there is one. */
    readonly entry?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A Node stream, or chunks from any (async) iterable; sources are destroyed on failure. */
export type TarSource = NodeJS.ReadableStream | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface ExtractOptions {
  alg: Algorithm;
  /** Cap on file content bytes written (default 8 GiB). */
  maxBytes?: number;
  /** Cap on the number of entries (default 1,000,000). */
  maxEntries?: number;
  signal?: AbortSignal;
  /** Fail with code 'stalled' when no input arrives for this many milliseconds (default: never). */
  stallMs?: number;
  /** Called with the file content bytes received so far (as each piece of file data arrives). */
  onProgress?: (bytes: number) => void;
}

export interface ExtractResult {
  entries: ManifestEntry[];
  manifest: Buffer;
  /** File content bytes written. */
  bytes: number;
}

/** The header fields tar-stream's extract() hands out (names decoded as latin1, pax as UTF-8). */
interface Header {
  name: string;
  /** null for a type flag tar does not define. */
  type: string | null;
  /** null or NaN when the field is garbage. */
  size: number | null;
  mode: number | null;
  mtime: Date;
  linkname: string | null;
  pax: Record<string, string> | null;
  /** Tar offset of the entry's data. */
  byteOffset: number;
}

/** An entry's data stream (a streamx Readable). */
interface EntryStream {
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'end', fn: () => void): unknown;
  on(event: 'error', fn: (err: unknown) => void): unknown;
}

type Node = 'dir' | 'implicit' | 'file' | 'symlink';

interface DirRecord {
  rel: Buffer;
  mtime?: bigint;
}

/** The file whose data is being received. */
interface OpenFile {
  fd: number;
  rel: Buffer;
  /** The name as in the archive, for messages. */
  raw: Buffer;
  size: number;
  left: number;
  /** Created for a file whose data comes in more than one piece; one in one piece is hashed in one call. */
  hash?: Hash;
  digest?: string;
  batch: Buffer[];
  batchBytes: number;
  mtime: bigint;
  exec: boolean;
  mode: number;
  /** Large files: the file offset of the next batch, and the chain of its writes in flight. */
  pos: number;
  writes?: Promise<void>;
}

const GZIP = [0x1f, 0x8b];
const EMPTY = Buffer.alloc(0);
const SLASH = Buffer.from('/');

function isNodeReadable(source: TarSource): source is Readable {
  const s = source as Partial<Readable>;
  return typeof s.on === 'function' && typeof s.pause === 'function' && typeof s.resume === 'function' && typeof s.destroy === 'function';
}

function errnoMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return 'no space left on device (ENOSPC)';
  if (e.code === 'EDQUOT') return 'disk quota exceeded (EDQUOT)';
  return e.message;
}

/** Index of the last non-zero byte of a chunk, or -1; native comparisons for zero runs. */
const ZEROS = Buffer.alloc(4096);
function lastNonZero(b: Buffer): number {
  if (b.length && b[b.length - 1] !== 0) return b.length - 1;
  let end = b.length;
  while (end > 0) {
    const start = Math.max(0, end - ZEROS.length);
    if (!b.subarray(start, end).equals(ZEROS.subarray(0, end - start))) {
      for (let i = end - 1; i >= start; i--) if (b[i] !== 0) return i;
    }
    end = start;
  }
  return -1;
}

/** pwritev on the thread pool, until all of `bufs` is written at `pos`. */
function writeAllAt(fd: number, bufs: Buffer[], total: number, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    writev(fd, bufs, pos, (err, n) => {
      if (err) return reject(err);
      if (n === total) return resolve();
      const rest = Buffer.concat(bufs).subarray(n);
      writeAllAt(fd, [rest], rest.length, pos + n).then(resolve, reject);
    });
  });
}

function writeAll(fd: number, bufs: Buffer[], total: number): void {
  const n = bufs.length === 1 ? writeSync(fd, bufs[0]!) : writevSync(fd, bufs);
  if (n === total) return;
  const rest = Buffer.concat(bufs).subarray(n);
  let off = 0;
  while (off < rest.length) off += writeSync(fd, rest, off);
}

class Extraction {
  private readonly dest: Buffer;
  private readonly hash: 'sha1' | 'sha256';
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private readonly nodes = new Map<string, Node>();
  private readonly dirs = new Map<string, DirRecord>();
  private readonly files: ManifestEntry[] = [];
  /** The parent directory of the last entry created (see parents()). */
  private lastParent: Buffer | undefined;
  private seenRoot = false;
  private count = 0;
  bytes = 0;
  /** Tar-level positions: bytes fed, end of the last entry's data, end of the last non-zero byte. */
  private fed = 0;
  private lastEntryEnd = 0;
  private zeroRunStart = 0;
  private error: ExtractError | undefined;
  private stall: NodeJS.Timeout | undefined;
  /** The parser, and what feeds it: the source, or the gunzip stream after it. */
  private readonly parser = tar.extract({ filenameEncoding: 'latin1', highWaterMark: PARSER_BUFFER } as Parameters<typeof tar.extract>[0]);
  private source: Readable | undefined;
  private gunzip: Gunzip | undefined;
  private producer: Readable | undefined;
  /** The parser wants no more input until 'drain'. */
  private parserFull = false;
  /** The parser has taken all input ('finish'); an entry is between 'entry' and next(). */
  private parsed = false;
  private entryOpen = false;
  /** The file whose data is being received. */
  private file: OpenFile | undefined;
  /** Asynchronous work (large files' writes, then their close) and the bytes it holds. */
  private readonly pending = new Set<Promise<void>>();
  private inFlight = 0;
  private settling = false;
  private settled = false;
  private resolve!: (r: ExtractResult) => void;
  private reject!: (err: unknown) => void;
  private readonly onAbort = () => this.fail(new ExtractError('extraction aborted', 'aborted', undefined, { cause: this.opts.signal?.reason }));
  private readonly onError = (err: unknown) => this.fail(err);

  constructor(
    destDir: string,
    private readonly opts: ExtractOptions,
  ) {
    this.dest = Buffer.from(destDir);
    this.hash = hashName(opts.alg);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    let isDir = false;
    try {
      isDir = lstatSync(destDir).isDirectory();
    } catch {
      /* reported below */
    }
    if (!isDir) throw new ExtractError(`extraction directory '${destDir}' is not an existing directory`, 'io');
  }

  run(input: TarSource): Promise<ExtractResult> {
    const { signal, stallMs } = this.opts;
    if (signal?.aborted) return Promise.reject(new ExtractError('extraction aborted', 'aborted', undefined, { cause: signal.reason }));
    const done = new Promise<ExtractResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // An iterable becomes a Node stream, so one path handles backpressure and destruction.
    const source = isNodeReadable(input) ? input : Readable.from(input as AsyncIterable<Uint8Array>, { objectMode: false });
    this.source = source;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (stallMs !== undefined) {
      this.stall = setTimeout(() => this.fail(new ExtractError(`no data arrived for ${stallMs / 1000} s (stalled transfer)`, 'stalled')), stallMs);
    }
    const p = this.parser;
    p.on('entry', (header, stream, next) => this.entry(header as unknown as Header, stream as unknown as EntryStream, next));
    p.on('error', this.onError);
    p.on('drain', () => {
      this.parserFull = false;
      this.maybeResume();
    });
    p.on('finish', () => {
      this.parsed = true;
      this.maybeComplete();
    });
    this.flow(source);
    return done;
  }

  /**
   * Reads the source through its 'data' events, gunzipped first when it starts with the gzip
   * magic, and writes the tar bytes to the parser; pauses while the parser is full or too many
   * writes are in flight. A source error or premature close fails the extraction.
   */
  private flow(source: Readable): void {
    let head: Buffer | undefined;
    let decided = false;
    const decide = (first: Buffer) => {
      decided = true;
      if (first[0] !== GZIP[0] || first[1] !== GZIP[1]) {
        this.producer = source;
        this.toParser(first);
        return;
      }
      const z = createGunzip({ chunkSize: GUNZIP_CHUNK });
      this.gunzip = z;
      this.producer = z;
      z.on('data', (c: Buffer) => this.toParser(c));
      z.on('error', this.onError);
      z.on('end', () => {
        if (!this.error) this.parser.end(null);
      });
      z.on('drain', () => {
        if (!this.error) source.resume();
      });
      if (!z.write(first)) source.pause();
    };
    source.on('data', (data: Buffer | string) => {
      if (this.error) return;
      const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!decided) {
        head = head ? Buffer.concat([head, chunk]) : chunk;
        if (head.length >= GZIP.length) {
          const first = head;
          head = undefined;
          decide(first);
        }
      } else if (this.gunzip) {
        if (!this.gunzip.write(chunk)) source.pause();
      } else {
        this.toParser(chunk);
      }
    });
    finished(source, { writable: false }, (err) => {
      if (this.error) return;
      if (err) return this.fail(err);
      if (!decided && head) decide(head);
      if (this.error) return;
      if (this.gunzip) this.gunzip.end();
      else this.parser.end(null);
    });
  }

  /** Tar bytes for the parser, in bounded pieces; tracks positions and the trailing zeros. */
  private toParser(chunk: Buffer): void {
    if (this.error) return;
    try {
      for (let off = 0; off < chunk.length; off += MAX_PIECE) {
        const piece = off === 0 && chunk.length <= MAX_PIECE ? chunk : chunk.subarray(off, off + MAX_PIECE);
        this.track(piece);
        if (!this.parser.write(piece)) this.parserFull = true;
        if (this.error) return;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.parserFull || this.inFlight > MAX_IN_FLIGHT) this.producer?.pause();
  }

  private maybeResume(): void {
    if (this.error || this.parserFull || this.inFlight > MAX_IN_FLIGHT) return;
    this.producer?.resume();
  }

  private track(piece: Buffer): void {
    this.stall?.refresh();
    const last = lastNonZero(piece);
    if (last >= 0) this.zeroRunStart = this.fed + last + 1;
    this.fed += piece.length;
    if (this.fed - Math.max(this.zeroRunStart, this.lastEntryEnd) > MAX_TRAILING_ZEROS) {
      throw new ExtractError(`the archive is followed by more than ${MAX_TRAILING_ZEROS >> 20} MiB of zero padding`, 'limit');
    }
  }

  /**
   * The one place a failure goes: records the first one (later ones are consequences), closes
   * the open file, destroys the parser, the gunzip stream and the source, and settles once the
   * writes in flight have.
   */
  private fail(err: unknown): void {
    if (this.settled || this.error) return;
    this.error = this.wrap(err);
    this.closeFile();
    this.parser.destroy();
    this.gunzip?.destroy();
    this.source?.destroy();
    this.settle();
  }

  /** Resolves (or rejects) after every write in flight has settled and its descriptor is closed. */
  private settle(): void {
    if (this.settling) return;
    this.settling = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.stall);
    void (async () => {
      while (this.pending.size) await Promise.allSettled([...this.pending]);
      let result: ExtractResult | undefined;
      if (!this.error) {
        try {
          this.checkEnd();
          result = this.finish();
        } catch (err) {
          this.error = this.wrap(err);
        }
      }
      this.settled = true;
      if (this.error) this.reject(this.error);
      else this.resolve(result!);
    })();
  }

  /** Success once the parser has taken all input and the last entry is done. */
  private maybeComplete(): void {
    if (this.parsed && !this.entryOpen && !this.error) this.settle();
  }

  /** Closes the file being received (after its writes in flight, so no write hits a reused fd). */
  private closeFile(): void {
    const f = this.file;
    this.file = undefined;
    if (!f) return;
    const close = () => {
      try {
        closeSync(f.fd);
      } catch {
        /* already failing */
      }
    };
    if (f.writes) this.trackPending(f.writes.then(close, close));
    else close();
  }

  private trackPending(p: Promise<void>): void {
    this.pending.add(p);
    void p.then(() => this.pending.delete(p));
  }

  /** Hands a large file's batch to the thread pool, after that file's previous writes. */
  private writeLater(f: OpenFile, bufs: Buffer[], bytes: number): void {
    const pos = f.pos;
    f.pos += bytes;
    this.inFlight += bytes;
    f.writes = (f.writes ?? Promise.resolve()).then(() =>
      writeAllAt(f.fd, bufs, bytes, pos).then(
        () => this.written(bytes),
        (err: unknown) => {
          this.written(bytes);
          this.fail(this.entryError(err, f.raw));
          throw err;
        },
      ),
    );
    f.writes.catch(() => {});
  }

  private written(bytes: number): void {
    this.inFlight -= bytes;
    if (this.inFlight <= MAX_IN_FLIGHT / 2) this.maybeResume();
  }

  private wrap(err: unknown): ExtractError {
    if (err instanceof ExtractError) return err;
    const e = err as NodeJS.ErrnoException;
    const msg = e?.message ?? String(err);
    if (['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE'].includes(e?.code ?? '') || msg === 'aborted') {
      return new ExtractError(`the transfer broke off (${e?.code ?? msg})`, 'truncated', undefined, { cause: err });
    }
    if (e?.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(msg)) {
      return new ExtractError('the gzip stream ends early (truncated transfer)', 'truncated', undefined, { cause: err });
    }
    if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
      return new ExtractError(`the gzip stream is corrupt: ${msg}`, 'corrupt', undefined, { cause: err });
    }
    // tar-stream's messages: its parser saw the input end inside an entry or a header block...
    if (/Unexpected end of data/.test(msg)) {
      const f = this.file;
      if (f && f.left > 0) {
        return new ExtractError(`the archive ends in the middle of entry ${quoteNetworkText(f.rel)} (truncated transfer)`, 'truncated', f.rel.toString(), { cause: err });
      }
      return new ExtractError('the archive ends in the middle of an entry (truncated transfer)', 'truncated', undefined, { cause: err });
    }
    // ...or a header that is not tar (bad checksum, unknown format, bad size, huge pax record).
    if (/Invalid tar header|Invalid header|Header exceeds max size/.test(msg)) {
      return new ExtractError(`the data is not a valid tar archive: ${msg}`, 'corrupt', undefined, { cause: err });
    }
    return new ExtractError(`extraction failed: ${msg}`, 'io', undefined, { cause: err });
  }

  /** A real entry (tar-stream has applied its pax records and GNU long names): check, create. */
  private entry(h: Header, stream: EntryStream, next: () => void): void {
    // Every entry stream gets an error listener: a stream destroyed with the parser would
    // otherwise throw from inside tar-stream.
    stream.on('error', this.onError);
    if (this.error) return;
    this.entryOpen = true;
    const pax = h.pax;
    const rawName = Buffer.from(h.name, pax?.path ? 'utf8' : 'latin1');
    try {
      if (++this.count > this.maxEntries) throw new TarRuleError(`is entry number ${this.count}, over the limit of ${this.maxEntries} entries`, 'limit');
      // tar-stream means to read a type-0 entry whose name ends in '/' as an old-style
      // directory, but computes the type before it checks (3.2.2); the rule is applied here.
      const kind = entryKind(h.type === 'file' && h.name.endsWith('/') ? 'directory' : (h.type ?? 'unknown'));
      const paxSize = pax?.size;
      if (paxSize !== undefined && !/^[0-9]{1,16}$/.test(paxSize)) throw new TarRuleError(`has an invalid pax size (${quoteNetworkText(paxSize)})`, 'corrupt');
      const size = checkSize(h.size ?? NaN, kind);
      checkMode(checkModeField(h.mode ?? NaN));
      const rel = normalizePath(rawName, kind === 'dir');
      this.lastEntryEnd = h.byteOffset + size + padding(size);
      const mtime = () => entryMtime(pax?.mtime, h.mtime.getTime() / 1000);
      if (kind === 'file') {
        const f = this.openFile(rel, rawName, size, mtime(), isExecutable(h.mode!));
        if (size > 0) {
          stream.on('data', (chunk) => this.fileData(f, chunk));
          stream.on('end', () => this.endEntry(f, next));
          return;
        }
        this.endFile(f);
      } else if (kind === 'dir') {
        this.dir(rel, mtime());
      } else {
        this.symlink(rel, Buffer.from(h.linkname ?? '', pax?.linkpath ? 'utf8' : 'latin1'), mtime());
      }
    } catch (err) {
      this.fail(this.entryError(err, rawName));
      return;
    }
    this.entryOpen = false;
    next();
  }

  /** A file's data stream ended: finish the file, then let the parser go on. */
  private endEntry(f: OpenFile, next: () => void): void {
    if (this.error) return;
    try {
      this.endFile(f);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.entryOpen = false;
    next();
    this.maybeComplete();
  }

  private entryError(err: unknown, rawName: Buffer): unknown {
    if (err instanceof TarRuleError) return new ExtractError(`entry ${quoteNetworkText(rawName)} ${err.message}`, err.code, rawName.toString());
    if (err instanceof ExtractError) return err;
    if ((err as NodeJS.ErrnoException)?.code) {
      return new ExtractError(`cannot create entry ${quoteNetworkText(rawName)}: ${errnoMessage(err)}`, 'io', rawName.toString(), { cause: err });
    }
    return err;
  }

  private abs(rel: Buffer): Buffer {
    return Buffer.concat([this.dest, SLASH, rel]);
  }

  /**
   * Creates missing parent directories; refuses to go through a symlink or a file. Entries come
   * grouped by directory, so the last parent checked is remembered: once every prefix of it is a
   * directory, it stays one (a name is never claimed twice).
   */
  private parents(rel: Buffer): void {
    const end = rel.lastIndexOf(0x2f);
    const last = this.lastParent;
    if (end < 0 || (last !== undefined && last.length === end && rel.compare(last, 0, end, 0, end) === 0)) return;
    let i = rel.indexOf(0x2f);
    while (i >= 0) {
      const prefix = rel.subarray(0, i);
      const node = this.nodes.get(prefix.toString('latin1'));
      if (node === 'symlink') throw new TarRuleError(`would be created through the symlink ${quoteNetworkText(prefix)}`, 'unsafe');
      if (node === 'file') throw new TarRuleError(`is inside ${quoteNetworkText(prefix)}, which is a file`, 'unsafe');
      if (node === undefined) {
        mkdirSync(this.abs(prefix), 0o755);
        this.nodes.set(prefix.toString('latin1'), 'implicit');
        this.dirs.set(prefix.toString('latin1'), { rel: Buffer.from(prefix) });
      }
      i = rel.indexOf(0x2f, i + 1);
    }
    this.lastParent = rel.subarray(0, end);
  }

  private claim(rel: Buffer, node: Node): void {
    const key = rel.toString('latin1');
    if (this.nodes.has(key)) throw new TarRuleError('appears twice in the archive', 'unsafe');
    this.parents(rel);
    this.nodes.set(key, node);
  }

  private dir(rel: Buffer, mtime: bigint): void {
    if (rel.length === 0) {
      if (this.seenRoot) throw new TarRuleError('(the root directory) appears twice in the archive', 'unsafe');
      this.seenRoot = true;
      return;
    }
    const key = rel.toString('latin1');
    if (this.nodes.get(key) === 'implicit') {
      this.nodes.set(key, 'dir');
      const rec = this.dirs.get(key);
      if (rec) rec.mtime = mtime;
      return;
    }
    this.claim(rel, 'dir');
    mkdirSync(this.abs(rel), 0o755);
    this.dirs.set(key, { rel, mtime });
  }

  /** A symlink, stored (never followed) with the archive's mtime on the link itself, as tar and 0install leave it. */
  private symlink(rel: Buffer, target: Buffer, mtime: bigint): void {
    if (rel.length === 0) throw new TarRuleError('is a symlink in place of the root directory', 'unsafe');
    checkLinkTarget(target);
    this.claim(rel, 'symlink');
    const p = this.abs(rel);
    symlinkSync(target, p);
    const t = Number(mtime);
    lutimesSync(p, t, t);
    if (Math.floor(lstatSync(p).mtimeMs / 1000) !== t) throw new TarRuleError(`has an mtime (${mtime}) this file system cannot store`, 'limit');
    this.files.push({ path: rel, kind: 'symlink', size: target.length, hash: contentHash(target, this.opts.alg) });
  }

  private openFile(rel: Buffer, raw: Buffer, size: number, mtime: bigint, exec: boolean): OpenFile {
    if (rel.length === 0) throw new TarRuleError('is a file in place of the root directory', 'unsafe');
    if (size > this.maxBytes - this.bytes) {
      throw new TarRuleError(`is ${size} bytes, more than the ${this.maxBytes - this.bytes} bytes left of the ${this.maxBytes}-byte limit`, 'limit');
    }
    this.claim(rel, 'file');
    const mode = storeFileMode(exec);
    const fd = openSync(this.abs(rel), FILE_FLAGS, mode);
    const f: OpenFile = { fd, rel, raw, size, left: size, batch: [], batchBytes: 0, mtime, exec, mode, pos: 0 };
    this.file = f;
    return f;
  }

  /** A piece of a file's data: hash it; write small files once complete, large ones in batches on the thread pool. */
  private fileData(f: OpenFile, piece: Buffer): void {
    if (this.error || this.file !== f) return;
    f.left -= piece.length;
    this.bytes += piece.length;
    if (piece.length === f.size) f.digest = contentHash(piece, this.opts.alg);
    else (f.hash ??= createHash(this.hash)).update(piece);
    const large = f.size > ASYNC_FILE;
    try {
      if (!large && f.left === 0 && f.batchBytes === 0) {
        // A small file that came in one piece: one write.
        writeAll(f.fd, [piece], piece.length);
      } else {
        f.batch.push(piece);
        f.batchBytes += piece.length;
        if (f.left === 0 || f.batchBytes >= WRITE_BATCH || f.batch.length >= MAX_IOV) {
          if (large) this.writeLater(f, f.batch, f.batchBytes);
          else writeAll(f.fd, f.batch, f.batchBytes);
          f.batch = [];
          f.batchBytes = 0;
          if (this.inFlight > MAX_IN_FLIGHT) this.producer?.pause();
        }
      }
    } catch (err) {
      this.fail(this.entryError(err, f.raw));
      return;
    }
    this.opts.onProgress?.(this.bytes);
  }

  /** The file's data is complete: mtime, check what the file system stored, close (after its writes). */
  private endFile(f: OpenFile): void {
    this.file = undefined;
    this.files.push({ path: f.rel, kind: 'file', exec: f.exec, mtime: f.mtime, size: f.size, hash: f.digest ?? f.hash?.digest('hex') ?? contentHash(EMPTY, this.opts.alg) });
    if (f.writes) {
      const done = f.writes.then(
        () => {
          try {
            this.finishFile(f);
          } catch (err) {
            this.fail(err);
          }
        },
        () => {
          try {
            closeSync(f.fd);
          } catch {
            /* already failing */
          }
        },
      );
      this.trackPending(done);
    } else {
      this.finishFile(f);
    }
  }

  private finishFile(f: OpenFile): void {
    try {
      const t = Number(f.mtime);
      futimesSync(f.fd, t, t);
      const st = fstatSync(f.fd);
      if ((st.mode & 0o7777) !== f.mode) fchmodSync(f.fd, f.mode);
      if (Math.floor(st.mtimeMs / 1000) !== t) {
        throw new TarRuleError(`has an mtime (${f.mtime}) this file system cannot store`, 'limit');
      }
    } catch (err) {
      throw this.entryError(err, f.raw);
    } finally {
      closeSync(f.fd);
    }
  }

  private checkEnd(): void {
    if (this.zeroRunStart > this.lastEntryEnd) {
      throw new ExtractError('the archive has data after its last entry that is not a tar entry', 'corrupt');
    }
    if (this.fed - this.lastEntryEnd < 2 * BLOCK) {
      throw new ExtractError('the archive ends without its end-of-archive blocks (truncated transfer)', 'truncated');
    }
  }

  /** Directory modes and mtimes last (creating children changes them), then the manifest. */
  private finish(): ExtractResult {
    const dirEntries: ManifestEntry[] = [];
    for (const d of this.dirs.values()) {
      const p = this.abs(d.rel);
      try {
        chmodSync(p, STORE_DIR_MODE);
        if (d.mtime !== undefined) utimesSync(p, Number(d.mtime), Number(d.mtime));
        const st = lstatSync(p, { bigint: true });
        dirEntries.push({ path: d.rel, kind: 'dir', mtime: st.mtimeNs / 1_000_000_000n });
      } catch (err) {
        throw new ExtractError(`cannot set the mode and time of directory ${quoteNetworkText(d.rel)}: ${errnoMessage(err)}`, 'io', d.rel.toString(), { cause: err });
      }
    }
    const entries = [...dirEntries, ...this.files];
    let manifest: Buffer;
    try {
      manifest = renderManifest(entries, this.opts.alg);
    } catch (err) {
      throw new ExtractError(`the archive cannot form a 0install tree: ${(err as Error).message}`, 'unsafe', undefined, { cause: err });
    }
    return { entries, manifest, bytes: this.bytes };
  }
}

/**
 * Extracts a tar or tar.gz stream into `destDir` (an existing, empty directory the caller owns and
 * removes on failure). Resolves with the manifest entries of what was written, in store form
 * (files 0444/0555, directories 0555); rejects with an ExtractError naming the bad entry. All file
 * descriptors are closed before it settles.
 */
export async function extractTar(
  source: TarSource,
  destDir: string,
  opts: ExtractOptions,
): Promise<ExtractResult> {
  return new Extraction(destDir, opts).run(source);
}
