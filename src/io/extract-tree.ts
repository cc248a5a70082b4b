// The file-system side of the safe extractor (src/io/tar-extract.ts): turns each parsed tar entry
// into a directory, symlink or file under the extraction directory, hashing file data as it
// arrives, and renders the manifest of what it wrote. It accepts only files, directories and
// symlinks (src/core/tar-rules.ts), never creates anything through a symlink (every path is
// checked against what this extraction created, files are opened O_CREAT|O_EXCL|O_NOFOLLOW,
// directories made one by one with mkdir), and caps the bytes written and the entry count.
//
// The tree comes out in store form, as 0install's fixup_permissions leaves it: files are created
// with their final mode (0444, or 0555 if executable; an open O_CREAT descriptor is writable
// whatever the mode) and mtime (futimes before close), and directories become 0555 with their
// mtimes in the end pass; symlinks get their mtimes with lutimes. So a commit of this tree needs
// no permission walk (commitStaged's `permissionsFixed`).
//
// Data is handled synchronously as it arrives, with no promise per piece: hashing and, for small
// files, the writes. A large file's data (over 256 KiB) is written in 1 MiB batches on the thread
// pool (positional writes, one at a time per file), so the disk copy overlaps hashing and
// receiving; its mtime, check and close follow its last write. At most 8 MiB are in flight (then
// `pause` asks for input to wait), and every descriptor is closed, after its writes settle, before
// `settled()` resolves. That the file system kept each entry's mode (the umask) and mtime is
// checked as src/io/stored-as-asked.ts says: for the first of each kind and unusual mtimes.
import { createHash, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  futimesSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  utimesSync,
  write,
  writeSync,
} from 'node:fs';
import { type Algorithm, hashName } from '../core/digest.js';
import { type ManifestEntry, contentHash, renderManifest } from '../core/manifest-format.js';
import { PathArena } from '../core/path-arena.js';
import { quoteNetworkText } from '../core/quote.js';
import type { TarEntryHeader } from '../core/tar-parse.js';
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
import { ExtractError, type ExtractResult } from './extract-error.js';
import { StoredAsAsked } from './stored-as-asked.js';

const WRITE_BATCH = 1024 * 1024;
/** Files larger than this are written on the thread pool. */
const ASYNC_FILE = 256 * 1024;
/** Bytes of asynchronous writes in flight before input waits. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;
const FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const EMPTY = Buffer.alloc(0);
const SLASH = Buffer.from('/');

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
  /** The batch being filled (a pooled buffer) and the bytes in it. */
  batch?: Buffer;
  batchBytes: number;
  mtime: bigint;
  exec: boolean;
  mode: number;
  /** Large files: the file offset of the next batch, and the chain of its writes in flight. */
  pos: number;
  writes?: Promise<void>;
}

/** What the tree asks of the one feeding it. */
export interface TreeHooks {
  /** Too many writes in flight: stop the input. */
  pause(): void;
  /** Writes in flight fell: input may flow again. */
  resume(): void;
  /** A write on the thread pool failed (the error names the entry). */
  fail(err: unknown): void;
}

export interface TreeLimits {
  alg: Algorithm;
  maxBytes: number;
  maxEntries: number;
}

export function errnoMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return 'no space left on device (ENOSPC)';
  if (e.code === 'EDQUOT') return 'disk quota exceeded (EDQUOT)';
  return e.message;
}

/** pwrite on the thread pool, until all of `buf` is written at `pos`. */
function writeAllAt(fd: number, buf: Buffer, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    write(fd, buf, 0, buf.length, pos, (err, n) => {
      if (err) return reject(err);
      if (n === buf.length) return resolve();
      writeAllAt(fd, buf.subarray(n), pos + n).then(resolve, reject);
    });
  });
}

function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
}

/** The write batches: 1 MiB buffers, reused (about MAX_IN_FLIGHT of them are out at most). */
class BatchPool {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(WRITE_BATCH);
  }

  give(b: Buffer): void {
    if (this.free.length < 12) this.free.push(b);
  }
}

export class ExtractTree {
  private readonly hash: 'sha1' | 'sha256';
  private readonly nodes = new Map<string, Node>();
  private readonly dirs = new Map<string, DirRecord>();
  private readonly files: ManifestEntry[] = [];
  private readonly paths = new PathArena();
  private readonly batches = new BatchPool();
  /** The parent directory of the last entry created (see parents()). */
  private lastParent: Buffer | undefined;
  private seenRoot = false;
  private count = 0;
  /** File content bytes written. */
  bytes = 0;
  /** The file whose data is being received. */
  private file: OpenFile | undefined;
  /** Whether the file system kept the modes and mtimes asked for. */
  private readonly stored = new StoredAsAsked();
  /** Asynchronous work (large files' writes, then their close) and the bytes it holds. */
  private readonly pending = new Set<Promise<void>>();
  private inFlight = 0;

  constructor(
    private readonly dest: Buffer,
    private readonly limits: TreeLimits,
    private readonly hooks: TreeHooks,
  ) {
    this.hash = hashName(limits.alg);
  }

  /** The file being received and how many of its bytes are still to come, for a truncation message. */
  get receiving(): { rel: Buffer; left: number } | undefined {
    return this.file;
  }

  /** A real entry (pax records and GNU long names applied): check it, create it. Throws an ExtractError naming it. */
  entry(h: TarEntryHeader): void {
    const raw = h.name;
    try {
      if (++this.count > this.limits.maxEntries) throw new TarRuleError(`is entry number ${this.count}, over the limit of ${this.limits.maxEntries} entries`, 'limit');
      // A type-0 entry whose name ends in '/' is an old-style directory (tar-stream, whose
      // types the parser keeps, computes the type before it checks).
      const kind = entryKind(h.type === 'file' && raw[raw.length - 1] === 0x2f ? 'directory' : (h.type ?? 'unknown'));
      const pax = h.pax;
      const paxSize = pax?.size;
      if (paxSize !== undefined && !/^[0-9]{1,16}$/.test(paxSize)) throw new TarRuleError(`has an invalid pax size (${quoteNetworkText(paxSize)})`, 'corrupt');
      const size = checkSize(h.size, kind);
      checkMode(checkModeField(h.mode));
      const rel = this.paths.keep(normalizePath(raw, kind === 'dir'));
      const mtime = entryMtime(pax?.mtime, h.mtime);
      if (kind === 'file') this.openFile(rel, raw, size, mtime, isExecutable(h.mode));
      else if (kind === 'dir') this.dir(rel, mtime);
      else this.symlink(rel, h.linkname ?? EMPTY, mtime);
    } catch (err) {
      throw this.entryError(err, raw);
    }
  }

  /**
   * A piece of the current file's data: hash it; a small file that came in one piece is written
   * at once, other data is copied into a batch (so the input's buffer may be reused as soon as
   * this returns) and written when the batch is full or the file complete: small files here,
   * large ones on the thread pool.
   */
  data(piece: Buffer): void {
    const f = this.file;
    if (!f) return;
    f.left -= piece.length;
    this.bytes += piece.length;
    if (piece.length === f.size) f.digest = contentHash(piece, this.limits.alg);
    else (f.hash ??= createHash(this.hash)).update(piece);
    const large = f.size > ASYNC_FILE;
    try {
      if (!large && piece.length === f.size) {
        writeAll(f.fd, piece);
        return;
      }
      for (let off = 0; off < piece.length; ) {
        const batch = (f.batch ??= this.batches.take());
        const n = piece.copy(batch, f.batchBytes, off);
        off += n;
        f.batchBytes += n;
        if (f.batchBytes < batch.length && (off < piece.length || f.left > 0)) continue;
        f.batch = undefined;
        const bytes = f.batchBytes;
        f.batchBytes = 0;
        if (large) {
          this.writeLater(f, batch, bytes);
          if (this.inFlight > MAX_IN_FLIGHT) this.hooks.pause();
        } else {
          try {
            writeAll(f.fd, batch.subarray(0, bytes));
          } finally {
            this.batches.give(batch);
          }
        }
      }
    } catch (err) {
      throw this.entryError(err, f.raw);
    }
  }

  /** The entry's data is complete: for a file, its mtime, the check of what the file system stored, and close (after its writes). */
  entryEnd(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    this.files.push({ path: f.rel, kind: 'file', exec: f.exec, mtime: f.mtime, size: f.size, hash: f.digest ?? f.hash?.digest('hex') ?? contentHash(EMPTY, this.limits.alg) });
    if (!f.writes) {
      this.finishFile(f);
      return;
    }
    const done = f.writes.then(
      () => {
        try {
          this.finishFile(f);
        } catch (err) {
          this.hooks.fail(err);
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
  }

  /** On failure: closes the file being received (after its writes in flight, so no write hits a reused fd). */
  abandon(): void {
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

  /** Resolves once every write in flight has settled and its descriptor is closed. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Directory modes and mtimes last (creating children changes them), then the manifest. */
  finish(): ExtractResult {
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
      manifest = renderManifest(entries, this.limits.alg);
    } catch (err) {
      throw new ExtractError(`the archive cannot form a 0install tree: ${(err as Error).message}`, 'unsafe', undefined, { cause: err });
    }
    return { entries, manifest, bytes: this.bytes };
  }

  private trackPending(p: Promise<void>): void {
    this.pending.add(p);
    void p.then(() => this.pending.delete(p));
  }

  /** Hands a large file's batch to the thread pool, after that file's previous writes; the batch goes back to the pool after its write. */
  private writeLater(f: OpenFile, batch: Buffer, bytes: number): void {
    const pos = f.pos;
    f.pos += bytes;
    this.inFlight += bytes;
    f.writes = (f.writes ?? Promise.resolve()).then(() =>
      writeAllAt(f.fd, batch.subarray(0, bytes), pos).then(
        () => {
          this.batches.give(batch);
          this.written(bytes);
        },
        (err: unknown) => {
          this.batches.give(batch);
          this.written(bytes);
          this.hooks.fail(this.entryError(err, f.raw));
          throw err;
        },
      ),
    );
    f.writes.catch(() => {});
  }

  private written(bytes: number): void {
    this.inFlight -= bytes;
    if (this.inFlight <= MAX_IN_FLIGHT / 2) this.hooks.resume();
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
        this.dirs.set(prefix.toString('latin1'), { rel: this.paths.keep(prefix) });
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
    if (!this.stored.symlink(p, t)) throw new TarRuleError(`has an mtime (${mtime}) this file system cannot store`, 'limit');
    this.files.push({ path: rel, kind: 'symlink', size: target.length, hash: contentHash(target, this.limits.alg) });
  }

  private openFile(rel: Buffer, raw: Buffer, size: number, mtime: bigint, exec: boolean): void {
    if (rel.length === 0) throw new TarRuleError('is a file in place of the root directory', 'unsafe');
    const left = this.limits.maxBytes - this.bytes;
    if (size > left) throw new TarRuleError(`is ${size} bytes, more than the ${left} bytes left of the ${this.limits.maxBytes}-byte limit`, 'limit');
    this.claim(rel, 'file');
    const mode = storeFileMode(exec);
    const fd = openSync(this.abs(rel), FILE_FLAGS, mode);
    this.file = { fd, rel, raw, size, left: size, batchBytes: 0, mtime, exec, mode, pos: 0 };
  }

  private finishFile(f: OpenFile): void {
    try {
      const t = Number(f.mtime);
      futimesSync(f.fd, t, t);
      if (!this.stored.file(f.fd, f.mode, t)) throw new TarRuleError(`has an mtime (${f.mtime}) this file system cannot store`, 'limit');
    } catch (err) {
      throw this.entryError(err, f.raw);
    } finally {
      closeSync(f.fd);
    }
  }
}
