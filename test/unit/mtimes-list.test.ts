// The /mtimes route's body: the peer's walk (lstat only, never into a symlinked directory), the
// lenient parser, and the staging tree's finish(), which applies only what the manifest lists as
// a directory or a symlink, and leaves everything else (files, unknown paths) alone.
import { lstatSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestTable } from '../../src/core/manifest-table.js';
import { mtimeLine, parseMtimes } from '../../src/core/mtimes-list.js';
import { treeMtimes } from '../../src/io/served-mtimes.js';
import { finish } from '../../src/io/swarm-staging.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { at, buildTree, tempDir } from '../helpers/trees.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
const temp = () => {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
};
const secs = (p: Buffer) => Math.floor(lstatSync(p).mtimeMs / 1000);

describe('mtimes body', () => {
  it('lines are `<seconds> /<path>`, raw bytes; the parser skips malformed and cut-short lines', () => {
    const raw = Buffer.from([0x61, 0xff, 0x20, 0x62]);
    const body = Buffer.concat([
      mtimeLine(12n, Buffer.from('bin')),
      mtimeLine(1_500_000_000, raw),
      Buffer.from('x /bad\n07 /leading-zero\n5 no-slash\n9 /\n\n-3 /old\n'),
      Buffer.from('42 /cut-short'),
    ]);
    const m = parseMtimes(body);
    expect([...m.entries()]).toEqual([
      ['bin', 12n],
      [raw.toString('latin1'), 1_500_000_000n],
      ['old', -3n],
    ]);
  });

  it('the peer lists every directory and symlink of the tree with its lstat mtime, never following a link', async () => {
    const root = temp();
    buildTree(`${root}/t`, [
      { path: 'a', kind: 'dir', mtime: 1_000 },
      { path: 'a/f', kind: 'file', content: 'x', mtime: 5 },
      { path: 'a/b', kind: 'dir', mtime: 2_000 },
      { path: 'a/b/up', kind: 'symlink', target: '..', mtime: 3_000 },
      { path: 'out', kind: 'symlink', target: root, mtime: 4_000 },
      { path: Buffer.from([0x6e, 0xe9]), kind: 'dir', mtime: 6_000 },
    ]);
    const m = parseMtimes(await treeMtimes(`${root}/t`));
    expect(Object.fromEntries(m)).toEqual({ a: 1_000n, 'a/b': 2_000n, 'a/b/up': 3_000n, out: 4_000n, [Buffer.from([0x6e, 0xe9]).toString('latin1')]: 6_000n });
  });

  it('finish() sets symlinks and directories from the body, only for the manifest\'s D and S paths', async () => {
    const root = temp();
    const tree = `${root}/t`;
    buildTree(tree, [
      { path: 'd', kind: 'dir' },
      { path: 'd/f', kind: 'file', content: 'x', mode: 0o444, mtime: 77 },
      { path: 'd/e', kind: 'dir' },
      { path: 'd/e/l', kind: 'symlink', target: '../f' },
    ]);
    const entries = ManifestTable.parse((await manifestOfTree(tree, 'sha256new')).manifest);
    const body = Buffer.concat([
      mtimeLine(1_100, Buffer.from('d')),
      mtimeLine(1_200, Buffer.from('d/e')),
      mtimeLine(1_300, Buffer.from('d/e/l')),
      mtimeLine(1_400, Buffer.from('d/f')), // a file: its mtime is the manifest's, not the body's
      mtimeLine(1_500, Buffer.from('nowhere')),
    ]);
    const before = await manifestOfTree(tree, 'sha256new');
    await finish(tree, entries, parseMtimes(body));
    expect((await manifestOfTree(tree, 'sha256new')).manifest).toEqual(before.manifest);
    expect([secs(at(tree, 'd')), secs(at(tree, 'd/e')), secs(at(tree, 'd/e/l')), secs(at(tree, 'd/f'))]).toEqual([1_100, 1_200, 1_300, 77]);
    expect(lstatSync(at(tree, 'd')).mode & 0o777).toBe(0o555);
  });
});
