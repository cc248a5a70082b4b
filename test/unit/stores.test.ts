// Store discovery from the environment, lookups and listings (reference §2.1–2.2).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import { defaultStores, implementationSize, listImplementations, lookupAny, lookupDigest } from '../../src/io/stores.js';
import { buildTree, tempDir } from '../helpers/trees.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const A = 'sha256new_4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ';
const B = 'sha1new=da39a3ee5e6b4b0d3255bfef95601890afd80709';
const C = 'sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('defaultStores', () => {
  it('uses XDG_CACHE_HOME, then XDG_CACHE_DIRS (empty parts dropped), then implementation-dirs lines reversed', () => {
    const user = join(dir, 'config', '0install.net', 'injector');
    const sys = join(dir, 'sysconfig', '0install.net', 'injector');
    mkdirSync(user, { recursive: true });
    mkdirSync(sys, { recursive: true });
    writeFileSync(join(user, 'implementation-dirs'), '/extra/a\n# a comment\n\n/extra/b\n');
    writeFileSync(join(sys, 'implementation-dirs'), '/extra/c\n/extra/d with space \n');
    const env = {
      HOME: join(dir, 'home'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      XDG_CACHE_DIRS: '/x1::/x2',
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_CONFIG_DIRS: `${join(dir, 'nowhere')}:${join(dir, 'sysconfig')}`,
    };
    expect(defaultStores(env)).toEqual([
      join(dir, 'cache', '0install.net', 'implementations'),
      '/x1/0install.net/implementations',
      '/x2/0install.net/implementations',
      '/extra/d with space ',
      '/extra/c',
      '/extra/b',
      '/extra/a',
    ]);
  });

  it('falls back to ~/.cache, /var/cache, ~/.config and /etc/xdg', () => {
    mkdirSync(join(dir, 'home'));
    const stores = defaultStores({ HOME: join(dir, 'home') });
    expect(stores.slice(0, 2)).toEqual([join(dir, 'home', '.cache', '0install.net', 'implementations'), '/var/cache/0install.net/implementations']);
  });

  it('treats a set-but-empty XDG_CACHE_DIRS as no system stores, like 0install', () => {
    const env = { HOME: dir, XDG_CACHE_HOME: join(dir, 'c'), XDG_CACHE_DIRS: '', XDG_CONFIG_HOME: join(dir, 'n'), XDG_CONFIG_DIRS: '' };
    expect(defaultStores(env)).toEqual([join(dir, 'c', '0install.net', 'implementations')]);
  });

  it('uses ZEROINSTALL_PORTABLE_BASE alone when set', () => {
    mkdirSync(join(dir, 'config', 'injector'), { recursive: true });
    writeFileSync(join(dir, 'config', 'injector', 'implementation-dirs'), '/p\n');
    expect(defaultStores({ ZEROINSTALL_PORTABLE_BASE: dir, XDG_CACHE_HOME: '/ignored' })).toEqual([join(dir, 'cache', 'implementations'), '/p']);
  });
});

describe('lookups and listings', () => {
  let s1: string;
  let s2: string;
  beforeEach(() => {
    s1 = join(dir, 's1');
    s2 = join(dir, 's2');
    buildTree(s1, [{ path: A, kind: 'dir' }, { path: 'tmp-1234abcd', kind: 'dir' }, { path: 'sha256new=4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ', kind: 'dir' }]);
    buildTree(s2, [
      { path: B, kind: 'dir' },
      { path: A, kind: 'dir' },
      { path: C, kind: 'file', content: 'not a directory' },
      { path: 'junk', kind: 'dir' },
      { path: `${A}.json`, kind: 'file' },
    ]);
    symlinkSync(join(s1, A), join(s2, 'sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709'));
  });

  it('finds a digest in the first store that has it, only as a real directory', async () => {
    expect(await lookupDigest([s1, s2], parseDigest(A))).toBe(join(s1, A));
    expect(await lookupDigest([join(dir, 'missing'), s2], parseDigest(B))).toBe(join(s2, B));
    expect(await lookupDigest([s1, s2], parseDigest(C))).toBeUndefined();
    // A symlink named after a digest is not followed (it could lead out of the store).
    expect(await lookupDigest([s2], parseDigest('sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709'))).toBeUndefined();
  });

  it('lookupAny tries each digest in turn', async () => {
    const found = await lookupAny([s1, s2], [parseDigest(C), parseDigest(B), parseDigest(A)]);
    expect(found).toEqual({ digest: parseDigest(B), path: join(s2, B) });
    expect(await lookupAny([s1], [parseDigest(C)])).toBeUndefined();
  });

  it('lists only strict-digest directories, skipping tmp-*, files, symlinks and junk', async () => {
    const list = await listImplementations([s1, join(dir, 'missing'), s2]);
    expect(list.map((i) => [i.name, i.store])).toEqual([
      [A, s1],
      [B, s2], // names sorted within a store: 'sha1new=' < 'sha256new_'
      [A, s2],
    ]);
    expect(list[0]).toEqual({ digest: parseDigest(A), name: A, store: s1, path: join(s1, A) });
  });

  it('sizes an implementation from its .manifest, or from its files', async () => {
    const impl = join(dir, 'impl');
    buildTree(impl, [
      { path: 'a', kind: 'file', content: '12345' },
      { path: 'd', kind: 'dir' },
      { path: 'd/b', kind: 'file', content: '123' },
      { path: 'l', kind: 'symlink', target: 'a-long-target' },
    ]);
    expect(await implementationSize(impl)).toBe(8);
    writeFileSync(join(impl, '.manifest'), `F ${'0'.repeat(64)} 1 100 a\nS ${'0'.repeat(64)} 3 l\nD /d\nX ${'0'.repeat(64)} 1 20 b c\n`);
    expect(await implementationSize(impl)).toBe(120);
  });
});
