// The peer's side of the swarm route, its first half: checks a piece list against the
// implementation's own .manifest (only a file or symlink the manifest lists can be asked for, only
// within its size) before anything is read; piece-reader.ts then checks the tree as it reads.
// Parsed manifests are cached per directory (a store entry never changes once it exists). A
// partial holder's staging dir is checked against the manifest it verified, and a piece of a file
// not verified there yet is a 409 (the client asks again later).
import { type ManifestEntry, parseManifest } from '../core/manifest-format.js';
import type { Piece } from '../core/piece-list.js';
import { quoteNetworkText } from '../core/quote.js';
import type { PartialServed } from '../machines/server-session.machine.js';
import type { CheckedPiece } from './piece-reader.js';
import { openManifest } from './served-implementation.js';

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
const cache = new Map<string, Promise<Index>>();
const partialIndexes = new WeakMap<readonly ManifestEntry[], Index>();

function indexEntries(entries: readonly ManifestEntry[]): Index {
  return new Map(entries.filter((e) => e.kind !== 'dir').map((entry, index) => [key(entry.path), { entry, index }]));
}

const key = (p: Uint8Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1');

/** Whether `dir`'s .manifest is parsed (or being parsed) for the piece route already. */
export function piecesIndexed(dir: string): boolean {
  return cache.has(dir);
}

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

/**
 * The files and symlinks of `dir`'s .manifest by path, cached; requests that arrive while it is
 * being parsed wait for that parse (clients starting at once ask for pieces of the same tree).
 */
function indexOf(dir: string): Promise<Index> {
  const hit = cache.get(dir);
  if (hit) return hit;
  const parsing = readIndex(dir);
  if (cache.size >= CACHED_MANIFESTS) cache.delete(cache.keys().next().value!);
  cache.set(dir, parsing);
  parsing.catch(() => cache.get(dir) === parsing && cache.delete(dir));
  return parsing;
}

async function readIndex(dir: string): Promise<Index> {
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
  return indexEntries(entries);
}

/**
 * Checks a piece list against the manifest (throws PieceRefusal: 400 for what it does not list or
 * a range outside a file, 409 for a file a partial holder has not verified yet); returns the
 * pieces with their entries and the total byte count. The tree itself is checked as the pieces
 * are read (piece-reader.ts).
 */
export async function checkPieces(dir: string, pieces: readonly Piece[], partial?: PartialServed): Promise<{ checked: CheckedPiece[]; total: number }> {
  const index = partial ? partialIndex(partial) : await indexOf(dir);
  const checked: CheckedPiece[] = [];
  const indexes: number[] = [];
  let total = 0;
  for (const piece of pieces) {
    const found = index.get(key(piece.path));
    if (!found) throw new PieceRefusal(`'${Buffer.from(piece.path).toString().slice(0, 200)}' is not a file of this implementation`, 400);
    const entry = found.entry;
    const size = entry.size ?? 0;
    if (piece.offset + piece.length > size || (entry.kind === 'symlink' && (piece.offset !== 0 || piece.length !== size))) {
      throw new PieceRefusal(`a piece of '${Buffer.from(piece.path).toString().slice(0, 200)}' lies outside it`, 400);
    }
    indexes.push(found.index);
    checked.push({ piece, entry });
    total += piece.length;
  }
  // The list is right (else 400); is every file verified, on a partial holder (else 409)?
  if (partial) {
    const verified = await partial.verified();
    const first = checked.find((_, i) => !verified.has(indexes[i]!));
    if (first) throw new PieceRefusal(`${quoteNetworkText(first.piece.path, 200)} is not verified here yet`, 409);
  }
  return { checked, total };
}
