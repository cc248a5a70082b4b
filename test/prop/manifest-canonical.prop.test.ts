// Property: for any manifest text that parses, isCanonical of its entries says exactly whether
// renderManifest writes that text back byte for byte (the swarm commits a verified manifest's own
// bytes only when it does). Texts are canonical manifests of random entries, the same with lines
// swapped, dropped, repeated or renamed, and random line sequences over a few odd names.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCanonical } from '../../src/core/manifest-canonical.js';
import { renderManifest, type ManifestEntry } from '../../src/core/manifest-format.js';
import { parseManifest } from '../../src/core/manifest-table.js';

const NAMES = ['a', 'b', 'B', 'a b', '.manifest', '.', '..', 'é', '\xff', '_'].map((s) => Buffer.from(s, s === '\xff' ? 'latin1' : 'utf8'));
const HASH = 'ab'.repeat(32);

const name = fc.constantFrom(...NAMES);
const path = fc.array(name, { minLength: 1, maxLength: 3 }).map((parts) => Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('/'), p] : [p]))));

/** One manifest line, as parseManifest reads them. */
const line = fc.oneof(
  path.map((p) => Buffer.concat([Buffer.from('D /'), p, Buffer.from('\n')])),
  fc.tuple(fc.constantFrom('F', 'X'), name, fc.constantFrom(0, 5, 1_300_000_000), fc.constantFrom(0, 7)).map(([k, n, m, s]) =>
    Buffer.concat([Buffer.from(`${k} ${HASH} ${m} ${s} `), n, Buffer.from('\n')]),
  ),
  name.map((n) => Buffer.concat([Buffer.from(`S ${HASH} 3 `), n, Buffer.from('\n')])),
);

/** Entries of a random tree (names unique per directory), whose rendering is canonical. */
const tree = fc.uniqueArray(fc.tuple(path, fc.constantFrom('dir', 'file', 'symlink')), { maxLength: 12, selector: ([p]) => p.toString('latin1') }).map((list) => {
  const entries: ManifestEntry[] = [];
  const dirs = new Set<string>();
  for (const [p, kind] of list) {
    const parts = p.toString('latin1').split('/');
    // Every parent a directory (and never a file of the list).
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    if (kind === 'dir') dirs.add(p.toString('latin1'));
    else entries.push({ path: p, kind, exec: false, mtime: 5n, size: 3, hash: HASH });
  }
  const files = entries.filter((e) => !dirs.has(Buffer.from(e.path).toString('latin1')) && ![...dirs].some((d) => d.startsWith(`${Buffer.from(e.path).toString('latin1')}/`)));
  return [...files, ...[...dirs].map((d) => ({ path: Buffer.from(d, 'latin1'), kind: 'dir' as const }))];
});

const render = (entries: ManifestEntry[]) => {
  try {
    return renderManifest(entries, 'sha256new');
  } catch {
    return undefined;
  }
};

/** A canonical text, then one edit of its lines. */
const edited = fc.tuple(tree, fc.constantFrom('none', 'swap', 'drop', 'repeat', 'rename'), fc.nat(), fc.nat(), name).map(([entries, edit, i, j, n]) => {
  const text = render(entries);
  if (!text) return Buffer.alloc(0);
  const lines = text.toString('latin1').split('\n').slice(0, -1);
  if (lines.length === 0) return text;
  const a = i % lines.length;
  const b = j % lines.length;
  if (edit === 'swap') [lines[a], lines[b]] = [lines[b]!, lines[a]!];
  if (edit === 'drop') lines.splice(a, 1);
  if (edit === 'repeat') lines.splice(b, 0, lines[a]!);
  if (edit === 'rename') lines[a] = lines[a]!.replace(/[^ /]+$/, n.toString('latin1'));
  return Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1');
});

const text = fc.oneof(edited, fc.array(line, { maxLength: 8 }).map((ls) => Buffer.concat(ls)));

describe('isCanonical', () => {
  it('is renderManifest(entries) === text, for every text that parses', () => {
    let canonical = 0;
    fc.assert(
      fc.property(text, (t) => {
        let entries: ManifestEntry[];
        try {
          entries = parseManifest(t);
        } catch {
          return;
        }
        const same = render(entries)?.equals(t) ?? false;
        if (same) canonical++;
        expect(isCanonical(entries), t.toString('latin1')).toBe(same);
      }),
      { numRuns: 3000 },
    );
    // Both answers were seen often enough to mean something.
    expect(canonical).toBeGreaterThan(300);
  });

  it('refuses what would lay files out beside the tree, be left out by 0install, or render otherwise', () => {
    const F = `F ${HASH} 5 3`;
    for (const t of [`D /..\n${F} x\n`, `${F} ..\n`, `D /a\nD /a/.\n`, `${F} .manifest\n`, `D /a\nD /a\n`, `${F} a\nD /a\n`, `D /b\nD /a\n`, `D /a/b\n`, `F ${HASH} 5 99999999999999999999 a\n`]) {
      expect(isCanonical(parseManifest(Buffer.from(t))), t).toBe(false);
    }
    expect(isCanonical(parseManifest(Buffer.from(`S ${HASH} 3 .manifest\nD /a\n${F} .manifest\nD /a/b\nD /c\n`)))).toBe(true);
  });
});
