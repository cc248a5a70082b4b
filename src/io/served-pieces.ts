// The peer's side of the swarm route, its first half: checks a piece list against the
// implementation's own .manifest (only a file or symlink the manifest lists can be asked for, only
// within its size) before anything is read; piece-reader.ts then checks the tree as it reads.
// Each manifest is indexed once (core/piece-index.ts; per directory, as a store entry never
// changes once it exists). A partial holder's staging dir is checked against the manifest it
// verified, and a piece of a file not verified there yet is a 409 (the client asks again later).
import { type PieceIndex, pieceIndex } from '../core/piece-index.js';
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

const cache = new Map<string, Promise<PieceIndex>>();
const partialIndexes = new WeakMap<Uint8Array, PieceIndex>();

/** The index of a manifest (a 404 PieceRefusal for one the piece route does not serve from). */
function indexManifest(manifest: Uint8Array): PieceIndex {
  try {
    return pieceIndex(manifest);
  } catch {
    // An old-format (sha1) or damaged .manifest: this tree is served only whole.
    throw new PieceRefusal('pieces are served only from new-format manifests', 404);
  }
}

/** Whether `dir`'s .manifest is indexed (or being indexed) for the piece route already. */
export function piecesIndexed(dir: string): boolean {
  return cache.has(dir);
}

/** The number of files and symlinks `dir`'s .manifest lists (a PieceRefusal when it has no new-format one). */
export async function manifestFiles(dir: string): Promise<number> {
  return (await indexOf(dir)).files;
}

/** The index of a partial holder's manifest (cached per manifest). */
function partialIndex(p: PartialServed): PieceIndex {
  let hit = partialIndexes.get(p.manifest);
  if (!hit) partialIndexes.set(p.manifest, (hit = indexManifest(p.manifest)));
  return hit;
}

/**
 * The index of `dir`'s .manifest, cached; requests that arrive while it is being read wait for
 * that read (clients starting at once ask for pieces of the same tree).
 */
function indexOf(dir: string): Promise<PieceIndex> {
  const hit = cache.get(dir);
  if (hit) return hit;
  const reading = readIndex(dir);
  if (cache.size >= CACHED_MANIFESTS) cache.delete(cache.keys().next().value!);
  cache.set(dir, reading);
  reading.catch(() => cache.get(dir) === reading && cache.delete(dir));
  return reading;
}

async function readIndex(dir: string): Promise<PieceIndex> {
  const m = await openManifest(dir);
  if (!m) throw new PieceRefusal('no .manifest here', 404);
  try {
    if (m.size > MAX_MANIFEST) throw new PieceRefusal('the .manifest is too large to serve pieces from', 404);
    return indexManifest(await m.handle.readFile());
  } finally {
    await m.handle.close();
  }
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
  const numbers: number[] = [];
  let total = 0;
  for (const piece of pieces) {
    const file = index.find(piece.path);
    if (file === undefined) throw new PieceRefusal(`'${Buffer.from(piece.path).toString().slice(0, 200)}' is not a file of this implementation`, 400);
    const size = index.size(file);
    const symlink = index.isSymlink(file);
    if (piece.offset + piece.length > size || (symlink && (piece.offset !== 0 || piece.length !== size))) {
      throw new PieceRefusal(`a piece of '${Buffer.from(piece.path).toString().slice(0, 200)}' lies outside it`, 400);
    }
    numbers.push(file);
    checked.push({ piece, size, symlink });
    total += piece.length;
  }
  // The list is right (else 400); is every file verified, on a partial holder (else 409)?
  if (partial) {
    const verified = await partial.verified(numbers);
    const first = checked.find((_, i) => !verified.has(numbers[i]!));
    if (first) throw new PieceRefusal(`${quoteNetworkText(first.piece.path, 200)} is not verified here yet`, 409);
  }
  return { checked, total };
}
