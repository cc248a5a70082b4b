// The safe extractor: unpacks a tar (or gzipped tar) stream from an untrusted peer into a fresh
// directory the caller owns, hashing every file in the same pass, and returns the manifest of
// what it wrote. It accepts only files, directories and symlinks (src/core/tar-rules.ts), never
// creates anything through a symlink (every path is checked against what this extraction created,
// and files are opened O_CREAT|O_EXCL|O_NOFOLLOW, directories made one by one with mkdir), and caps
// the bytes written, the entry count and the padding after the archive.
//
// The tree comes out in store form, as 0install's fixup_permissions leaves it: files are created
// with their final mode (0444, or 0555 if executable; an open O_CREAT descriptor is writable
// whatever the mode) and mtime (futimes before close), and directories become 0555 with their
// mtimes in the end pass. So a commit of this tree needs no permission walk (commitStaged's
// `permissionsFixed`).
//
// The tar stream is parsed here, synchronously, chunk by chunk (headers: src/core/tar-decode.ts):
// each chunk's headers, hashing and the file system calls for small files happen in one turn of
// the event loop, with no per-entry streams or promises. A large file's data (over 256 KiB) is
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
// any other data after the last entry is an error. As with `tar -i`, zero blocks between entries
// do not end the archive (the digest check decides whether the result is the right tree).
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
  mkdirSync,
  openSync,
  symlinkSync,
  utimesSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { finished, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { type Algorithm, hashName } from '../core/digest.js';
import { type ManifestEntry, renderManifest } from '../core/manifest-format.js';
import { BLOCK, type PaxRecords, type TarHeader, decodeHeader, decodeLongName, decodePax } from '../core/tar-decode.js';
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
  showName,
  storeFileMode,
} from '../core/tar-rules.js';

export const DEFAULT_MAX_BYTES = 8 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Zero padding tolerated after the last entry (tar pads to its record size; gzip adds none). */
const MAX_TRAILING_ZEROS = 16 * 1024 * 1024;
/** Pax and GNU long-name records larger than this are refused. */
const MAX_LONG_HEADER = 1024 * 1024;
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

/** A Node stream, or chunks from any (async) iterable; Node streams are destroyed on failure. */
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
  /** Called with the file content bytes received so far (after each input chunk). */
  onProgress?: (bytes: number) => void;
}

export interface ExtractResult {
  entries: ManifestEntry[];
  manifest: Buffer;
  /** File content bytes written. */
  bytes: number;
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
  hash: Hash;
  batch: Buffer[];
  batchBytes: number;
  mtime: bigint;
  exec: boolean;
  mode: number;
  /** Large files: the file offset of the next batch, and the chain of its writes in flight. */
  pos: number;
  writes?: Promise<void>;
}

/** A pax or GNU long-name record being collected. */
interface LongRecord {
  type: string;
  buf: Buffer;
  fill: number;
}

const GZIP = [0x1f, 0x8b];

function isNodeReadable(source: TarSource): source is Readable {
  const s = source as Partial<Readable>;
  return typeof s.on === 'function' && typeof s.pause === 'function' && typeof s.resume === 'function' && typeof s.destroy === 'function';
}
const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

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
  private seenRoot = false;
  private count = 0;
  bytes = 0;
  /** Tar-level positions: bytes fed, end of the last entry's data, end of the last non-zero byte. */
  private fed = 0;
  private lastEntryEnd = 0;
  private zeroRunStart = 0;
  private error: ExtractError | undefined;
  private stall: NodeJS.Timeout | undefined;
  // Parser state: a partial header block, the file being written, a long record, bytes to skip.
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private file: OpenFile | undefined;
  private long: LongRecord | undefined;
  private skip = 0;
  /** Pending pax records (local, then global) and GNU long names for the next entry. */
  private pax: PaxRecords | undefined;
  private paxGlobal: PaxRecords | undefined;
  private longName: Buffer | undefined;
  private longLink: Buffer | undefined;
  /** Asynchronous work (large files' writes, then their close) and the bytes it holds. */
  private readonly pending = new Set<Promise<void>>();
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private inner: AbortController | undefined;

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

  async run(source: TarSource): Promise<ExtractResult> {
    const { signal } = this.opts;
    if (signal?.aborted) throw new ExtractError('extraction aborted', 'aborted', undefined, { cause: signal.reason });
    const inner = new AbortController();
    this.inner = inner;
    const failed = new Promise<never>((_, reject) => inner.signal.addEventListener('abort', () => reject(inner.signal.reason)));
    failed.catch(() => {});
    const onAbort = () => this.fail(new ExtractError('extraction aborted', 'aborted', undefined, { cause: signal?.reason }), inner);
    signal?.addEventListener('abort', onAbort, { once: true });
    const { stallMs } = this.opts;
    if (stallMs !== undefined) {
      this.stall = setTimeout(() => {
        this.fail(new ExtractError(`no data arrived for ${stallMs / 1000} s (stalled transfer)`, 'stalled'), inner);
      }, stallMs);
    }

    const consume = async (chunks: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of chunks) {
        if (this.error) return;
        this.feed(chunk);
        this.opts.onProgress?.(this.bytes);
        if (this.error) return;
        if (this.inFlight > MAX_IN_FLIGHT) await new Promise<void>((resolve) => (this.drained = resolve));
      }
      this.endOfInput();
      while (this.pending.size) await Promise.all(this.pending);
    };
    try {
      const work = isNodeReadable(source)
        ? this.flow(source)
        : pipeline(source as AsyncIterable<Uint8Array>, (src: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>) => this.decode(src), consume, {
            signal: inner.signal,
          });
      work.catch(() => {});
      await Promise.race([work, failed]);
    } catch (err) {
      this.fail(err, inner);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(this.stall);
      if (this.error) {
        this.closeFile();
        const s = source as Partial<Readable>;
        if (typeof s.destroy === 'function') s.destroy();
      }
      // Writes in flight finish (they cannot be cancelled) and close their descriptors.
      while (this.pending.size) await Promise.allSettled(this.pending);
    }
    if (this.error) throw this.error;
    this.checkEnd();
    return this.finish();
  }

  /** Records the first failure (later ones are consequences), closes the open file, stops the pipeline. */
  private fail(err: unknown, inner: AbortController): void {
    this.error ??= this.wrap(err);
    this.closeFile();
    inner.abort(this.error);
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
          this.failLater(this.entryError(err, f.raw));
          throw err;
        },
      ),
    );
    f.writes.catch(() => {});
  }

  private written(bytes: number): void {
    this.inFlight -= bytes;
    if (this.inFlight <= MAX_IN_FLIGHT / 2 && this.drained) {
      const go = this.drained;
      this.drained = undefined;
      go();
    }
  }

  /** A failure found off the main path (a write on the thread pool): stops the extraction. */
  private failLater(err: unknown): void {
    if (this.inner) this.fail(err, this.inner);
    else this.error ??= this.wrap(err);
    const go = this.drained;
    this.drained = undefined;
    go?.();
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
    return new ExtractError(`extraction failed: ${msg}`, 'io', undefined, { cause: err });
  }

  /**
   * A Node stream: its 'data' events feed the parser directly, with no async iteration per
   * chunk (gunzipped first when it starts with the gzip magic). Pauses while too many writes are
   * in flight. Resolves when all of it is written; rejects on a stream error or premature close.
   */
  private flow(source: Readable): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let stopped = false;
      let head: Buffer | undefined;
      let gz: Gunzip | undefined;
      let decided = false;
      const stop = (err: unknown) => {
        if (stopped) return;
        stopped = true;
        source.pause();
        reject(err);
      };
      const take = (tar: Readable, chunk: Buffer) => {
        if (stopped || this.error) return;
        try {
          this.track(chunk);
          this.feed(chunk);
          this.opts.onProgress?.(this.bytes);
        } catch (err) {
          stop(err);
          return;
        }
        if (this.inFlight > MAX_IN_FLIGHT && !this.error) {
          tar.pause();
          this.drained = () => tar.resume();
        }
      };
      const finish = () => {
        if (stopped || this.error) return;
        try {
          this.endOfInput();
        } catch (err) {
          stop(err);
          return;
        }
        void (async () => {
          while (this.pending.size) await Promise.all(this.pending);
        })().then(resolve, stop);
      };
      const decide = (first: Buffer) => {
        decided = true;
        if (first[0] !== GZIP[0] || first[1] !== GZIP[1]) return take(source, first);
        const z = createGunzip({ chunkSize: GUNZIP_CHUNK });
        gz = z;
        z.on('data', (c: Buffer) => take(z, c));
        z.on('error', stop);
        z.on('end', finish);
        z.on('drain', () => source.resume());
        if (!z.write(first)) source.pause();
      };
      source.on('data', (data: Buffer | string) => {
        if (stopped || this.error) return;
        const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
        if (!decided) {
          head = head ? Buffer.concat([head, chunk]) : chunk;
          if (head.length >= GZIP.length) {
            const first = head;
            head = undefined;
            decide(first);
          }
        } else if (gz) {
          if (!gz.write(chunk)) source.pause();
        } else {
          take(source, chunk);
        }
      });
      finished(source, { writable: false }, (err) => {
        if (err) return stop(err);
        if (!decided && head) decide(head);
        if (gz) gz.end();
        else finish();
      });
    });
  }

  /** Gunzips when the stream starts with the gzip magic; tracks tar positions. */
  private async *decode(src: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): AsyncGenerator<Buffer> {
    const it = Symbol.asyncIterator in src ? src[Symbol.asyncIterator]() : src[Symbol.iterator]();
    const head: Buffer[] = [];
    let headBytes = 0;
    while (headBytes < GZIP.length) {
      const r = await it.next();
      if (r.done) break;
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      head.push(b);
      headBytes += b.length;
    }
    const first = Buffer.concat(head);
    async function* raw(): AsyncGenerator<Buffer> {
      if (first.length) yield first;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      }
    }
    let body: AsyncIterable<Buffer> = raw();
    if (first[0] === GZIP[0] && first[1] === GZIP[1]) {
      const gz = createGunzip({ chunkSize: GUNZIP_CHUNK });
      pipeline(Readable.from(body, { objectMode: false }), gz).catch(() => {});
      body = gz;
    }
    try {
      for await (const chunk of body) {
        this.track(chunk);
        yield chunk;
      }
    } finally {
      // Close a source iterator we stopped early (a Node stream is also destroyed by pipeline).
      void Promise.resolve(it.return?.()).catch(() => {});
    }
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

  /** Parses one chunk of the tar stream and does all it says, synchronously. */
  private feed(chunk: Buffer): void {
    const base = this.fed - chunk.length;
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      const f = this.file;
      if (f) {
        const take = Math.min(f.left, n - off);
        this.fileData(f, chunk.subarray(off, off + take));
        off += take;
        if (f.left === 0) this.endFile(f);
      } else if (this.skip > 0) {
        const take = Math.min(this.skip, n - off);
        this.skip -= take;
        off += take;
      } else if (this.long) {
        const l = this.long;
        const take = Math.min(l.buf.length - l.fill, n - off);
        chunk.copy(l.buf, l.fill, off, off + take);
        l.fill += take;
        off += take;
        if (l.fill === l.buf.length) this.endLong(l);
      } else if (this.headerFill === 0 && n - off >= BLOCK) {
        off += BLOCK;
        this.onHeader(chunk.subarray(off - BLOCK, off), base + off);
      } else {
        const take = Math.min(BLOCK - this.headerFill, n - off);
        chunk.copy(this.header, this.headerFill, off, off + take);
        this.headerFill += take;
        off += take;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader(this.header, base + off);
        }
      }
    }
  }

  /** A header block; `dataStart` is the tar offset just after it. */
  private onHeader(block: Buffer, dataStart: number): void {
    let h: TarHeader | null;
    try {
      h = decodeHeader(block);
    } catch (err) {
      throw new ExtractError(`the data is not a valid tar archive: ${(err as Error).message}`, 'corrupt', undefined, { cause: err });
    }
    if (h === null) return;
    switch (h.type) {
      case 'pax-header':
      case 'pax-global-header':
      case 'gnu-long-path':
      case 'gnu-long-link-path':
        if (!Number.isSafeInteger(h.size) || h.size < 0 || h.size > MAX_LONG_HEADER) {
          throw new ExtractError(`the data is not a valid tar archive: a ${h.type} record of ${h.size} bytes`, 'corrupt');
        }
        this.long = { type: h.type, buf: Buffer.alloc(h.size), fill: 0 };
        if (h.size === 0) this.endLong(this.long);
        return;
    }
    this.entry(h, dataStart);
  }

  private endLong(l: LongRecord): void {
    this.long = undefined;
    this.skip = padding(l.buf.length);
    try {
      if (l.type === 'gnu-long-path') this.longName = decodeLongName(l.buf);
      else if (l.type === 'gnu-long-link-path') this.longLink = decodeLongName(l.buf);
      else if (l.type === 'pax-global-header') this.paxGlobal = decodePax(l.buf, { other: new Map(this.paxGlobal?.other ?? []), path: this.paxGlobal?.path, linkpath: this.paxGlobal?.linkpath });
      else this.pax = decodePax(l.buf);
    } catch (err) {
      throw new ExtractError(`the data is not a valid tar archive: ${(err as Error).message}`, 'corrupt', undefined, { cause: err });
    }
  }

  /** A real entry: applies pending long names and pax records, checks it, creates it. */
  private entry(h: TarHeader, dataStart: number): void {
    const pax = this.pax;
    const global = this.paxGlobal;
    this.pax = undefined;
    let rawName = this.longName ?? h.name;
    let link = this.longLink ?? h.linkname;
    this.longName = this.longLink = undefined;
    const path = pax?.path ?? global?.path;
    if (path?.length) rawName = path;
    const linkpath = pax?.linkpath ?? global?.linkpath;
    if (linkpath?.length) link = linkpath;
    const paxValue = (key: string) => pax?.other.get(key) ?? global?.other.get(key);
    try {
      if (++this.count > this.maxEntries) throw new TarRuleError(`is entry number ${this.count}, over the limit of ${this.maxEntries} entries`, 'limit');
      const kind = entryKind(h.type);
      const paxSize = paxValue('size');
      if (paxSize !== undefined && !/^[0-9]{1,16}$/.test(paxSize)) throw new TarRuleError(`has an invalid pax size (${JSON.stringify(paxSize)})`, 'corrupt');
      const size = checkSize(paxSize !== undefined ? Number(paxSize) : h.size, kind);
      checkMode(checkModeField(h.mode));
      const rel = normalizePath(rawName, kind === 'dir');
      this.lastEntryEnd = dataStart + size + padding(size);
      if (kind === 'file') this.openFile(rel, rawName, size, entryMtime(paxValue('mtime'), h.mtime), isExecutable(h.mode));
      else if (kind === 'dir') this.dir(rel, entryMtime(paxValue('mtime'), h.mtime));
      else this.symlink(rel, link);
    } catch (err) {
      throw this.entryError(err, rawName);
    }
  }

  private entryError(err: unknown, rawName: Buffer): unknown {
    if (err instanceof TarRuleError) return new ExtractError(`entry ${showName(rawName)} ${err.message}`, err.code, rawName.toString());
    if (err instanceof ExtractError) return err;
    if ((err as NodeJS.ErrnoException)?.code) {
      return new ExtractError(`cannot create entry ${showName(rawName)}: ${errnoMessage(err)}`, 'io', rawName.toString(), { cause: err });
    }
    return err;
  }

  private abs(rel: Buffer): Buffer {
    return Buffer.concat([this.dest, Buffer.from('/'), rel]);
  }

  /** Creates missing parent directories; refuses to go through a symlink or a file. */
  private parents(rel: Buffer): void {
    let i = rel.indexOf(0x2f);
    while (i >= 0) {
      const prefix = rel.subarray(0, i);
      const node = this.nodes.get(prefix.toString('latin1'));
      if (node === 'symlink') throw new TarRuleError(`would be created through the symlink ${showName(prefix)}`, 'unsafe');
      if (node === 'file') throw new TarRuleError(`is inside ${showName(prefix)}, which is a file`, 'unsafe');
      if (node === undefined) {
        mkdirSync(this.abs(prefix), 0o755);
        this.nodes.set(prefix.toString('latin1'), 'implicit');
        this.dirs.set(prefix.toString('latin1'), { rel: Buffer.from(prefix) });
      }
      i = rel.indexOf(0x2f, i + 1);
    }
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

  private symlink(rel: Buffer, target: Buffer): void {
    if (rel.length === 0) throw new TarRuleError('is a symlink in place of the root directory', 'unsafe');
    checkLinkTarget(target);
    this.claim(rel, 'symlink');
    symlinkSync(target, this.abs(rel));
    this.files.push({ path: rel, kind: 'symlink', size: target.length, hash: createHash(this.hash).update(target).digest('hex') });
  }

  private openFile(rel: Buffer, raw: Buffer, size: number, mtime: bigint, exec: boolean): void {
    if (rel.length === 0) throw new TarRuleError('is a file in place of the root directory', 'unsafe');
    if (size > this.maxBytes - this.bytes) {
      throw new TarRuleError(`is ${size} bytes, more than the ${this.maxBytes - this.bytes} bytes left of the ${this.maxBytes}-byte limit`, 'limit');
    }
    this.claim(rel, 'file');
    const mode = storeFileMode(exec);
    const fd = openSync(this.abs(rel), FILE_FLAGS, mode);
    const f: OpenFile = { fd, rel, raw, size, left: size, hash: createHash(this.hash), batch: [], batchBytes: 0, mtime, exec, mode, pos: 0 };
    this.file = f;
    if (size === 0) this.endFile(f);
  }

  private fileData(f: OpenFile, piece: Buffer): void {
    f.left -= piece.length;
    this.bytes += piece.length;
    f.hash.update(piece);
    if (f.size > ASYNC_FILE) {
      f.batch.push(piece);
      f.batchBytes += piece.length;
      if (f.left === 0 || f.batchBytes >= WRITE_BATCH || f.batch.length >= MAX_IOV) {
        this.writeLater(f, f.batch, f.batchBytes);
        f.batch = [];
        f.batchBytes = 0;
      }
      return;
    }
    try {
      // A whole small file (or a file's last piece with nothing batched): one write.
      if (f.batchBytes === 0 && (f.left === 0 || piece.length >= WRITE_BATCH)) {
        writeAll(f.fd, [piece], piece.length);
        return;
      }
      f.batch.push(piece);
      f.batchBytes += piece.length;
      if (f.left === 0 || f.batchBytes >= WRITE_BATCH || f.batch.length >= MAX_IOV) {
        writeAll(f.fd, f.batch, f.batchBytes);
        f.batch = [];
        f.batchBytes = 0;
      }
    } catch (err) {
      throw this.entryError(err, f.raw);
    }
  }

  /** The file's data is complete: mtime, check what the file system stored, close (after its writes). */
  private endFile(f: OpenFile): void {
    this.file = undefined;
    this.skip = padding(f.size);
    this.files.push({ path: f.rel, kind: 'file', exec: f.exec, mtime: f.mtime, size: f.size, hash: f.hash.digest('hex') });
    if (f.writes) {
      const done = f.writes.then(
        () => {
          try {
            this.finishFile(f);
          } catch (err) {
            this.failLater(err);
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

  /** The input ended: it must not end inside an entry. */
  private endOfInput(): void {
    if (this.file) {
      const rel = this.file.rel;
      throw new ExtractError(`the archive ends in the middle of entry ${showName(rel)} (truncated transfer)`, 'truncated', rel.toString());
    }
    if (this.skip > 0 || this.long || this.headerFill > 0) {
      throw new ExtractError('the archive ends in the middle of an entry (truncated transfer)', 'truncated');
    }
  }

  private checkEnd(): void {
    if (this.zeroRunStart > this.lastEntryEnd) {
      throw new ExtractError('the archive has data after its last entry that is not a tar entry', 'corrupt');
    }
    if (this.fed - this.lastEntryEnd < 1024) {
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
        throw new ExtractError(`cannot set the mode and time of directory ${showName(d.rel)}: ${errnoMessage(err)}`, 'io', d.rel.toString(), { cause: err });
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
