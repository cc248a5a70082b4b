// The safe extractor: unpacks a tar (or gzipped tar) stream from an untrusted peer into a fresh
// directory the caller owns, hashing every file in the same pass, and returns the manifest of
// what it wrote. This file is the driver: it reads the source (gunzipping it when it starts with
// the gzip magic), feeds the tar parser (src/core/tar-parse.ts, synchronous, no stream per entry)
// whose entries and data go to the tree writer (src/io/extract-tree.ts: the rules, the files,
// the manifest), and turns every failure into one ExtractError. Input waits while the tree has
// too many writes in flight (the network is read only as fast as the disk takes it); every
// descriptor is closed, after its writes settle, before extraction settles.
//
// End of the archive: the stream must end with the two zero blocks of the tar format after the
// last entry (otherwise it was truncated). Zero padding after them is ignored (up to 16 MiB);
// any other data after the last entry is an error. As with `tar -i` (and tar-stream), zero blocks
// between entries do not end the archive (the digest check decides whether the tree is right).
import { lstatSync } from 'node:fs';
import { finished, Readable } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import type { Algorithm } from '../core/digest.js';
import { quoteNetworkText } from '../core/quote.js';
import { TarParseError, TarParser, type TarEntryHeader } from '../core/tar-parse.js';
import { ExtractError, type ExtractResult } from './extract-error.js';
import { ExtractTree } from './extract-tree.js';
import { BLOCK, padding } from './tar-header.js';

export { ExtractError, type ExtractErrorCode, type ExtractResult } from './extract-error.js';

export const DEFAULT_MAX_BYTES = 8 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Zero padding tolerated after the last entry (tar pads to its record size; gzip adds none). */
const MAX_TRAILING_ZEROS = 16 * 1024 * 1024;
const GUNZIP_CHUNK = 64 * 1024;

/**
 * A source that pushes its bytes (an HTTP exchange's body, src/io/http-exchange.ts): each piece
 * is valid only during the call (the extractor copies what it keeps), a returned promise holds
 * the input until it settles; `body` settles at the end of the input; `close` stops it.
 */
export interface PushSource {
  body(onData: (piece: Buffer) => void | Promise<void>): Promise<void>;
  close(): void;
}

/** A Node stream, a push source, or chunks from any (async) iterable; sources are destroyed (closed) on failure. */
export type TarSource = NodeJS.ReadableStream | PushSource | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

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

const GZIP = [0x1f, 0x8b];

function isPushSource(source: TarSource): source is PushSource {
  const s = source as Partial<PushSource>;
  return typeof s.body === 'function' && typeof s.close === 'function';
}

function isNodeReadable(source: TarSource): source is Readable {
  const s = source as Partial<Readable>;
  return typeof s.on === 'function' && typeof s.pause === 'function' && typeof s.resume === 'function' && typeof s.destroy === 'function';
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

class Extraction {
  private readonly tree: ExtractTree;
  private readonly parser: TarParser;
  /** Tar-level positions: bytes fed, end of the last entry's data, end of the last non-zero byte. */
  private fed = 0;
  private lastEntryEnd = 0;
  private zeroRunStart = 0;
  private error: ExtractError | undefined;
  private stall: NodeJS.Timeout | undefined;
  /** The source (a stream, or a push source), and what feeds the parser: the source, or the gunzip stream after it. */
  private source: Readable | PushSource | undefined;
  private gunzip: Gunzip | undefined;
  private producer: Readable | undefined;
  /** Input waits for the tree's writes in flight. */
  private held = false;
  /** Input waits for gunzip to drain. */
  private gunzipFull = false;
  /** A push source's wait, resolved when neither of the above holds any longer. */
  private wake: (() => void) | undefined;
  /** Input so far while the gzip check needs more bytes (a copy), and whether the check is done. */
  private head: Buffer | undefined;
  private decided = false;
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
    let isDir = false;
    try {
      isDir = lstatSync(destDir).isDirectory();
    } catch {
      /* reported below */
    }
    if (!isDir) throw new ExtractError(`extraction directory '${destDir}' is not an existing directory`, 'io');
    const limits = { alg: opts.alg, maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES, maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES };
    this.tree = new ExtractTree(Buffer.from(destDir), limits, {
      pause: () => {
        this.held = true;
        this.producer?.pause();
      },
      resume: () => {
        if (!this.held || this.error) return;
        this.held = false;
        this.producer?.resume();
        this.wakeUp();
      },
      fail: this.onError,
    });
    const tree = this.tree;
    const onProgress = opts.onProgress;
    this.parser = new TarParser({
      entry: (h: TarEntryHeader) => {
        this.lastEntryEnd = h.dataOffset + h.size + padding(h.size);
        tree.entry(h);
      },
      data: (piece: Buffer) => {
        tree.data(piece);
        onProgress?.(tree.bytes);
      },
      entryEnd: () => tree.entryEnd(),
    });
  }

  run(input: TarSource): Promise<ExtractResult> {
    const { signal, stallMs } = this.opts;
    if (signal?.aborted) return Promise.reject(new ExtractError('extraction aborted', 'aborted', undefined, { cause: signal.reason }));
    const done = new Promise<ExtractResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (stallMs !== undefined) {
      this.stall = setTimeout(() => this.fail(new ExtractError(`no data arrived for ${stallMs / 1000} s (stalled transfer)`, 'stalled')), stallMs);
    }
    if (isPushSource(input)) this.pump(input);
    else {
      // An iterable becomes a Node stream, so one path handles backpressure and destruction.
      this.flow(isNodeReadable(input) ? input : Readable.from(input as AsyncIterable<Uint8Array>, { objectMode: false }));
    }
    return done;
  }

  /** Reads a Node stream through its 'data' events; its end (or error, or premature close) ends the input. */
  private flow(source: Readable): void {
    this.source = source;
    this.producer = source;
    source.on('data', (data: Buffer | string) => {
      if (this.accept(Buffer.isBuffer(data) ? data : Buffer.from(data), false)) source.pause();
    });
    finished(source, { writable: false }, (err) => {
      if (err) this.fail(err);
      else this.inputEnded();
    });
  }

  /** Takes a push source's pieces (views it may reuse), holding it while the input must wait. */
  private pump(source: PushSource): void {
    this.source = source;
    source
      .body((piece) => {
        if (!this.accept(piece, true)) return;
        return new Promise<void>((resolve) => (this.wake = resolve));
      })
      .then(
        () => this.inputEnded(),
        (err: unknown) => this.fail(err),
      );
  }

  /**
   * One piece of input: the gzip check on the first bytes, then gunzip or the parser. `reused`:
   * the piece's buffer is reused after the call (a copy goes where it is kept). Returns true
   * when the input should wait (gunzip full, or the tree's writes behind).
   */
  private accept(chunk: Buffer, reused: boolean): boolean {
    if (this.error) return false;
    if (!this.decided) {
      this.head = this.head ? Buffer.concat([this.head, chunk]) : reused ? Buffer.from(chunk) : chunk;
      if (this.head.length < GZIP.length) return false;
      chunk = this.head;
      this.head = undefined;
      this.decide(chunk);
      reused = false;
    }
    if (this.gunzip) {
      if (!this.gunzip.write(reused ? Buffer.from(chunk) : chunk)) this.gunzipFull = true;
    } else this.toParser(chunk);
    return this.mustWait();
  }

  private mustWait(): boolean {
    return !this.error && (this.gunzip ? this.gunzipFull : this.held);
  }

  /** The input may go on: a stream source resumes (see flow), a push source's wait resolves. */
  private wakeUp(): void {
    if (this.mustWait() || !this.wake) return;
    const wake = this.wake;
    this.wake = undefined;
    wake();
  }

  /** The first bytes decide: plain tar goes to the parser, gzip (the 2008 peer's answer) through gunzip first. */
  private decide(first: Buffer): void {
    this.decided = true;
    if (first[0] !== GZIP[0] || first[1] !== GZIP[1]) return;
    const z = createGunzip({ chunkSize: GUNZIP_CHUNK });
    this.gunzip = z;
    const source = this.producer;
    this.producer = z;
    z.on('data', (c: Buffer) => this.toParser(c));
    z.on('error', this.onError);
    z.on('end', () => this.endInput());
    z.on('drain', () => {
      this.gunzipFull = false;
      if (this.error) return;
      source?.resume();
      this.wakeUp();
    });
  }

  /** The source is at its end: whatever waited for the gzip check goes on, then the end of the tar (after gunzip's). */
  private inputEnded(): void {
    if (this.error) return;
    if (!this.decided && this.head) {
      const h = this.head;
      this.head = undefined;
      this.decide(h);
      if (this.gunzip) this.gunzip.write(h);
      else this.toParser(h);
    }
    if (this.error) return;
    if (this.gunzip) this.gunzip.end();
    else this.endInput();
  }

  /** Tar bytes for the parser; tracks positions and the trailing zeros. */
  private toParser(chunk: Buffer): void {
    if (this.error) return;
    try {
      this.track(chunk);
      this.parser.write(chunk);
    } catch (err) {
      this.fail(err);
    }
  }

  /** All input is in: the archive must not end inside an entry; then settle once the writes have. */
  private endInput(): void {
    if (this.error) return;
    try {
      this.parser.end();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.settle();
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
   * the open file, destroys the gunzip stream and the source, and settles once the writes in
   * flight have.
   */
  private fail(err: unknown): void {
    if (this.settled || this.error) return;
    this.error = this.wrap(err);
    this.tree.abandon();
    this.gunzip?.destroy();
    if (this.source && isPushSource(this.source)) this.source.close();
    else this.source?.destroy();
    this.settle();
  }

  /** Resolves (or rejects) after every write in flight has settled and its descriptor is closed. */
  private settle(): void {
    if (this.settling) return;
    this.settling = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.stall);
    void (async () => {
      await this.tree.settled();
      let result: ExtractResult | undefined;
      if (!this.error) {
        try {
          this.checkEnd();
          result = this.tree.finish();
        } catch (err) {
          this.error = this.wrap(err);
        }
      }
      this.settled = true;
      if (this.error) this.reject(this.error);
      else this.resolve(result!);
    })();
  }

  private wrap(err: unknown): ExtractError {
    if (err instanceof ExtractError) return err;
    if (err instanceof TarParseError) {
      if (err.code === 'corrupt') return new ExtractError(`the data is not a valid tar archive: ${err.message}`, 'corrupt', undefined, { cause: err });
      const f = this.tree.receiving;
      if (f && f.left > 0) {
        return new ExtractError(`the archive ends in the middle of entry ${quoteNetworkText(f.rel)} (truncated transfer)`, 'truncated', f.rel.toString(), { cause: err });
      }
      return new ExtractError(`${err.message} (truncated transfer)`, 'truncated', undefined, { cause: err });
    }
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

  private checkEnd(): void {
    if (this.zeroRunStart > this.lastEntryEnd) {
      throw new ExtractError('the archive has data after its last entry that is not a tar entry', 'corrupt');
    }
    if (this.fed - this.lastEntryEnd < 2 * BLOCK) {
      throw new ExtractError('the archive ends without its end-of-archive blocks (truncated transfer)', 'truncated');
    }
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
