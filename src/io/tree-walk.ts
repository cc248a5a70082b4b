// Reads a directory tree into manifest entries exactly as 0install 2.18 sees it: raw-byte names,
// lstat types, whole-second mtimes, the exec bit, symlink targets (never followed), and 0install's
// errors for devices, fifos and sockets. File contents are hashed here in one pass.
//
// Speed: synchronous system calls with one reusable read buffer are several times faster than
// Node's promise-based fs for thousands of small files, so the walk runs synchronously in short
// slices and yields to the event loop between them (a server or progress bar stays responsive).
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  statSync,
  type BigIntStats,
  type Dirent,
} from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { type Algorithm, type Digest, hashName } from '../core/digest.js';
import { type ManifestEntry, contentHash, manifestDigest, renderManifest } from '../core/manifest-format.js';
import { ManifestLines } from '../core/manifest-lines.js';
import { FILE_COST, type FileFields, HashOffload, START_AFTER } from './hash-offload.js';
import { type FileIo, type OpenFile, hashStep, openRegular, readerIds } from './file-steps.js';
import { idleCore } from './idle-core.js';
import { TreeError, changed, fsError, notRegular, problemError } from './tree-error.js';
import { type TimeSlicer, timeSlicer } from './time-slice.js';

export { TreeError } from './tree-error.js';

export interface WalkOptions {
  /** Checked at the start and whenever the walk yields (about every 20 ms). */
  signal?: AbortSignal;
  /** Called with the number of content bytes hashed so far. */
  onProgress?: (bytes: number) => void;
  /**
   * Start a hash worker thread once the walk has met this much work (content bytes plus 32 KiB
   * per non-empty file; Infinity: never), so files hash on two cores. Unless given: 8 MiB, and
   * only while a core is idle (asked again each time the work seen has doubled).
   */
  hashWorkerAfter?: number;
}

const SLASH = Buffer.from('/');
const MANIFEST = Buffer.from('.manifest');
const NL = 0x0a;
const READ_CHUNK = 1 << 20;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const show = (p: Buffer) => p.toString();

/** Takes each entry in walk order; `ready: false` for a file whose fields the hash worker fills in later. */
type Emit = (entry: ManifestEntry, ready: boolean) => void;

class Walker {
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);
  private readonly hash: 'sha1' | 'sha256';
  private readonly slicer: TimeSlicer;
  private readonly offload: HashOffload;
  private readonly emptyHash: string;
  private readonly io: FileIo = { openSync, lstatSync, closeSync, readSync, createHash, hash, ids: readerIds() };
  private bytes = 0;
  /** Non-empty files read here: with `bytes`, the work that decides whether the worker starts. */
  private files = 0;

  constructor(
    private readonly root: Buffer,
    private readonly alg: Algorithm,
    private readonly opts: WalkOptions,
    private readonly emit: Emit,
  ) {
    this.hash = hashName(alg);
    this.emptyHash = contentHash(Buffer.alloc(0), alg);
    const after = opts.hashWorkerAfter;
    this.offload = new HashOffload(this.hash, OPEN_FLAGS, after ?? START_AFTER, after === undefined ? idleCore : undefined);
    this.slicer = timeSlicer({ signal: opts.signal, onYield: () => opts.onProgress?.(this.bytes + this.offload.bytes) });
  }

  async run(): Promise<void> {
    this.opts.signal?.throwIfAborted();
    let st: BigIntStats;
    try {
      st = statSync(this.root, { bigint: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') throw new TreeError(`'${show(this.root)}' does not exist`, show(this.root));
      throw fsError(err, this.root);
    }
    if (!st.isDirectory()) throw new TreeError(`'${show(this.root)}' is not a directory`, show(this.root));
    const readHere = async (full: Buffer, fields: FileFields) => this.read(full, fields);
    try {
      await this.dir(this.root);
      await this.offload.finish(readHere);
    } catch (err) {
      throw (await this.offload.abandon(err instanceof TreeError ? readHere : undefined)) ?? err;
    }
    this.opts.onProgress?.(this.bytes + this.offload.bytes);
  }

  private async dir(full: Buffer): Promise<void> {
    let items: Dirent<Buffer>[];
    try {
      items = readdirSync(full, { encoding: 'buffer', withFileTypes: true });
    } catch (err) {
      throw fsError(err, full);
    }
    items.sort((a, b) => Buffer.compare(a.name, b.name));
    const top = full === this.root;
    const subdirs: Array<{ full: Buffer; entry: ManifestEntry }> = [];
    for (const item of items) {
      const name = item.name;
      const childFull = Buffer.concat([full, SLASH, name]);
      const childRel = childFull.subarray(this.root.length + 1);
      if (name.includes(NL)) {
        throw new TreeError(`Newline in filename '${show(childFull).replace(/\n/g, '\\n')}': 0install manifests cannot represent it; rename it`, show(childFull));
      }
      if (item.isFile()) {
        // 0install skips only a regular file called .manifest at the top level.
        if (top && name.equals(MANIFEST)) continue;
        this.offload.check();
        const entry = { path: childRel, kind: 'file' as const, exec: false, mtime: 0n, size: 0, hash: '' };
        if (this.offload.offer(childFull, entry, this.bytes + this.files * FILE_COST)) this.emit(entry, false);
        else {
          const rest = this.read(childFull, entry);
          if (rest) await rest;
          this.emit(entry, true);
        }
      } else if (item.isSymbolicLink()) {
        let target: Buffer;
        try {
          target = readlinkSync(childFull, { encoding: 'buffer' });
        } catch (err) {
          throw fsError(err, childFull);
        }
        this.emit({ path: childRel, kind: 'symlink', size: target.length, hash: contentHash(target, this.alg) }, true);
      } else if (item.isDirectory()) {
        let st: BigIntStats;
        try {
          st = lstatSync(childFull, { bigint: true });
        } catch (err) {
          throw fsError(err, childFull);
        }
        if (!st.isDirectory()) throw changed(childFull);
        subdirs.push({ full: childFull, entry: { path: childRel, kind: 'dir', mtime: st.mtimeNs / 1_000_000_000n } });
      } else {
        throw notRegular(childFull);
      }
      if (this.slicer.due()) await this.slicer.pause();
    }
    // Each subdirectory's entry just before its contents: the new formats' manifest order.
    for (const sub of subdirs) {
      this.emit(sub.entry, true);
      await this.dir(sub.full);
    }
  }

  /**
   * Checks the file with lstat, opens it without following symlinks and hashes it. Returns a
   * promise only for a file that outlasts the time slice (it yields between pieces); every other
   * file is done when this returns, with no promise or await per file.
   */
  private read(full: Buffer, fields: FileFields): Promise<void> | undefined {
    const file = openRegular(full, OPEN_FLAGS, this.io);
    if ('problem' in file) throw problemError(file, full);
    if (file.fd < 0) file.hex = this.emptyHash; // empty, not opened
    else {
      let done: boolean;
      try {
        done = this.steps(file);
      } catch (err) {
        closeSync(file.fd);
        throw readError(err, full);
      }
      if (!done) return this.readRest(file, full, fields);
      closeSync(file.fd);
    }
    this.settle(file, full, fields);
    return undefined;
  }

  /** Hashes pieces of the file until it is done (true) or the time slice is over. */
  private steps(file: OpenFile): boolean {
    for (;;) {
      const before = file.total;
      const done = hashStep(file, this.buf, this.hash, this.io);
      this.bytes += file.total - before;
      if (done) return true;
      if (this.slicer.due()) return false;
    }
  }

  /** The rest of a big file, yielding to the event loop between slices. */
  private async readRest(file: OpenFile, full: Buffer, fields: FileFields): Promise<void> {
    try {
      do await this.slicer.pause();
      while (!this.steps(file));
    } catch (err) {
      throw readError(err, full);
    } finally {
      closeSync(file.fd);
    }
    this.settle(file, full, fields);
  }

  private settle(file: OpenFile, full: Buffer, fields: FileFields): void {
    if (file.total !== file.size) throw changed(full);
    if (file.size > 0) this.files++;
    fields.exec = (file.st.mode & 0o111n) !== 0n;
    fields.mtime = file.st.mtimeNs / 1_000_000_000n;
    fields.size = file.size;
    fields.hash = file.hex!;
  }
}

/** A failed read becomes a TreeError; an abort passes through. */
const readError = (err: unknown, full: Buffer) =>
  typeof (err as NodeJS.ErrnoException).syscall === 'string' ? fsError(err, full) : err;

function rootBuffer(dir: string): Buffer {
  const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  return Buffer.from(trimmed || '/');
}

/**
 * The manifest entries of the tree at `dir` (directories with their mtimes, files hashed with
 * `alg`'s hash, symlinks), excluding a top-level regular `.manifest`, in the order of the new
 * formats' manifest text: a directory's files and symlinks by name, then each subdirectory by
 * name followed by its contents.
 */
export async function walkTree(dir: string, alg: Algorithm, opts: WalkOptions = {}): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  await new Walker(rootBuffer(dir), alg, opts, (e) => entries.push(e)).run();
  return entries;
}

/** The manifest text and digest of the tree at `dir`, as `0install store manifest DIR ALG`. */
export async function manifestOfTree(dir: string, alg: Algorithm, opts: WalkOptions = {}): Promise<{ manifest: Buffer; digest: Digest }> {
  let manifest: Buffer;
  if (alg === 'sha1') {
    // Only the old format interleaves files and directories: from the entries, sorted again.
    manifest = renderManifest(await walkTree(dir, alg, opts), alg);
  } else {
    // The others follow the walk: each line is written as the walk finds its entry.
    const lines = new ManifestLines();
    await new Walker(rootBuffer(dir), alg, opts, (e, ready) => lines.add(e, ready)).run();
    manifest = lines.text();
  }
  return { manifest, digest: manifestDigest(manifest, alg) };
}
