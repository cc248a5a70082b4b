// The safe extractor: unpacks a tar (or gzipped tar) stream from an untrusted peer into a fresh
// directory the caller owns, hashing every file in the same pass, and returns the manifest of
// what it wrote. It accepts only files, directories and symlinks (src/core/tar-rules.ts), never
// creates anything through a symlink (every path is checked against what this extraction created,
// and files are opened O_CREAT|O_EXCL|O_NOFOLLOW, directories made one by one with mkdir), and caps
// the bytes written, the entry count and the padding after the archive.
//
// File system calls are synchronous: each small file is created, written, timestamped and closed
// within one turn of the event loop (no thread-pool round trips, and no descriptor can outlive
// an abort), and large files are written in batches of up to 1 MiB as data arrives, so memory
// stays bounded and the network is read only as fast as the disk takes it.
//
// End of the archive: the stream must end with the two zero blocks of the tar format after the
// last entry (otherwise it was truncated). Zero padding after them is ignored (up to 16 MiB);
// any other data after the last entry is an error. As with `tar -i`, zero blocks between entries
// do not end the archive (the digest check decides whether the result is the right tree).
import { createHash } from 'node:crypto';
import {
  closeSync,
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
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { type Algorithm, hashName } from '../core/digest.js';
import { type ManifestEntry, renderManifest } from '../core/manifest-format.js';
import {
  TarRuleError,
  checkLinkTarget,
  checkMode,
  checkSize,
  entryKind,
  entryMtime,
  isExecutable,
  normalizePath,
  showName,
} from '../core/tar-rules.js';

export const DEFAULT_MAX_BYTES = 8 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Zero padding tolerated after the last entry (tar pads to its record size; gzip adds none). */
const MAX_TRAILING_ZEROS = 16 * 1024 * 1024;
/** Input chunks are cut to this size so backpressure works for huge chunks too. */
const MAX_CHUNK = 64 * 1024;
const WRITE_BATCH = 1024 * 1024;
const MAX_IOV = 1024;
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
  /** Called with the file content bytes received so far. */
  onProgress?: (bytes: number) => void;
}

export interface ExtractResult {
  entries: ManifestEntry[];
  manifest: Buffer;
  /** File content bytes written. */
  bytes: number;
}

type Node = 'dir' | 'implicit' | 'file' | 'symlink';

interface TarHeader {
  name: string;
  type: string | null;
  size: number;
  mode: number;
  mtime: Date;
  linkname: string | null;
  pax?: Record<string, string> | null;
  byteOffset?: number;
}

type EntryStream = AsyncIterable<Buffer> & { resume(): unknown };

interface DirRecord {
  rel: Buffer;
  mtime?: bigint;
}

const GZIP = [0x1f, 0x8b];

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

function writeAll(fd: number, bufs: Buffer[], total: number): void {
  const n = writevSync(fd, bufs);
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

    // latin1 keeps ustar and GNU long names as raw bytes (pax records are UTF-8 by definition).
    const ex = tar.extract({ filenameEncoding: 'latin1' } as Parameters<typeof tar.extract>[0]);
    let active: Promise<void> = Promise.resolve();
    ex.on('entry', (header, stream, next) => {
      // Errors reach the handler through iteration; without a listener an entry destroyed
      // before it is read (a refused entry, an abort) would throw from inside tar-stream.
      stream.on('error', () => {});
      active = this.entry(header as unknown as TarHeader, stream as unknown as EntryStream).then(
        () => next(),
        (err: unknown) => {
          this.fail(err, inner);
          next(this.error);
        },
      );
    });

    try {
      await Promise.race([
        pipeline(source as AsyncIterable<Uint8Array>, (src: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>) => this.decode(src), ex as never, {
          signal: inner.signal,
        }),
        failed,
      ]);
    } catch (err) {
      this.fail(err, inner);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(this.stall);
      if (this.error) {
        ex.destroy();
        const s = source as Partial<Readable>;
        if (typeof s.destroy === 'function') s.destroy();
      }
      await active;
    }
    if (this.error) throw this.error;
    this.checkEnd();
    return this.finish();
  }

  /** Records the first failure (later ones are consequences) and stops the pipeline. */
  private fail(err: unknown, inner: AbortController): void {
    this.error ??= this.wrap(err);
    inner.abort(this.error);
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
    if (/Unexpected end of data/.test(msg)) {
      return new ExtractError('the archive ends in the middle of an entry (truncated transfer)', 'truncated', undefined, { cause: err });
    }
    if (/Invalid tar header|Header exceeds max size|Invalid header/.test(msg)) {
      return new ExtractError(`the data is not a valid tar archive: ${msg}`, 'corrupt', undefined, { cause: err });
    }
    return new ExtractError(`extraction failed: ${msg}`, 'io', undefined, { cause: err });
  }

  /** Gunzips when the stream starts with the gzip magic; tracks tar positions; cuts big chunks. */
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
      const gz = createGunzip({ chunkSize: MAX_CHUNK });
      pipeline(Readable.from(body, { objectMode: false }), gz).catch(() => {});
      body = gz;
    }
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length; off += MAX_CHUNK) {
          const piece = off === 0 && chunk.length <= MAX_CHUNK ? chunk : chunk.subarray(off, off + MAX_CHUNK);
          this.track(piece);
          yield piece;
        }
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

  private checkEnd(): void {
    if (this.zeroRunStart > this.lastEntryEnd) {
      throw new ExtractError('the archive has data after its last entry that is not a tar entry', 'corrupt');
    }
    if (this.fed - this.lastEntryEnd < 1024) {
      throw new ExtractError('the archive ends without its end-of-archive blocks (truncated transfer)', 'truncated');
    }
  }

  private async entry(h: TarHeader, stream: EntryStream): Promise<void> {
    const paxPath = h.pax?.path;
    const rawName = Buffer.from(h.name, paxPath && paxPath === h.name ? 'utf8' : 'latin1');
    try {
      if (++this.count > this.maxEntries) throw new TarRuleError(`is entry number ${this.count}, over the limit of ${this.maxEntries} entries`, 'limit');
      const kind = entryKind(h.type);
      const size = checkSize(h.size, kind);
      checkMode(h.mode);
      const rel = normalizePath(rawName, kind === 'dir');
      if (h.byteOffset !== undefined) this.lastEntryEnd = h.byteOffset + Math.ceil(size / 512) * 512;
      if (kind === 'file') {
        await this.file(rel, size, h, stream);
        return;
      }
      stream.resume();
      if (kind === 'dir') this.dir(rel, entryMtime(h.pax?.mtime, h.mtime));
      else this.symlink(rel, h);
    } catch (err) {
      if (err instanceof TarRuleError) throw new ExtractError(`entry ${showName(rawName)} ${err.message}`, err.code, rawName.toString());
      if (err instanceof ExtractError) throw err;
      if ((err as NodeJS.ErrnoException)?.code) {
        throw new ExtractError(`cannot create entry ${showName(rawName)}: ${errnoMessage(err)}`, 'io', rawName.toString(), { cause: err });
      }
      throw err;
    }
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

  private symlink(rel: Buffer, h: TarHeader): void {
    if (rel.length === 0) throw new TarRuleError('is a symlink in place of the root directory', 'unsafe');
    const paxLink = h.pax?.linkpath;
    const linkname = h.linkname ?? '';
    const target = Buffer.from(linkname, paxLink && paxLink === linkname ? 'utf8' : 'latin1');
    checkLinkTarget(target);
    this.claim(rel, 'symlink');
    symlinkSync(target, this.abs(rel));
    this.files.push({ path: rel, kind: 'symlink', size: target.length, hash: createHash(this.hash).update(target).digest('hex') });
  }

  private async file(rel: Buffer, size: number, h: TarHeader, stream: AsyncIterable<Buffer>): Promise<void> {
    if (rel.length === 0) throw new TarRuleError('is a file in place of the root directory', 'unsafe');
    if (size > this.maxBytes - this.bytes) {
      throw new TarRuleError(`is ${size} bytes, more than the ${this.maxBytes - this.bytes} bytes left of the ${this.maxBytes}-byte limit`, 'limit');
    }
    const mtime = entryMtime(h.pax?.mtime, h.mtime);
    const exec = isExecutable(h.mode);
    const mode = exec ? 0o755 : 0o644;
    this.claim(rel, 'file');
    const hash = createHash(this.hash);
    const fd = openSync(this.abs(rel), FILE_FLAGS, mode);
    try {
      fchmodSync(fd, mode);
      let batch: Buffer[] = [];
      let batchBytes = 0;
      let got = 0;
      for await (const chunk of stream) {
        got += chunk.length;
        hash.update(chunk);
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH || batch.length >= MAX_IOV) {
          writeAll(fd, batch, batchBytes);
          batch = [];
          batchBytes = 0;
        }
        this.bytes += chunk.length;
        this.opts.onProgress?.(this.bytes);
      }
      if (batchBytes) writeAll(fd, batch, batchBytes);
      if (got !== size) throw new ExtractError(`the archive ends in the middle of entry ${showName(rel)} (truncated transfer)`, 'truncated', rel.toString());
      const t = Number(mtime);
      futimesSync(fd, t, t);
      if (fstatSync(fd, { bigint: true }).mtimeNs / 1_000_000_000n !== mtime) {
        throw new TarRuleError(`has an mtime (${mtime}) this file system cannot store`, 'limit');
      }
    } finally {
      closeSync(fd);
    }
    this.files.push({ path: rel, kind: 'file', exec, mtime, size, hash: hash.digest('hex') });
  }

  /** Directory mtimes last (creating children changes them), then the manifest. */
  private finish(): ExtractResult {
    const dirEntries: ManifestEntry[] = [];
    for (const d of this.dirs.values()) {
      const p = this.abs(d.rel);
      try {
        if (d.mtime !== undefined) utimesSync(p, Number(d.mtime), Number(d.mtime));
        const st = lstatSync(p, { bigint: true });
        dirEntries.push({ path: d.rel, kind: 'dir', mtime: st.mtimeNs / 1_000_000_000n });
      } catch (err) {
        throw new ExtractError(`cannot set the time of directory ${showName(d.rel)}: ${errnoMessage(err)}`, 'io', d.rel.toString(), { cause: err });
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
 * removes on failure). Resolves with the manifest entries of what was written; rejects with an
 * ExtractError naming the bad entry. All file descriptors are closed before it settles.
 */
export async function extractTar(
  source: TarSource,
  destDir: string,
  opts: ExtractOptions,
): Promise<ExtractResult> {
  return new Extraction(destDir, opts).run(source);
}
