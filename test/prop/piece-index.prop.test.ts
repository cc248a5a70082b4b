// The piece route's manifest index (core/piece-index.ts) against parseManifest: for any manifest
// renderManifest writes (random trees, raw non-UTF-8 names included) it lists the same files and
// symlinks with the same numbers, sizes and kinds; and it refuses the old format, malformed lines
// and names with an empty, '.' or '..' component (which parseManifest lets through).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ManifestEntry, renderManifest } from '../../src/core/manifest-format.js';
import { parseManifest } from '../../src/core/manifest-table.js';
import { pieceIndex } from '../../src/core/piece-index.js';

const HASH = 'a'.repeat(64);
const key = (p: Uint8Array) => Buffer.from(p).toString('latin1');

/** A name: printable bytes and some high ones, no slash or newline, never '.' or '..'. */
const name = fc
  .uint8Array({ minLength: 1, maxLength: 8 })
  .map((a) => Buffer.from(a.map((c) => (c === 0x2f || c === 0x0a || c < 0x20 ? 0x61 + (c % 26) : c))))
  .filter((b) => b.toString('latin1') !== '.' && b.toString('latin1') !== '..');

/** Random trees as entries: directories up to three deep, files, executables and symlinks. */
const tree = fc.array(fc.tuple(fc.array(name, { maxLength: 3 }), name, fc.constantFrom('file', 'exec', 'symlink'), fc.nat({ max: 5_000_000_000 })), { maxLength: 60 }).map((items) => {
  const entries = new Map<string, ManifestEntry>();
  for (const [dirs, leaf, kind, size] of items) {
    const under = (parts: Buffer[]) => Buffer.concat(parts.flatMap((d, i) => (i ? [Buffer.from('/'), d] : [d])));
    for (let i = 1; i <= dirs.length; i++) {
      const p = under(dirs.slice(0, i));
      if (!entries.has(key(p))) entries.set(key(p), { path: p, kind: 'dir', mtime: 1n });
    }
    const path = under([...dirs, leaf]);
    if (entries.has(key(path))) continue;
    entries.set(key(path), kind === 'symlink' ? { path, kind, size: size % 4096, hash: HASH } : { path, kind: 'file', exec: kind === 'exec', size, mtime: 7n, hash: HASH });
  }
  return [...entries.values()];
});

describe('pieceIndex', () => {
  it('lists what parseManifest lists: same numbers, sizes and kinds', () => {
    let compared = 0;
    fc.assert(
      fc.property(tree, (entries) => {
        let manifest: Buffer;
        try {
          manifest = renderManifest(entries, 'sha256new');
        } catch {
          return; // a tree renderManifest refuses (a file and a directory of one name)
        }
        const want = parseManifest(manifest).filter((e) => e.kind !== 'dir');
        const index = pieceIndex(manifest);
        if (want.length > 5) compared++;
        expect(index.files).toBe(want.length);
        const numbers = new Map(want.map((e, i) => [key(e.path), i]));
        want.forEach((e, i) => {
          expect(index.find(e.path)).toBe(i);
          expect(index.size(i)).toBe(e.size);
          expect(index.isSymlink(i)).toBe(e.kind === 'symlink');
          // Names it does not list (or lists as another file) are not taken for this one.
          for (const other of [Buffer.concat([e.path, Buffer.from('~')]), e.path.subarray(1), Buffer.from(e.path).reverse()]) {
            expect(index.find(other)).toBe(numbers.get(key(other)));
          }
        });
      }),
      { numRuns: 200 },
    );
    expect(compared).toBeGreaterThan(50);
  });

  it('finds nothing it does not list', () => {
    const index = pieceIndex(Buffer.from(`F ${HASH} 1 5 a\nD /d\nS ${HASH} 1 l\n`));
    const find = (p: string) => index.find(Buffer.from(p));
    expect(find('a')).toBe(0);
    expect(find('d/l')).toBe(1);
    expect(find('d')).toBeUndefined();
    expect(find('l')).toBeUndefined();
    expect(find('d/')).toBeUndefined();
    expect(find('/l')).toBeUndefined();
    expect(find('dl')).toBeUndefined();
    expect(find('.manifest')).toBeUndefined();
  });

  it.each([
    ['the old format', `D 123 /d\nF ${HASH} 1 5 a\n`],
    ['a missing newline', `F ${HASH} 1 5 a`],
    ['an unknown line', `Q ${HASH} 1 5 a\n`],
    ['a bad size', `F ${HASH} 1 -5 a\n`],
    ['too few fields', `F ${HASH} 5 a\n`],
    ['a slash in a name', `F ${HASH} 1 5 a/b\n`],
    ['a name ..', `F ${HASH} 1 5 ..\n`],
    ['a directory ..', `D /..\nF ${HASH} 1 5 passwd\n`],
    ['a directory with a .. inside', `D /a/../..\nF ${HASH} 1 5 passwd\n`],
    ['a directory .', `D /.\nF ${HASH} 1 5 a\n`],
    ['an empty component', `D /a//b\nF ${HASH} 1 5 a\n`],
    ['the root as a directory line', `D /\nF ${HASH} 1 5 a\n`],
    ['an empty name', `F ${HASH} 1 5 \n`],
  ])('refuses %s', (_, text) => {
    expect(() => pieceIndex(Buffer.from(text))).toThrow(/manifest line/);
  });
});
