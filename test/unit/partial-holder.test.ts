// Partial holders: the staging dir's names and the verified-file mark (pure), and the peer's
// reading of a partial dir on disk (src/io/partial-holders.ts): the lock, the manifest's hash,
// the verified files under real directories only, a dir that vanishes, and what the fetch's state
// file says (and a scan, when it has none) of the files verified and being fetched; the piece
// route's own check of each file asked for.
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import type { ManifestEntry } from '../../src/core/manifest-format.js';
import { digestOfPartialName, hasVerifiedMark, lockPid, partialDirName } from '../../src/core/partial-holder.js';
import { encodeHave } from '../../src/core/have-bitmap.js';
import { fileStates, findPartial, listPartials, verifiedAmong, verifiedFiles } from '../../src/io/partial-holders.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { buildTree, tempDir } from '../helpers/trees.js';

const D = `sha256new_${'A'.repeat(52)}`;
/** An ever later `now`, past every cache's time to live. */
let clock = 1e9;
const later = () => (clock += 10_000);

describe('partial dir names and locks', () => {
  it('tmp-partial-<digest>, and nothing else, names a partial dir', () => {
    const d: Digest = { alg: 'sha256new', value: 'A'.repeat(52) };
    expect(partialDirName(d)).toBe(`tmp-partial-${D}`);
    expect(digestOfPartialName(`tmp-partial-${D}`)).toEqual(d);
    for (const n of [`tmp-partial-${D}.lock`, D, `tmp-${D}`, 'tmp-partial-', `tmp-partial-sha256new=${'A'.repeat(52)}`, `tmp-partial-${D}x`]) {
      expect(digestOfPartialName(n), n).toBeUndefined();
    }
  });
  it('a lock holds a positive decimal pid', () => {
    expect(lockPid('1234')).toBe(1234);
    expect(lockPid(' 77\n')).toBe(77);
    for (const t of ['', '0', '-1', '12a', '1e3', '0x10', '99999999999', '1 2']) expect(lockPid(t), t).toBeUndefined();
  });
});

describe('hasVerifiedMark', () => {
  const f: ManifestEntry = { path: Buffer.from('a'), kind: 'file', exec: false, mtime: 1000n, size: 5, hash: '00' };
  const x: ManifestEntry = { ...f, exec: true };
  const st = { isFile: true, mode: 0o100444, size: 5, mtimeMs: 1_000_999 };
  it('is the final mode with the manifest size and mtime (whole seconds)', () => {
    expect(hasVerifiedMark(f, st)).toBe(true);
    expect(hasVerifiedMark(x, { ...st, mode: 0o100555 })).toBe(true);
  });
  it('is missing on a file still being written, of another size or mtime, of the other mode, or not a regular file', () => {
    expect(hasVerifiedMark(f, { ...st, mode: 0o100600 })).toBe(false);
    expect(hasVerifiedMark(f, { ...st, mode: 0o100644 })).toBe(false);
    expect(hasVerifiedMark(f, { ...st, mode: 0o100555 })).toBe(false);
    expect(hasVerifiedMark(x, st)).toBe(false);
    expect(hasVerifiedMark(f, { ...st, size: 4 })).toBe(false);
    expect(hasVerifiedMark(f, { ...st, mtimeMs: 1_001_000 })).toBe(false);
    expect(hasVerifiedMark(f, { ...st, isFile: false })).toBe(false);
    expect(hasVerifiedMark({ ...f, kind: 'symlink' }, st)).toBe(false);
  });
});

describe('partial holders on disk', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: string;
  let dir: string;
  let digest: Digest;
  beforeAll(async () => {
    tmp = tempDir('0share-partial-unit-');
    const src = join(tmp.dir, 'src');
    buildTree(src, [
      { path: 'a', kind: 'file', content: 'aaa', mtime: 1000 },
      { path: 'sub', kind: 'dir' },
      { path: 'sub/b', kind: 'file', content: 'bbb', mtime: 1000 },
      { path: 'sub/l', kind: 'symlink', target: '../a' },
    ]);
    const m = await manifestOfTree(src, 'sha256new');
    digest = m.digest;
    store = join(tmp.dir, 'store');
    mkdirSync(store);
    dir = join(store, partialDirName(digest));
    renameSync(src, dir);
    for (const p of ['a', 'sub/b']) {
      chmodSync(join(dir, p), 0o444);
      utimesSync(join(dir, p), 1000, 1000);
    }
    writeFileSync(join(dir, '.manifest'), m.manifest);
    writeFileSync(`${dir}.lock`, `${process.pid}\n`);
  });
  afterAll(() => tmp.cleanup());

  it('finds it, lists it, and sees every file verified', async () => {
    const h = await findPartial([join(tmp.dir, 'none'), store], digest, later());
    expect(h?.dir).toBe(dir);
    expect(h?.files.length).toBe(3);
    expect(await verifiedFiles(h!, 0)).toEqual(new Set([0, 1, 2]));
    expect(await listPartials([store])).toEqual([{ digest: formatDigest(digest), store, verified: 3, files: 3 }]);
  });

  it('takes no file under a directory that became a symlink as verified', async () => {
    const h = (await findPartial([store], digest, later()))!;
    renameSync(join(dir, 'sub'), join(tmp.dir, 'sub'));
    symlinkSync(join(tmp.dir, 'sub'), join(dir, 'sub'));
    try {
      // (A fresh scan: the cached one is older than the TTL at this `now`.)
      expect(await verifiedFiles(h, 1e12)).toEqual(new Set([0]));
    } finally {
      rmSync(join(dir, 'sub'));
      renameSync(join(tmp.dir, 'sub'), join(dir, 'sub'));
    }
  });

  it('is none when a .manifest is a symlink, the lock is not a pid, or the dir is gone', async () => {
    renameSync(join(dir, '.manifest'), join(tmp.dir, 'm'));
    symlinkSync(join(tmp.dir, 'm'), join(dir, '.manifest'));
    expect(await findPartial([store], digest, later())).toBeUndefined();
    rmSync(join(dir, '.manifest'));
    renameSync(join(tmp.dir, 'm'), join(dir, '.manifest'));
    expect(await findPartial([store], digest, later())).toBeDefined();
    writeFileSync(`${dir}.lock`, 'nobody');
    expect(await findPartial([store], digest, later())).toBeUndefined();
    writeFileSync(`${dir}.lock`, `${process.pid}`);
    renameSync(dir, join(tmp.dir, 'moved'));
    expect(await findPartial([store], digest, later())).toBeUndefined();
    expect(await listPartials([store])).toEqual([]);
    renameSync(join(tmp.dir, 'moved'), dir);
  });

  it("answers the files' states from the fetch's state file, or else from a scan", async () => {
    const h = (await findPartial([store], digest, later()))!;
    const both = (v: number[], f: number[]) => Buffer.concat([encodeHave(3, (i) => v.includes(i)), encodeHave(3, (i) => f.includes(i))]);
    const states = async () => {
      const s = await fileStates(h, later());
      return { verified: [...s.verified].sort(), fetching: [...s.fetching].sort() };
    };
    try {
      writeFileSync(`${dir}.have`, both([0], [1]));
      expect(await states()).toEqual({ verified: [0], fetching: [1] });
      // A state file of the wrong size is no answer: the dir is scanned, where a regular file
      // without the mark is being fetched.
      writeFileSync(`${dir}.have`, Buffer.alloc(3));
      chmodSync(join(dir, 'sub/b'), 0o600);
      expect(await states()).toEqual({ verified: [0, 2], fetching: [1] });
      rmSync(`${dir}.have`);
      chmodSync(join(dir, 'sub/b'), 0o444);
      expect(await states()).toEqual({ verified: [0, 1, 2], fetching: [] });
    } finally {
      rmSync(`${dir}.have`, { force: true });
      chmodSync(join(dir, 'sub/b'), 0o444);
    }
  });

  it('serves a piece only of a file that bears the mark now, whatever the state file says', async () => {
    const h = (await findPartial([store], digest, later()))!;
    writeFileSync(`${dir}.have`, Buffer.concat([encodeHave(3, () => true), encodeHave(3, () => false)]));
    chmodSync(join(dir, 'a'), 0o600);
    try {
      expect(await verifiedAmong(h, [0, 1])).toEqual(new Set([1]));
      expect(await verifiedAmong(h, [2, 7])).toEqual(new Set([2]));
    } finally {
      chmodSync(join(dir, 'a'), 0o444);
      rmSync(`${dir}.have`);
    }
    expect(await verifiedAmong(h, [0, 1, 2])).toEqual(new Set([0, 1, 2]));
  });

  it('is none when the stores have the digest complete', async () => {
    const other = join(tmp.dir, 'complete');
    mkdirSync(join(other, formatDigest(digest)), { recursive: true });
    expect(await findPartial([other, store], digest, later())).toBeUndefined();
    expect(await findPartial([store], digest, later())).toBeDefined();
  });
});
