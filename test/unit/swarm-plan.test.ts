// The swarm's pure parts: the piece-list codec (round trip, refusals) and the cutting of a
// manifest into work units (every byte of every file in exactly one unit, batches and ranges
// within their limits).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/core/manifest-format.js';
import { decodePieceList, encodePieceList, PieceListError } from '../../src/core/piece-list.js';
import { planFiles, planUnits, type PlanLimits } from '../../src/core/swarm-plan.js';

const name = fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((b) => !b.includes(0x0a));

describe('piece list', () => {
  it('round-trips any pieces, names as raw bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ path: name, offset: fc.nat(), length: fc.nat() }), { minLength: 1, maxLength: 20 }), (pieces) => {
        expect(decodePieceList(encodePieceList(pieces)).map((p) => ({ ...p, path: new Uint8Array(p.path) }))).toEqual(pieces.map((p) => ({ ...p, path: new Uint8Array(p.path) })));
      }),
    );
  });
  it('refuses malformed lists with a message', () => {
    for (const bad of ['', '1 2\n', '01 2 a\n', '1 -2 a\n', '1 2 a', '1  a\n', 'x 2 a\n', `${'9'.repeat(17)} 1 a\n`]) {
      expect(() => decodePieceList(Buffer.from(bad)), JSON.stringify(bad)).toThrow(PieceListError);
    }
  });
});

const file = (path: string, size: number): ManifestEntry => ({ path: Buffer.from(path), kind: 'file', size, hash: 'aa', mtime: 0n });

describe('planUnits', () => {
  const limits: PlanLimits = { batchBytes: 1000, batchFiles: 4, rangeFrom: 5000, rangeBytes: 2000 };
  it('covers every byte of every file exactly once, within the limits', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 12_000 }), { maxLength: 30 }), (sizes) => {
        const entries: ManifestEntry[] = [{ path: Buffer.from('d'), kind: 'dir' }, ...sizes.map((s, i) => file(`d/f${i}`, s))];
        const files = planFiles(entries);
        const units = planUnits(files, limits);
        const covered = new Map<number, number>();
        for (const u of units) {
          expect(u.pieces.length).toBeGreaterThan(0);
          if (u.rangeOf !== undefined) expect(u.pieces).toHaveLength(1);
          else {
            expect(u.pieces.length).toBeLessThanOrEqual(limits.batchFiles);
            if (u.pieces.length > 1) expect(u.bytes).toBeLessThanOrEqual(limits.batchBytes);
          }
          for (const p of u.pieces) covered.set(p.file, (covered.get(p.file) ?? 0) + p.length);
        }
        for (const f of files) expect(covered.get(f.index)).toBe(f.entry.size);
        expect(new Set(units.map((u) => u.id)).size).toBe(units.length);
      }),
    );
  });
  it('cuts a large file into ranges and skips files not wanted', () => {
    const files = planFiles([file('big', 5000), file('small', 10)]);
    expect(planUnits(files, limits).map((u) => u.pieces.map((p) => [p.file, p.offset, p.length]))).toEqual([[[0, 0, 2000]], [[0, 2000, 2000]], [[0, 4000, 1000]], [[1, 0, 10]]]);
    expect(planUnits(files, limits, 7, (i) => i === 1)).toEqual([{ id: 7, pieces: [{ file: 1, offset: 0, length: 10 }], bytes: 10 }]);
  });
});
