// Streams an implementation tree as an uncompressed tar, for the HTTP server: entries in a fixed
// order (byte-sorted names, each directory followed by its contents), plain relative names
// ("bin/x"), directories 0755, files 0644/0755 by the exec bit, mtimes in whole seconds, symlinks
// with their raw targets, and no top-level regular .manifest. It never follows a symlink: files
// are opened O_NOFOLLOW and what is read is what fstat describes (a regular file, its mode, size
// and mtime). Headers and small files are gathered into buffers of one chunk (256 KiB) and bigger
// files are read a chunk at a time, all from a ChunkPool the consumer may give chunks back to;
// when the stream has enough, the walk waits before the next entry or chunk, so memory does not
// grow with the tree. A read error destroys the stream, so the receiver sees a truncated archive
// rather than a wrong one.
//
// Names: headers are byte for byte tar-stream's (see tar-header.ts): UTF-8 names, with pax
// records for long or non-ASCII ones. A name or symlink target that is not valid UTF-8 is sent as
// raw bytes in a GNU long-name record ('L'/'K'), which GNU tar and our extractor both read back
// byte for byte (pax records are UTF-8 by definition). Mtimes outside 1970..2038 are sent as pax
// `mtime` records, since the ustar field is written as 32-bit.
//
// Safety assumes nobody swaps directories for symlinks while a tree is being read; stores are
// read-only (0555) trees owned by their user, so only that user could.
import { closeSync, constants, type Dirent, fstatSync, lstatSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ChunkBatch } from './chunk-batch.js';
import { ChunkPool } from './chunk-pool.js';
import { PushGate } from './push-gate.js';
import { BLOCK, gnuLongRecord, type HeaderFields, padding, paxHeader, paxMtimeRecord, writeUstar } from './tar-header.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Bytes per chunk when the caller brings no pool. Files up to one chunk are read synchronously. */
export const READ_CHUNK = 256 * 1024;
const MAX_USTAR_TIME = 2n ** 31n;

export class PackError extends Error {
  override name = 'PackError';
}

/** The name as a string, or undefined when the bytes are not UTF-8. */
function utf8(b: Buffer): string | undefined {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? s : undefined;
}

/** An ASCII stand-in of at most 100 bytes for the ustar field behind a GNU long-name record. */
function placeholder(b: Buffer): string {
  return b.toString('latin1').replace(/[^\x20-\x7e]/g, '_').slice(-100);
}

const show = (b: Buffer) => JSON.stringify(b.toString());

class Packer {
  private readonly root: Buffer;
  /** The chunk being filled with headers and small files. */
  private readonly batch: ChunkBatch;
  constructor(
    dir: string,
    private readonly gate: PushGate,
    pool: ChunkPool,
  ) {
    this.root = Buffer.from(dir);
    this.batch = new ChunkBatch(pool, (chunk) => this.gate.push(chunk));
  }

  private abs(rel: Buffer): Buffer {
    return rel.length ? Buffer.concat([this.root, Buffer.from('/'), rel]) : this.root;
  }

  async run(): Promise<void> {
    const st = lstatSync(this.root);
    if (!st.isDirectory()) throw new PackError(`'${this.root.toString()}' is not a directory`);
    await this.walk(Buffer.alloc(0));
    this.batch.zeros(2 * BLOCK);
    this.batch.flush();
    this.gate.push(null);
  }

  private async walk(rel: Buffer): Promise<void> {
    const entries = readdirSync(this.abs(rel), { encoding: 'buffer', withFileTypes: true }) as unknown as Array<Dirent & { name: Buffer }>;
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const entry of entries) {
      if (this.gate.isBlocked) await this.gate.drained();
      else this.gate.check();
      const name = entry.name;
      const child = rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      if (entry.isFile()) {
        if (rel.length === 0 && name.toString('latin1') === '.manifest') continue;
        const streaming = this.file(child);
        if (streaming) await streaming;
        continue;
      }
      const st = lstatSync(this.abs(child), { bigint: true });
      const mtime = st.mtimeNs / 1_000_000_000n;
      if (st.isDirectory()) {
        this.header(child, { type: 'directory', mode: 0o755, size: 0 }, mtime);
        await this.walk(child);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(this.abs(child), { encoding: 'buffer' });
        this.header(child, { type: 'symlink', mode: 0o777, size: 0 }, mtime, target);
      } else if (st.isFile()) {
        const streaming = this.file(child);
        if (streaming) await streaming;
      } else {
        throw new PackError(`cannot pack ${show(child)}: not a regular file, directory or symlink`);
      }
    }
  }

  /**
   * The header of an entry. UTF-8 names and targets go in the header (with pax records as
   * needed, here with the mtime); other names are preceded by GNU long records and get an ASCII
   * stand-in, with the mtime in a pax record of their own.
   */
  private header(rel: Buffer, base: Omit<HeaderFields, 'name' | 'mtime'>, mtime: bigint, target?: Buffer): void {
    const h: HeaderFields = { ...base, name: '', mtime: 0 };
    const paxTime = mtime < 0n || mtime >= MAX_USTAR_TIME;
    const name = utf8(rel);
    const link = target ? utf8(target) : '';
    const raw = name === undefined || link === undefined;
    if (!paxTime) h.mtime = Number(mtime);
    else if (raw) this.batch.put(paxMtimeRecord(mtime));
    if (name === undefined) {
      this.batch.put(gnuLongRecord('L', rel));
      h.name = placeholder(rel);
    } else h.name = name;
    if (target) {
      if (link === undefined) {
        this.batch.put(gnuLongRecord('K', target));
        h.linkname = placeholder(target);
      } else h.linkname = link;
    }
    if (paxTime && !raw) this.batch.put(paxHeader(h, { mtime: mtime.toString() }));
    else if (writeUstar(this.batch.space(BLOCK), this.batch.used, h)) this.batch.used += BLOCK;
    else this.batch.put(paxHeader(h, {}, { name: name === undefined, linkname: link === undefined }));
  }

  /**
   * A regular file, opened without following a symlink. One up to a chunk is read straight into
   * the batch, synchronously (no promise per small file); a bigger one is streamed (the promise).
   */
  private file(rel: Buffer): Promise<void> | undefined {
    const fd = openSync(this.abs(rel), OPEN_FLAGS);
    let streaming: Promise<void> | undefined;
    try {
      const st = fstatSync(fd, { bigint: true });
      if (!st.isFile()) throw new PackError(`cannot pack ${show(rel)}: not a regular file, directory or symlink`);
      const size = Number(st.size);
      const mode = (st.mode & 0o111n) !== 0n ? 0o755 : 0o644;
      this.header(rel, { type: 'file', mode, size }, st.mtimeNs / 1_000_000_000n);
      if (size > this.batch.chunk) {
        streaming = this.stream(fd, rel, size);
        return streaming;
      }
      if (!this.batch.read(fd, size, 0)) throw new PackError(`${show(rel)} shrank while being packed`);
      this.batch.zeros(padding(size));
      return undefined;
    } finally {
      if (!streaming) closeSync(fd);
    }
  }

  /** A big file's data a chunk at a time, waiting for the stream before each; closes `fd`. */
  private async stream(fd: number, rel: Buffer, size: number): Promise<void> {
    try {
      if (!(await this.batch.stream(fd, size, 0, () => this.gate.drained()))) throw new PackError(`${show(rel)} shrank while being packed`);
      this.batch.zeros(padding(size));
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * An uncompressed tar of the implementation tree at `dir` (see the top of this file). Errors and
 * aborts destroy the returned stream. Chunks come from `pool` (default: a private one); the
 * consumer may give each chunk back to it once it no longer needs the bytes.
 */
export function packTree(dir: string, opts: { signal?: AbortSignal; pool?: ChunkPool } = {}): Readable {
  const gate = new PushGate('the tar stream was closed', opts.signal);
  const out = gate.out;
  const packer = new Packer(dir, gate, opts.pool ?? new ChunkPool(READ_CHUNK));
  const onAbort = () => out.destroy(opts.signal?.reason ?? new Error('aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  packer
    .run()
    .catch((err: unknown) => {
      if (!out.destroyed) out.destroy(err instanceof Error ? err : new Error(String(err)));
    })
    .finally(() => opts.signal?.removeEventListener('abort', onAbort));
  return out;
}
