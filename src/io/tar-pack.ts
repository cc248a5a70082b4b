// Streams an implementation tree as an uncompressed tar (tar-stream's pack), for the HTTP server:
// entries in a fixed order (byte-sorted names, each directory followed by its contents), plain
// relative names ("bin/x"), directories 0755, files 0644/0755 by the exec bit, file mtimes in whole
// seconds, symlinks with their raw targets, and no top-level regular .manifest. It never follows a
// symlink: files are opened O_NOFOLLOW and must be the same regular file the walk saw (inode and
// device). One entry is written at a time and awaited, so memory does not grow with the tree, and
// a read error destroys the stream, so the receiver sees a truncated archive rather than a wrong one.
//
// Names: tar-stream writes names as UTF-8 (pax records for long or non-ASCII ones). A name or
// symlink target that is not valid UTF-8 is sent as raw bytes in a GNU long-name record
// ('L'/'K'), which GNU tar and our extractor both read back byte for byte (pax records are UTF-8
// by definition, and tar-stream decodes them so). Mtimes outside 1970..2038 are sent as pax
// `mtime` records, since tar-stream's header field is 32-bit.
//
// Safety assumes nobody swaps directories for symlinks while a tree is being read; stores are
// read-only (0555) trees owned by their user, so only that user could.
import { closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Files up to this size are read in one go and handed to tar-stream as a buffer. */
const SMALL_FILE = 256 * 1024;
const READ_CHUNK = 1024 * 1024;
const MAX_USTAR_TIME = 2n ** 31n;

export class PackError extends Error {
  override name = 'PackError';
}

type Header = Parameters<tar.Pack['entry']>[0];

/** A name as tar-stream can write it, or undefined when the bytes are not UTF-8. */
function utf8(b: Buffer): string | undefined {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? s : undefined;
}

/** An ASCII stand-in of at most 100 bytes for the ustar field behind a GNU long-name record. */
function placeholder(b: Buffer): string {
  return b.toString('latin1').replace(/[^\x20-\x7e]/g, '_').slice(-100);
}

function octal(buf: Buffer, value: number | bigint, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
}

/** A header block for an extension record (GNU long name/link, pax) followed by its data. */
function extensionRecord(name: string, type: string, data: Buffer, gnu: boolean): Buffer {
  const padded = Math.ceil(data.length / 512) * 512;
  const out = Buffer.alloc(512 + padded);
  out.write(name, 0, 'latin1');
  octal(out, 0o644, 100, 8);
  octal(out, 0, 108, 8);
  octal(out, 0, 116, 8);
  octal(out, data.length, 124, 12);
  octal(out, 0, 136, 12);
  out.write(type, 156, 'latin1');
  out.write(gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  out.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += out[i]!;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  data.copy(out, 512);
  return out;
}

/** A GNU ././@LongLink record ('L' for the next entry's name, 'K' for its link target). */
export function gnuLongRecord(type: 'L' | 'K', value: Buffer): Buffer {
  return extensionRecord('././@LongLink', type, Buffer.concat([value, Buffer.alloc(1)]), true);
}

/** A pax extended header carrying only an mtime, for the next entry. */
export function paxMtimeRecord(mtime: bigint): Buffer {
  const body = ` mtime=${mtime}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return extensionRecord('PaxHeader', 'x', Buffer.from(`${len}${body}`, 'latin1'), false);
}

const show = (b: Buffer) => JSON.stringify(b.toString());

class Packer {
  private readonly root: Buffer;
  constructor(
    dir: string,
    private readonly pack: tar.Pack,
    private readonly signal?: AbortSignal,
  ) {
    this.root = Buffer.from(dir);
  }

  private abs(rel: Buffer): Buffer {
    return rel.length ? Buffer.concat([this.root, Buffer.from('/'), rel]) : this.root;
  }

  async run(): Promise<void> {
    const st = lstatSync(this.root);
    if (!st.isDirectory()) throw new PackError(`'${this.root.toString()}' is not a directory`);
    await this.walk(Buffer.alloc(0));
    this.pack.finalize();
  }

  private async walk(rel: Buffer): Promise<void> {
    const names = (readdirSync(this.abs(rel), { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
    for (const name of names) {
      if (this.signal?.aborted) throw this.signal.reason ?? new Error('aborted');
      const child = rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const st = lstatSync(this.abs(child), { bigint: true });
      if (rel.length === 0 && st.isFile() && name.toString('latin1') === '.manifest') continue;
      const mtime = st.mtimeNs / 1_000_000_000n;
      if (st.isDirectory()) {
        await this.entry(child, { type: 'directory', mode: 0o755 }, mtime);
        await this.walk(child);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(this.abs(child), { encoding: 'buffer' });
        await this.entry(child, { type: 'symlink', mode: 0o777 }, mtime, target);
      } else if (st.isFile()) {
        await this.file(child, st, mtime);
      } else {
        throw new PackError(`cannot pack ${show(child)}: not a regular file, directory or symlink`);
      }
    }
  }

  /**
   * Header fields for a name, target and mtime. UTF-8 names go to tar-stream (which writes pax
   * records as needed, here with the mtime); other names are pushed as GNU long records before
   * an ASCII stand-in, with the mtime in a pax record of their own.
   */
  private header(rel: Buffer, base: Partial<Header>, mtime: bigint, target?: Buffer): Header {
    const h: Header = { ...base, name: '', mtime: new Date(0) };
    const paxTime = mtime < 0n || mtime >= MAX_USTAR_TIME;
    const name = utf8(rel);
    const link = target ? utf8(target) : '';
    const raw = name === undefined || link === undefined;
    if (!paxTime) h.mtime = new Date(Number(mtime) * 1000);
    else if (raw) this.pack.push(paxMtimeRecord(mtime));
    else h.pax = { mtime: mtime.toString() };
    if (name === undefined) {
      this.pack.push(gnuLongRecord('L', rel));
      h.name = placeholder(rel);
    } else h.name = name;
    if (target) {
      if (link === undefined) {
        this.pack.push(gnuLongRecord('K', target));
        h.linkname = placeholder(target);
      } else h.linkname = link;
    }
    return h;
  }

  private entry(rel: Buffer, base: Partial<Header>, mtime: bigint, target?: Buffer, data?: Buffer): Promise<void> {
    const h = this.header(rel, base, mtime, target);
    return new Promise((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) this.pack.entry(h, data, cb);
      else this.pack.entry(h, cb);
    });
  }

  private async file(rel: Buffer, st: BigIntStats, mtime: bigint): Promise<void> {
    const fd = openSync(this.abs(rel), OPEN_FLAGS);
    let owned = true;
    try {
      const now = fstatSync(fd, { bigint: true });
      if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev || now.size !== st.size) {
        throw new PackError(`${show(rel)} changed while being packed; try again when nothing is modifying the store`);
      }
      const size = Number(st.size);
      const mode = (st.mode & 0o111n) !== 0n ? 0o755 : 0o644;
      if (size <= SMALL_FILE) {
        const buf = Buffer.allocUnsafe(size);
        let off = 0;
        while (off < size) {
          const n = readSync(fd, buf, off, size - off, off);
          if (n === 0) throw new PackError(`${show(rel)} shrank while being packed`);
          off += n;
        }
        closeSync(fd);
        owned = false;
        await this.entry(rel, { type: 'file', mode, size }, mtime, undefined, buf);
        return;
      }
      const h = this.header(rel, { type: 'file', mode, size }, mtime);
      const src = createReadStream(Buffer.alloc(0), { fd, start: 0, end: size - 1, highWaterMark: READ_CHUNK, autoClose: true });
      owned = false;
      await pipeline(src, this.pack.entry(h) as never);
    } finally {
      if (owned) closeSync(fd);
    }
  }
}

/**
 * An uncompressed tar of the implementation tree at `dir` (see the top of this file). Errors and
 * aborts destroy the returned stream.
 */
export function packTree(dir: string, opts: { signal?: AbortSignal } = {}): Readable {
  const pack = tar.pack();
  // A Node stream for the caller; pipeline carries errors both ways (a read error destroys `out`
  // with that error, a consumer that goes away destroys the pack and so stops the walk).
  const out = new PassThrough();
  pipeline(pack as never, out).catch(() => {});
  const onAbort = () => pack.destroy(opts.signal?.reason ?? new Error('aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  new Packer(dir, pack, opts.signal)
    .run()
    .catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      pack.destroy(e);
    })
    .finally(() => opts.signal?.removeEventListener('abort', onAbort));
  return out;
}
