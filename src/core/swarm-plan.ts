// What a swarm fetch must get, from a verified manifest: every file and symlink it lists, cut
// into work units. Small files are batched (up to BATCH_BYTES or BATCH_FILES per unit, in
// manifest order, so a batch reads neighbouring files on the peer), and each file of at least
// RANGE_FROM bytes is cut into ranges of RANGE_BYTES, so that one large file can come from
// several peers at once. Pure: the units only name files by their index in the plan.
import type { ManifestEntry } from './manifest-format.js';

export interface PlanFile {
  readonly index: number;
  readonly entry: ManifestEntry;
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

/** The files and symlinks of a manifest, in its order. */
export function planFiles(entries: readonly ManifestEntry[]): PlanFile[] {
  return entries.filter((e) => e.kind !== 'dir').map((entry, index) => ({ index, entry }));
}

export function unitBytes(pieces: readonly UnitPiece[]): number {
  return pieces.reduce((n, p) => n + p.length, 0);
}

/** Cuts `files` (all of them, or those `wanted` says) into units numbered from `firstId`. */
export function planUnits(files: readonly PlanFile[], limits: PlanLimits = DEFAULT_LIMITS, firstId = 0, wanted: (f: PlanFile) => boolean = () => true): SwarmUnit[] {
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
  for (const f of files) {
    if (!wanted(f)) continue;
    const size = f.entry.size ?? 0;
    if (f.entry.kind === 'file' && size >= limits.rangeFrom) {
      for (let offset = 0; offset < size; offset += limits.rangeBytes) {
        push([{ file: f.index, offset, length: Math.min(limits.rangeBytes, size - offset) }], f.index);
      }
      continue;
    }
    if (batch.length && (batchBytes + size > limits.batchBytes || batch.length >= limits.batchFiles)) flush();
    batch.push({ file: f.index, offset: 0, length: size });
    batchBytes += size;
  }
  flush();
  return units;
}
