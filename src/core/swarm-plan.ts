// What a swarm fetch must get, from a verified manifest: every file and symlink it lists, cut
// into work units. Small files are batched (up to BATCH_BYTES or BATCH_FILES per unit, in
// manifest order, so a batch reads neighbouring files on the peer), and each file of at least
// RANGE_FROM bytes is cut into ranges of RANGE_BYTES, so that one large file can come from
// several peers at once. Pure: the units only name files by their index in the plan.
import type { ManifestEntry } from './manifest-format.js';
import { ManifestTable } from './manifest-table.js';

export interface PlanFile {
  readonly index: number;
  readonly entry: ManifestEntry;
}

/** Where the plan's files come from: a verified manifest's table, or entries in memory. */
type EntrySource = Pick<ManifestTable, 'length' | 'kind' | 'size' | 'path' | 'entry'>;

function arraySource(entries: readonly ManifestEntry[]): EntrySource {
  const path = (i: number) => {
    const p = entries[i]!.path;
    return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  };
  return { length: entries.length, kind: (i) => entries[i]!.kind, size: (i) => entries[i]!.size ?? 0, path, entry: (i) => entries[i]! };
}

/**
 * The files and symlinks of a manifest, in its order, numbered from 0 (the numbering of units,
 * /have and the partial state). A file's entry is made when asked for (`get`), so a plan of a
 * large tree holds one number per file, not its entry.
 */
export class PlanFiles implements Iterable<PlanFile> {
  /** Per plan file, its entry number in the source. */
  private readonly at: Int32Array;

  constructor(private readonly source: EntrySource) {
    let n = 0;
    for (let i = 0; i < source.length; i++) if (source.kind(i) !== 'dir') n++;
    this.at = new Int32Array(n);
    for (let i = 0, j = 0; i < source.length; i++) if (source.kind(i) !== 'dir') this.at[j++] = i;
  }

  get length(): number {
    return this.at.length;
  }

  get(index: number): PlanFile {
    return { index, entry: this.source.entry(this.at[index]!) };
  }

  /** A file's path alone (no entry made). */
  path(index: number): Buffer {
    return this.source.path(this.at[index]!);
  }

  isSymlink(index: number): boolean {
    return this.source.kind(this.at[index]!) === 'symlink';
  }

  /** A file's content length or a symlink's target length. */
  size(index: number): number {
    return this.source.size(this.at[index]!);
  }

  /** Bytes of file content in all (symlink targets not counted). */
  contentBytes(): number {
    let n = 0;
    for (let i = 0; i < this.length; i++) if (!this.isSymlink(i)) n += this.size(i);
    return n;
  }

  *[Symbol.iterator](): Iterator<PlanFile> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }
}

/** A byte range of one file of the plan (a symlink is always whole). */
export interface UnitPiece {
  readonly file: number;
  readonly offset: number;
  readonly length: number;
}

export interface SwarmUnit {
  readonly id: number;
  readonly pieces: readonly UnitPiece[];
  /** Total bytes of its pieces. */
  readonly bytes: number;
  /** Set when the unit is one range of a larger file (the file's index). */
  readonly rangeOf?: number;
}

export interface PlanLimits {
  readonly batchBytes: number;
  readonly batchFiles: number;
  readonly rangeFrom: number;
  readonly rangeBytes: number;
}

export const DEFAULT_LIMITS: PlanLimits = {
  batchBytes: 1024 * 1024,
  batchFiles: 256,
  rangeFrom: 8 * 1024 * 1024,
  rangeBytes: 4 * 1024 * 1024,
};

/** The files and symlinks of a manifest's table (or of entries), in its order. */
export function planFiles(source: ManifestTable | readonly ManifestEntry[]): PlanFiles {
  return new PlanFiles(source instanceof ManifestTable ? source : arraySource(source));
}

export function unitBytes(pieces: readonly UnitPiece[]): number {
  return pieces.reduce((n, p) => n + p.length, 0);
}

/** Cuts `files` (all of them, or those `wanted` says, by plan index) into units numbered from `firstId`. */
export function planUnits(files: PlanFiles, limits: PlanLimits = DEFAULT_LIMITS, firstId = 0, wanted: (index: number) => boolean = () => true): SwarmUnit[] {
  const units: SwarmUnit[] = [];
  let batch: UnitPiece[] = [];
  let batchBytes = 0;
  const push = (pieces: UnitPiece[], rangeOf?: number) =>
    units.push({ id: firstId + units.length, pieces, bytes: unitBytes(pieces), ...(rangeOf !== undefined ? { rangeOf } : {}) });
  const flush = () => {
    if (batch.length) push(batch);
    batch = [];
    batchBytes = 0;
  };
  for (let index = 0; index < files.length; index++) {
    if (!wanted(index)) continue;
    const size = files.size(index);
    if (!files.isSymlink(index) && size >= limits.rangeFrom) {
      for (let offset = 0; offset < size; offset += limits.rangeBytes) {
        push([{ file: index, offset, length: Math.min(limits.rangeBytes, size - offset) }], index);
      }
      continue;
    }
    if (batch.length && (batchBytes + size > limits.batchBytes || batch.length >= limits.batchFiles)) flush();
    batch.push({ file: index, offset: 0, length: size });
    batchBytes += size;
  }
  flush();
  return units;
}
