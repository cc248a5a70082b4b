// The swarm's empty files (src/io/empty-files.ts): every file the verified manifest lists with size
// 0 and the hash of no bytes is made in the staging tree with its final mode and mtime, so no peer
// is asked for it; one with size 0 and another hash, a non-empty file, a symlink and a file the
// fetch already has are left alone.
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentHash, type ManifestEntry } from '../../src/core/manifest-format.js';
import { planFiles } from '../../src/core/swarm-plan.js';
import { makeEmptyFiles } from '../../src/io/empty-files.js';
import { tempDir } from '../helpers/trees.js';

const EMPTY = contentHash(new Uint8Array(0), 'sha256new');
const file = (path: string, size: number, hash: string, exec = false, mtime = 1_400_000_000n): ManifestEntry => ({ path: Buffer.from(path), kind: 'file', size, hash, exec, mtime });

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('makeEmptyFiles', () => {
  it('makes the empty files, verified, with their final mode and mtime, and nothing else', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'lib'), { recursive: true });
    const files = planFiles([
      { path: Buffer.from('lib'), kind: 'dir' },
      file('lib/__init__.py', 0, EMPTY),
      file('lib/run', 0, EMPTY, true, 1_500_000_000n),
      file('lib/odd', 0, 'ab'.repeat(32)),
      file('lib/data', 3, contentHash(Buffer.from('abc'), 'sha256new')),
      { path: Buffer.from('lib/link'), kind: 'symlink', size: 4, hash: contentHash(Buffer.from('data'), 'sha256new') },
      file('lib/kept', 0, EMPTY),
    ]);
    const made = await makeEmptyFiles(tree, files, 'sha256new', new Set([5]));
    expect([...made].sort()).toEqual([0, 1]);
    const st = (name: string) => lstatSync(join(tree, 'lib', name));
    expect([st('__init__.py').mode & 0o7777, st('__init__.py').size, st('__init__.py').mtimeMs / 1000]).toEqual([0o444, 0, 1_400_000_000]);
    expect([st('run').mode & 0o7777, st('run').mtimeMs / 1000]).toEqual([0o555, 1_500_000_000]);
    for (const name of ['odd', 'data', 'link', 'kept']) expect(() => st(name), name).toThrow(/ENOENT/);
  });

  it('fails on a file already there (created O_EXCL, never overwritten)', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const files = planFiles([file('e', 0, EMPTY)]);
    await makeEmptyFiles(tree, files, 'sha256new', new Set());
    await expect(makeEmptyFiles(tree, files, 'sha256new', new Set())).rejects.toThrow(/EEXIST/);
  });
});
