// Property: for random trees whose entries come in manifest order (as the tree walker gives
// them), ManifestLines writes byte for byte what renderManifest writes, whichever entries have
// their fields filled in only after they were added (files the hash worker was reading).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCanonical } from '../../src/core/manifest-canonical.js';
import { type ManifestEntry, renderManifest } from '../../src/core/manifest-format.js';
import { ManifestLines } from '../../src/core/manifest-lines.js';

type Node = { kind: 'file'; exec: boolean; mtime: bigint; size: number; hash: string } | { kind: 'symlink'; size: number; hash: string } | { kind: 'dir'; children: Array<[Buffer, Node]> };

const nameArb = fc
  .oneof(fc.constantFrom('a', 'B', '.manifest', 'a b', 'é', 'z'), fc.string({ minLength: 1, maxLength: 4 }))
  .map((s) => Buffer.from(s))
  .filter((b) => !b.includes(0x2f) && !b.includes(0x0a) && b.toString() !== '.' && b.toString() !== '..');
const hashArb = fc.constantFrom('ab'.repeat(20), 'cd'.repeat(32), '0'.repeat(64));

const { dir: dirArb } = fc.letrec<{ node: Node; dir: Node }>((tie) => ({
  node: fc.oneof(
    { maxDepth: 3, depthIdentifier: 't' },
    fc.record({ kind: fc.constant('file' as const), exec: fc.boolean(), mtime: fc.bigInt(-5n, 1n << 40n), size: fc.nat(), hash: hashArb }),
    fc.record({ kind: fc.constant('symlink' as const), size: fc.nat(4096), hash: hashArb }),
    tie('dir'),
  ),
  dir: fc.record({
    kind: fc.constant('dir' as const),
    children: fc.uniqueArray(fc.tuple(nameArb, tie('node')), { maxLength: 5, selector: ([n]) => n.toString('latin1') }),
  }),
}));

/** The entries in manifest order: a directory's files and symlinks by name, then its subdirectories. */
function ordered(node: Node, prefix: Buffer, out: ManifestEntry[] = []): ManifestEntry[] {
  if (node.kind !== 'dir') return out;
  const kids = [...node.children].sort(([a], [b]) => Buffer.compare(a, b));
  const path = (name: Buffer) => (prefix.length ? Buffer.concat([prefix, Buffer.from('/'), name]) : name);
  for (const [name, kid] of kids) {
    if (kid.kind === 'dir') continue;
    if (prefix.length === 0 && kid.kind === 'file' && name.toString() === '.manifest') continue; // as the walker skips it
    out.push(kid.kind === 'file' ? { path: path(name), kind: 'file', exec: kid.exec, mtime: kid.mtime, size: kid.size, hash: kid.hash } : { path: path(name), kind: 'symlink', size: kid.size, hash: kid.hash });
  }
  for (const [name, kid] of kids) {
    if (kid.kind !== 'dir') continue;
    out.push({ path: path(name), kind: 'dir', mtime: 0n });
    ordered(kid, path(name), out);
  }
  return out;
}

describe('ManifestLines', () => {
  it('writes what renderManifest writes for entries in manifest order, fields filled in late or not', () => {
    fc.assert(
      fc.property(dirArb, fc.array(fc.boolean(), { maxLength: 40 }), (tree, late) => {
        const entries = ordered(tree, Buffer.alloc(0));
        expect(isCanonical(entries)).toBe(true);
        const lines = new ManifestLines();
        const fill: Array<() => void> = [];
        entries.forEach((e, i) => {
          if (e.kind !== 'file' || !late[i]) return lines.add(e);
          // Added blank; its fields come later, as from the hash worker.
          const blank = { ...e, exec: false, mtime: 0n, size: 0, hash: '' };
          lines.add(blank, false);
          fill.push(() => Object.assign(blank, e));
        });
        fill.forEach((f) => f());
        expect(lines.text().toString('latin1')).toBe(renderManifest(entries, 'sha256new').toString('latin1'));
      }),
      { numRuns: 300 },
    );
  });

  it('grows past its first buffer', () => {
    const entries: ManifestEntry[] = Array.from({ length: 3000 }, (_, i) => ({ path: Buffer.from(`f${String(i).padStart(5, '0')}`), kind: 'file', exec: i % 2 === 0, mtime: BigInt(i), size: i, hash: 'ef'.repeat(32) }));
    const lines = new ManifestLines();
    entries.forEach((e, i) => lines.add(e, i % 7 !== 0));
    expect(lines.text().equals(renderManifest(entries, 'sha256'))).toBe(true);
  });
});
