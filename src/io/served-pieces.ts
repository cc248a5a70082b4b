// The peer's side of the swarm route: checks a piece list against the implementation's own
// .manifest (only a file or symlink the manifest lists can be asked for, only within its size)
// and against the tree on disk (every directory on the way is a real directory, never a symlink;
// files are opened O_NOFOLLOW and must have the manifest's size), all before the first byte is
// sent, then streams the pieces' bytes in the order asked. Parsed manifests are cached per
// directory (a store entry never changes once it exists). A partial holder's staging dir is
// checked against the manifest it verified, and a piece of a file not verified there yet is a
// 409 (the client asks again later).
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ManifestEntry, parseManifest } from '../core/manifest-format.js';
import type { Piece } from '../core/piece-list.js';
import { quoteNetworkText } from '../core/quote.js';
import type { PartialServed } from '../machines/server-session.machine.js';
import { openManifest } from './served-implementation.js';
import { timeSlicer } from './time-slice.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const READ_SIZE = 256 * 1024;
const CACHED_MANIFESTS = 16;
/** A .manifest larger than this is not parsed to answer piece requests. */
const MAX_MANIFEST = 64 * 1024 * 1024;

/** Why a piece list cannot be served: a bad request (400), something this tree does not hold (404) or has not verified yet (409). */
export class PieceRefusal extends Error {
  override name = 'PieceRefusal';
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
  ) {
    super(message);
  }
}

/** The files and symlinks of a manifest by path, with their index in manifest order. */
type Index = Map<string, { entry: ManifestEntry; index: number }>;
const cache = new Map<string, Index>();
const partialIndexes = new WeakMap<readonly ManifestEntry[], Index>();

function indexEntries(entries: readonly ManifestEntry[]): Index {
  return new Map(entries.filter((e) => e.kind !== 'dir').map((entry, index) => [key(entry.path), { entry, index }]));
}

const key = (p: Uint8Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1');

/** The number of files and symlinks `dir`'s .manifest lists (a PieceRefusal when it has no new-format one). */
export async function manifestFiles(dir: string): Promise<number> {
  return (await indexOf(dir)).size;
}

/** The files and symlinks of a partial holder's manifest (cached per manifest). */
function partialIndex(p: PartialServed): Index {
  let hit = partialIndexes.get(p.entries);
  if (!hit) partialIndexes.set(p.entries, (hit = indexEntries(p.entries)));
  return hit;
}

/** The files and symlinks of `dir`'s .manifest by path (cached). */
async function indexOf(dir: string): Promise<Index> {
  const hit = cache.get(dir);
  if (hit) return hit;
  const m = await openManifest(dir);
  if (!m) throw new PieceRefusal('no .manifest here', 404);
  let entries: ManifestEntry[];
  try {
    if (m.size > MAX_MANIFEST) throw new PieceRefusal('the .manifest is too large to serve pieces from', 404);
    entries = parseManifest(await m.handle.readFile());
  } catch (err) {
    if (err instanceof PieceRefusal) throw err;
    // An old-format (sha1) or damaged .manifest: this tree is served only whole.
    throw new PieceRefusal('pieces are served only from new-format manifests', 404);
  } finally {
    await m.handle.close();
  }
  const index = indexEntries(entries);
  if (cache.size >= CACHED_MANIFESTS) cache.delete(cache.keys().next().value!);
  cache.set(dir, index);
  return index;
}

/** One piece, checked: where to read it and what it is. */
interface Checked {
  readonly piece: Piece;
  readonly entry: ManifestEntry;
  readonly abs: Buffer;
}

const missing = (c: Checked) => new PieceRefusal(`'${Buffer.from(c.piece.path).toString()}' is missing here`, 404);
const notTheFile = (c: Checked) => new PieceRefusal(`'${Buffer.from(c.piece.path).toString()}' here is not the file the manifest lists`, 404);

/**
 * Checks every piece (throws PieceRefusal); returns them with the total byte count. Directories
 * on the way are lstat'ed once each: none may be a symlink. Each piece's file must be there as
 * the manifest lists it (a symlink, or a regular file of its size), so a gap is a 404 before any
 * byte rather than a cut stream; `streamPieces` checks each file it opens once more.
 */
export async function checkPieces(dir: string, pieces: readonly Piece[], partial?: PartialServed): Promise<{ checked: Checked[]; total: number }> {
  const index = partial ? partialIndex(partial) : await indexOf(dir);
  const dirsOk = new Set<string>();
  const checked: Checked[] = [];
  const indexes: number[] = [];
  let total = 0;
  for (const piece of pieces) {
    const k = key(piece.path);
    const found = index.get(k);
    if (!found) throw new PieceRefusal(`'${Buffer.from(piece.path).toString().slice(0, 200)}' is not a file of this implementation`, 400);
    const entry = found.entry;
    const size = entry.size ?? 0;
    if (piece.offset + piece.length > size || (entry.kind === 'symlink' && (piece.offset !== 0 || piece.length !== size))) {
      throw new PieceRefusal(`a piece of '${Buffer.from(piece.path).toString().slice(0, 200)}' lies outside it`, 400);
    }
    indexes.push(found.index);
    const parts = k.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (dirsOk.has(d)) continue;
      const st = await lstat(Buffer.concat([Buffer.from(dir), Buffer.from('/'), Buffer.from(d, 'latin1')])).catch(() => undefined);
      if (!st?.isDirectory()) throw new PieceRefusal(`'${d}' is not a directory here`, 404);
      dirsOk.add(d);
    }
    checked.push({ piece, entry, abs: Buffer.concat([Buffer.from(join(dir, '/')), Buffer.from(piece.path)]) });
    total += piece.length;
  }
  // The list is right (else 400); is every file verified, on a partial holder (else 409)?
  if (partial) {
    const verified = await partial.verified();
    const first = checked.find((_, i) => !verified.has(indexes[i]!));
    if (first) throw new PieceRefusal(`${quoteNetworkText(first.piece.path, 200)} is not verified here yet`, 409);
  }
  // Now is everything there? (Synchronous lstats: one thread-pool hop each would cost more than the call.)
  const slicer = timeSlicer();
  for (const c of checked) {
    await slicer.pause();
    let st: Stats | undefined;
    try {
      st = lstatSync(c.abs);
    } catch {
      st = undefined;
    }
    if (!st) throw missing(c);
    if (c.entry.kind === 'symlink' ? !st.isSymbolicLink() : !st.isFile() || st.size !== c.entry.size) throw notTheFile(c);
  }
  return { checked, total };
}

async function openChecked(c: Checked): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(c.abs, OPEN_FLAGS);
  } catch {
    throw missing(c);
  }
  const st: Stats | undefined = await fh.stat().catch(() => undefined);
  if (!st?.isFile() || st.size !== c.entry.size) {
    await fh.close();
    throw notTheFile(c);
  }
  return fh;
}

/** Opens, checks and reads a small file whole, with synchronous calls (no thread-pool hop per file). */
function readSmall(c: Checked): Buffer {
  let fd: number;
  try {
    fd = openSync(c.abs, OPEN_FLAGS);
  } catch {
    throw missing(c);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== c.entry.size) throw notTheFile(c);
    const buf = Buffer.allocUnsafe(c.piece.length);
    for (let got = 0; got < buf.length; ) {
      const n = readSync(fd, buf, got, buf.length - got, c.piece.offset + got);
      if (n === 0) throw new Error(`'${Buffer.from(c.piece.path).toString()}' is shorter than its manifest says`);
      got += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/**
 * The checked pieces' bytes, concatenated; a read error (or a file changed meanwhile) destroys
 * the stream. Symlinks and pieces up to READ_SIZE are read with synchronous calls in short time
 * slices and sent in chunks of about READ_SIZE (not one write per small file); an empty piece
 * has nothing to read (checkPieces saw its file). Larger pieces are read asynchronously.
 */
export function streamPieces(checked: readonly Checked[], signal?: AbortSignal): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const slicer = timeSlicer({ signal });
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const take = () => {
      const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      return out;
    };
    for (const c of checked) {
      if (signal?.aborted) throw new Error('aborted');
      if (c.piece.length === 0) continue;
      if (c.entry.kind === 'symlink' || c.piece.length <= READ_SIZE) {
        let data: Buffer;
        if (c.entry.kind === 'symlink') {
          data = readlinkSync(c.abs, { encoding: 'buffer' });
          if (data.length !== c.piece.length) throw new Error(`symlink '${Buffer.from(c.piece.path).toString()}' changed`);
        } else data = readSmall(c);
        pending.push(data);
        pendingBytes += data.length;
        if (pendingBytes >= READ_SIZE) yield take();
        await slicer.pause();
        continue;
      }
      if (pendingBytes) yield take();
      const fh = await openChecked(c);
      try {
        let pos = c.piece.offset;
        const end = c.piece.offset + c.piece.length;
        while (pos < end) {
          const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, end - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw new Error(`'${Buffer.from(c.piece.path).toString()}' is shorter than its manifest says`);
          pos += bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    }
    if (pendingBytes) yield take();
  }
  return Readable.from(gen(), { objectMode: false });
}
