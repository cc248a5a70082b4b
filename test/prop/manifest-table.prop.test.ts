// Property: the compact table of a manifest (src/core/manifest-table.ts) gives, for every line of
// any canonical manifest, the entry a plain reading of the text gives (paths joined to their
// `D` line, raw-byte names, hashes, mtimes, sizes, exec bits), and so do its light accessors
// (path, name, kind, size) and a swarm plan over it (the same files as a plan over the entries).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderManifest, type ManifestEntry } from '../../src/core/manifest-format.js';
import { ManifestTable, parseManifest } from '../../src/core/manifest-table.js';
import { PathArena } from '../../src/core/path-arena.js';
import { planFiles } from '../../src/core/swarm-plan.js';

const NAMES = ['a', 'b', 'B', 'a b', 'long-name.js', 'é', '\xff', '_', 'x'.repeat(40)].map((s) => Buffer.from(s, s === '\xff' ? 'latin1' : 'utf8'));
const name = fc.constantFrom(...NAMES);
const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((parts) => Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('/'), p] : [p]))));
const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

/** A random tree's entries (every parent a directory), any sizes, mtimes and exec bits. */
const tree = fc
  .uniqueArray(
    fc.record({ path, kind: fc.constantFrom('dir', 'file', 'symlink'), exec: fc.boolean(), mtime: fc.bigInt({ min: 0n, max: 2n ** 40n }), size: fc.nat(), hash: hex }),
    { maxLength: 25, selector: (e) => e.path.toString('latin1') },
  )
  .map((list) => {
    const dirs = new Set<string>();
    for (const e of list) {
      const parts = e.path.toString('latin1').split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      if (e.kind === 'dir') dirs.add(e.path.toString('latin1'));
    }
    const leaves = list.filter((e) => e.kind !== 'dir' && !dirs.has(e.path.toString('latin1')));
    const entries: ManifestEntry[] = leaves.map((e) =>
      e.kind === 'file' ? { path: e.path, kind: 'file', exec: e.exec, mtime: e.mtime, size: e.size, hash: e.hash } : { path: e.path, kind: 'symlink', size: e.size, hash: e.hash },
    );
    return [...entries, ...[...dirs].map((d): ManifestEntry => ({ path: Buffer.from(d, 'latin1'), kind: 'dir' }))];
  });

/** The entries a plain reading of the text gives, line by line. */
function readText(text: Buffer): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  let dir = '';
  for (const line of text.toString('latin1').split('\n').slice(0, -1)) {
    if (line.startsWith('D /')) {
      dir = line.slice(3);
      out.push({ path: Buffer.from(dir, 'latin1'), kind: 'dir' });
      continue;
    }
    const fields = line.split(' ');
    const at = (n: number) => Buffer.from((dir ? `${dir}/` : '') + fields.slice(n).join(' '), 'latin1');
    if (fields[0] === 'S') out.push({ path: at(3), kind: 'symlink', hash: fields[1]!, size: Number(fields[2]) });
    else out.push({ path: at(4), kind: 'file', exec: fields[0] === 'X', hash: fields[1]!, mtime: BigInt(fields[2]!), size: Number(fields[3]) });
  }
  return out;
}

const plain = (e: ManifestEntry) => ({ ...e, path: Buffer.from(e.path).toString('latin1') });

describe('ManifestTable', () => {
  it('gives each line the entry a plain reading gives, with and without an arena, and as parseManifest does', () => {
    fc.assert(
      fc.property(tree, (entries) => {
        const text = renderManifest(entries, 'sha256new');
        const want = readText(text).map(plain);
        const table = ManifestTable.parse(text);
        expect(table.length).toBe(want.length);
        const arena = new PathArena();
        for (let i = 0; i < table.length; i++) {
          expect(plain(table.entry(i))).toEqual(want[i]);
          expect(plain(table.entry(i, arena))).toEqual(want[i]);
          expect(table.path(i).toString('latin1')).toBe(want[i]!.path);
          expect(table.name(i).toString('latin1')).toBe(want[i]!.path.split('/').at(-1));
          expect(table.kind(i)).toBe(want[i]!.kind);
          expect(table.size(i)).toBe(want[i]!.size ?? 0);
        }
        expect([...table].map(plain)).toEqual(want);
        expect([...table.ofKind('dir')].map(plain)).toEqual(want.filter((e) => e.kind === 'dir'));
        expect(parseManifest(text).map(plain)).toEqual(want);
      }),
    );
  });

  it('plans the same files over the table as over the entries', () => {
    fc.assert(
      fc.property(tree, (entries) => {
        const text = renderManifest(entries, 'sha256new');
        const fromTable = planFiles(ManifestTable.parse(text));
        const fromEntries = planFiles(parseManifest(text));
        expect(fromTable.length).toBe(fromEntries.length);
        for (let i = 0; i < fromTable.length; i++) {
          const { index, entry } = fromTable.get(i);
          expect([index, plain(entry)]).toEqual([i, plain(fromEntries.get(i).entry)]);
          expect(fromTable.path(i).equals(fromEntries.path(i))).toBe(true);
          expect([fromTable.size(i), fromTable.isSymlink(i)]).toEqual([fromEntries.size(i), fromEntries.isSymlink(i)]);
        }
        expect(fromTable.contentBytes()).toBe(fromEntries.contentBytes());
      }),
    );
  });
});
