// Random implementation trees survive packTree → extractTar byte for byte in their manifest: names
// with spaces, UTF-8 and non-UTF-8 bytes, exec bits, mtimes before and after 2038, symlinks with
// any target, nested and empty directories, a top-level .manifest (left out). Plain and gzip.
// Against the real 0install: `tar -xzf` of the packed tree gives the digest 0install computes for
// the original, and `0install store add DIGEST x.tar.gz` accepts it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { removeAll } from '../helpers/tar-fixtures.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDigest } from '../../src/core/digest.js';
import { manifestDigest, renderManifest } from '../../src/core/manifest-format.js';
import { extractTar } from '../../src/io/tar-extract.js';
import { packTree } from '../../src/io/tar-pack.js';
import { walkTree } from '../../src/io/tree-walk.js';
import { need0install, zeroSandbox, zi, ziResult } from '../helpers/zeroinstall.js';

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), '0share-tarrt-'));
});
afterAll(() => removeAll(base));

// Name bytes: ASCII, space, dot, UTF-8 'é' (c3 a9) and bytes that make names invalid UTF-8.
const nameByte = fc.constantFrom(0x61, 0x62, 0x5a, 0x20, 0x2e, 0x5f, 0xc3, 0xa9, 0xff);
const leaf = fc.array(nameByte, { minLength: 1, maxLength: 12 });
const mtime = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 2 ** 31, max: 2 ** 33 }));

const item = fc.record({
  parent: fc.nat(),
  name: leaf,
  kind: fc.constantFrom('file', 'file', 'file', 'dir', 'symlink'),
  content: fc.uint8Array({ maxLength: 3000 }),
  exec: fc.boolean(),
  mtime,
  target: fc.array(fc.constantFrom(0x61, 0x2f, 0x2e, 0x20, 0xff, 0x0a), { minLength: 1, maxLength: 20 }),
});
const tree = fc.record({ items: fc.array(item, { maxLength: 25 }), dotManifest: fc.boolean() });
type Tree = typeof tree extends fc.Arbitrary<infer T> ? T : never;

/** Creates the tree under a new directory and returns it. */
function makeTree(t: Tree): string {
  const root = mkdtempSync(join(base, 'src-'));
  const dirs: Buffer[] = [Buffer.from(root)];
  const used = new Set<string>();
  for (const it of t.items) {
    const name = Buffer.from(it.name);
    if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) continue;
    const parent = dirs[it.parent % dirs.length]!;
    const path = Buffer.concat([parent, Buffer.from('/'), name]);
    const key = path.toString('latin1');
    if (used.has(key)) continue;
    if (parent.equals(dirs[0]!) && name.equals(Buffer.from('.manifest'))) continue;
    used.add(key);
    const m = it.mtime;
    if (it.kind === 'dir') {
      mkdirSync(path);
      dirs.push(path);
    } else if (it.kind === 'symlink') {
      symlinkSync(Buffer.from(it.target), path);
    } else {
      writeFileSync(path, it.content, { mode: it.exec ? 0o755 : 0o644 });
      utimesSync(path, m, m);
    }
  }
  if (t.dotManifest) writeFileSync(join(root, '.manifest'), 'left out');
  return root;
}

describe('packTree → extractTar round trip', () => {
  it('reproduces the manifest of random trees, plain and gzip', async () => {
    await fc.assert(
      fc.asyncProperty(tree, fc.boolean(), async (t, gz) => {
        const src = makeTree(t);
        const expected = renderManifest(await walkTree(src, 'sha256new'), 'sha256new');
        const tar = await buffer(packTree(src));
        const dest = mkdtempSync(join(base, 'dst-'));
        const result = await extractTar([gz ? gzipSync(tar) : tar], dest, { alg: 'sha256new' });
        expect(result.manifest.toString('latin1')).toBe(expected.toString('latin1'));
        const onDisk = renderManifest(await walkTree(dest, 'sha256new'), 'sha256new');
        expect(onDisk.toString('latin1')).toBe(expected.toString('latin1'));
        // the old sha1 format also carries directory mtimes (compare its D lines)
        const dLines = (m: Buffer) => m.toString('latin1').split('\n').filter((l) => l.startsWith('D '));
        expect(dLines(renderManifest(result.entries, 'sha1'))).toEqual(dLines(renderManifest(await walkTree(src, 'sha1'), 'sha1')));
        removeAll(src);
        removeAll(dest);
      }),
      { numRuns: 100 },
    );
  });

  it.skipIf(!need0install())('tar -xzf and 0install store add accept what packTree sends', async () => {
    const sandbox = zeroSandbox();
    try {
      await fc.assert(
        fc.asyncProperty(tree, async (t) => {
          const src = makeTree(t);
          const digest = formatDigest(manifestDigest(renderManifest(await walkTree(src, 'sha256new'), 'sha256new'), 'sha256new'));
          expect(zi(sandbox, ['digest', '--algorithm=sha256new', src]).trim()).toBe(digest);
          const tgz = join(base, `t-${Date.now()}.tar.gz`);
          writeFileSync(tgz, gzipSync(await buffer(packTree(src))));
          const out = mkdtempSync(join(base, 'gnutar-'));
          execFileSync('tar', ['-xzf', tgz, '-C', out], { stdio: 'ignore' });
          expect(zi(sandbox, ['digest', '--algorithm=sha256new', out]).trim()).toBe(digest);
          const add = ziResult(sandbox, ['store', 'add', digest, tgz]);
          expect(add.status, add.stderr).toBe(0);
          removeAll(src);
          removeAll(out);
          rmSync(tgz);
        }),
        { numRuns: 6 },
      );
    } finally {
      removeAll(sandbox.root);
    }
  });
});
