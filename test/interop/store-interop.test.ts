// Interop with the real 0install 2.18 in a sandbox of XDG dirs: what 0share adds passes
// `0install store verify`, what 0install adds passes 0share's verify, both find the same stores,
// and a failed add leaves nothing 0install would see.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { addDirectory, commitStaged, makeTmpDir, removeTree, verifyEntry } from '../../src/io/store-add.js';
import { defaultStores, listImplementations, lookupDigest } from '../../src/io/stores.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { type TreeSpec, buildTree } from '../helpers/trees.js';
import { type ZeroSandbox, need0install, zeroSandbox, zi, ziResult } from '../helpers/zeroinstall.js';

const SAMPLE: TreeSpec[] = [
  { path: 'MyFile', kind: 'file', content: 'Hello', mtime: 2 },
  { path: 'My Dir', kind: 'dir' },
  { path: 'My Dir/!a file!', kind: 'file', content: 'Some data.', mtime: 2 },
  { path: 'My Dir/!a file!.exe', kind: 'file', content: 'Some code.', mode: 0o500, mtime: 2 },
  { path: 'a symlink', kind: 'symlink', target: '/the/symlink/target' },
  { path: 'bin', kind: 'dir', mode: 0o700 },
  { path: 'bin/run', kind: 'file', content: '#!/bin/sh\necho hi\n', mode: 0o755, mtime: 1_700_000_000 },
  { path: 'bin/empty', kind: 'file', mtime: 0 },
  { path: 'bin/dangling', kind: 'symlink', target: '../nowhere' },
];

describe.runIf(need0install())('store interop with 0install', () => {
  let sb: ZeroSandbox;
  beforeEach(() => {
    sb = zeroSandbox();
  });
  afterEach(() => removeTree(sb.root));

  it('finds the same stores as `0install store list`, implementation-dirs included', () => {
    for (const [base, lines] of [['config', '/extra/one\n# comment\n/extra/two\n'], ['sysconfig', '/extra/three\n']] as const) {
      const d = join(sb.root, base, '0install.net', 'injector');
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'implementation-dirs'), lines);
    }
    const listed = zi(sb, ['store', 'list'])
      .split('\n')
      .filter((l) => l.includes(': '))
      .map((l) => l.slice(l.indexOf(': ') + 2));
    expect(defaultStores(sb.env)).toEqual(listed);
  });

  it('what 0share adds passes `0install store verify` and `store find`', async () => {
    const src = join(sb.root, 'src');
    buildTree(src, SAMPLE);
    const { digest } = await manifestOfTree(src, 'sha256new');
    const [userStore] = defaultStores(sb.env);
    const path = await addDirectory(src, userStore!, digest);
    expect(path).toBe(join(sb.userStore, formatDigest(digest)));
    expect(zi(sb, ['store', 'verify', path])).toMatch(/OK/);
    expect(zi(sb, ['store', 'find', formatDigest(digest)]).trim()).toBe(path);
    // The old sha1new form too.
    const { digest: d1 } = await manifestOfTree(src, 'sha1new');
    const p1 = await addDirectory(src, userStore!, d1);
    expect(ziResult(sb, ['store', 'verify', p1]).status).toBe(0);
  });

  it('what 0install adds passes 0share verify, and is listed', async () => {
    const src = join(sb.root, 'src');
    buildTree(src, SAMPLE);
    const digest = zi(sb, ['store', 'manifest', src, 'sha256new']).trim().split('\n').pop()!;
    zi(sb, ['store', 'add', digest, src]);
    const stores = defaultStores(sb.env);
    const path = await lookupDigest(stores, parseDigest(digest));
    expect(path).toBe(zi(sb, ['store', 'find', digest]).trim());
    expect(await verifyEntry(path!)).toMatchObject({ ok: true, differences: [] });
    expect((await listImplementations(stores)).map((i) => i.name)).toEqual([digest]);
  });

  it('both refuse an entry whose contents changed, and 0share says what changed', async () => {
    const src = join(sb.root, 'src');
    buildTree(src, SAMPLE);
    const digest = zi(sb, ['store', 'manifest', src, 'sha256new']).trim().split('\n').pop()!;
    zi(sb, ['store', 'add', digest, src]);
    const path = zi(sb, ['store', 'find', digest]).trim();
    chmodSync(join(path, 'bin'), 0o755);
    chmodSync(join(path, 'bin', 'run'), 0o755);
    writeFileSync(join(path, 'bin', 'run'), '#!/bin/sh\necho HI\n'); // same size, new content
    expect(ziResult(sb, ['store', 'verify', path]).status).not.toBe(0);
    const r = await verifyEntry(path);
    expect(r.ok).toBe(false);
    expect(r.differences).toContain('file bin/run: content differs');
  });

  it('a failed add leaves nothing that 0install would find', async () => {
    const src = join(sb.root, 'src');
    buildTree(src, SAMPLE);
    const { digest } = await manifestOfTree(src, 'sha256new');
    const tmp = await makeTmpDir(sb.userStore);
    buildTree(tmp, SAMPLE);
    writeFileSync(join(tmp, 'MyFile'), 'tampered');
    await expect(commitStaged({ tmpDir: tmp, store: sb.userStore, digest })).rejects.toThrow(/Incorrect manifest/);
    expect(ziResult(sb, ['store', 'find', formatDigest(digest)]).status).not.toBe(0);
    expect(await listImplementations(defaultStores(sb.env))).toEqual([]);
  });
});
