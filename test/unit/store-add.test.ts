// Atomic adds (reference §2.3): permissions fixed, digest verified, .manifest written, renamed
// last; any failure leaves nothing in the store. And verification of existing entries.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Digest, formatDigest, parseDigest } from '../../src/core/digest.js';
import { addDirectory, commitStaged, makeTmpDir, removeTree, verifyEntry } from '../../src/io/store-add.js';
import { extractTar } from '../../src/io/tar-extract.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { type TreeSpec, buildTree, tempDir } from '../helpers/trees.js';

let dir: string;
let store: string;
let cleanup: () => Promise<void>;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  store = join(dir, 'store');
});
afterEach(() => cleanup());

const SAMPLE: TreeSpec[] = [
  { path: 'MyFile', kind: 'file', content: 'Hello', mtime: 2 },
  { path: 'My Dir', kind: 'dir', mode: 0o700 },
  { path: 'My Dir/!a file!', kind: 'file', content: 'Some data.', mode: 0o664, mtime: 2 },
  { path: 'My Dir/!a file!.exe', kind: 'file', content: 'Some code.', mode: 0o500, mtime: 2 },
  { path: 'a symlink', kind: 'symlink', target: '/the/symlink/target' },
];
const SAMPLE_DIGEST = parseDigest('sha256new_DZVZGHZXIGMK57ADWKPKBSL77H6AEIW4S5HXLGBXKK6VJC5AQEOQ');
const WRONG = parseDigest('sha256new_4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ');

const mode = (p: string) => lstatSync(p).mode & 0o7777;
/** The store holds exactly these names (no tmp-* left behind). */
const storeNames = () => (existsSync(store) ? readdirSync(store).sort() : []);

async function staged(spec: TreeSpec[]): Promise<string> {
  const tmp = await makeTmpDir(store);
  buildTree(tmp, spec);
  return tmp;
}

describe('makeTmpDir', () => {
  it('creates the store and a private tmp-<hex> inside it, even in a setgid store', async () => {
    mkdirSync(store, { recursive: true });
    chmodSync(store, 0o2755);
    const tmp = await makeTmpDir(store);
    expect(tmp).toMatch(new RegExp(`^${store}/tmp-[0-9a-f]{8}$`));
    expect(mode(tmp)).toBe(0o700);
  });
});

describe('commitStaged', () => {
  it('fixes permissions, writes .manifest and renames into place', async () => {
    const tmp = await staged(SAMPLE);
    const path = await commitStaged({ tmpDir: tmp, store, digest: SAMPLE_DIGEST });
    expect(path).toBe(join(store, formatDigest(SAMPLE_DIGEST)));
    expect(storeNames()).toEqual([formatDigest(SAMPLE_DIGEST)]);
    expect(mode(path)).toBe(0o555);
    expect(mode(join(path, 'My Dir'))).toBe(0o555);
    expect(mode(join(path, 'MyFile'))).toBe(0o444);
    expect(mode(join(path, 'My Dir/!a file!'))).toBe(0o444);
    expect(mode(join(path, 'My Dir/!a file!.exe'))).toBe(0o555);
    expect(mode(join(path, '.manifest'))).toBe(0o444);
    expect(readlinkSync(join(path, 'a symlink'))).toBe('/the/symlink/target');
    expect(lstatSync(join(path, 'MyFile')).mtimeMs).toBe(2000);
    const { manifest } = await manifestOfTree(path, 'sha256new');
    expect(readFileSync(join(path, '.manifest'))).toEqual(manifest);
    expect(readdirSync(path).sort()).toEqual(['.manifest', 'My Dir', 'MyFile', 'a symlink']);
  });

  it('trusts a manifest computed while receiving instead of walking', async () => {
    const tmp = await staged(SAMPLE);
    const { manifest } = await manifestOfTree(tmp, 'sha256new');
    const path = await commitStaged({ tmpDir: tmp, store, digest: SAMPLE_DIGEST, manifest });
    expect(readFileSync(join(path, '.manifest'))).toEqual(manifest);
  });

  it('with permissionsFixed, commits a tree the extractor left in store form without a fixup walk', async () => {
    const src = join(dir, 'src');
    buildTree(src, SAMPLE);
    const tar = spawnSync('tar', ['-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 24 });
    expect(tar.status).toBe(0);
    const tmp = await makeTmpDir(store);
    const { manifest } = await extractTar([tar.stdout], tmp, { alg: 'sha256new' });
    const path = await commitStaged({ tmpDir: tmp, store, digest: SAMPLE_DIGEST, manifest, permissionsFixed: true });
    expect(mode(path)).toBe(0o555);
    expect(mode(join(path, 'My Dir'))).toBe(0o555);
    expect(mode(join(path, 'MyFile'))).toBe(0o444);
    expect(mode(join(path, 'My Dir/!a file!.exe'))).toBe(0o555);
    expect((await verifyEntry(path)).ok).toBe(true);
  });

  it('an existing target is success; the new tmp dir goes away', async () => {
    const first = await commitStaged({ tmpDir: await staged(SAMPLE), store, digest: SAMPLE_DIGEST });
    const again = await commitStaged({ tmpDir: await staged(SAMPLE), store, digest: SAMPLE_DIGEST });
    expect(again).toBe(first);
    expect(storeNames()).toEqual([formatDigest(SAMPLE_DIGEST)]);
  });

  const failures: Array<[string, TreeSpec[], (tmp: string) => void, RegExp, Digest]> = [
    ['a wrong digest', SAMPLE, () => {}, /Incorrect manifest -- archive is corrupted.\nRequired digest: sha256new_4OYM.*\nActual digest: sha256new_DZVZ/, WRONG],
    ['a setuid file', SAMPLE, (t) => chmodSync(join(t, 'MyFile'), 0o4755), /Unsafe mode: extracted file '.*\/MyFile' had special bits set in mode '4755'/, SAMPLE_DIGEST],
    ['a sticky directory', SAMPLE, (t) => chmodSync(join(t, 'My Dir'), 0o1755), /Unsafe mode: .*'1755'/, SAMPLE_DIGEST],
    ['a fifo', SAMPLE, (t) => spawnSync('mkfifo', [join(t, 'My Dir', 'pipe')]), /Not a regular file\/directory\/symlink '.*\/My Dir\/pipe'/, SAMPLE_DIGEST],
    ['a top-level .manifest', SAMPLE, (t) => writeFileSync(join(t, '.manifest'), ''), /already contains a .manifest file/, SAMPLE_DIGEST],
  ];
  it.each(failures)('%s fails and leaves nothing in the store', async (_name, spec, spoil, message, digest) => {
    const tmp = await staged(spec);
    spoil(tmp);
    await expect(commitStaged({ tmpDir: tmp, store, digest })).rejects.toThrow(message);
    expect(storeNames()).toEqual([]);
  });

  it('refuses, and leaves alone, a directory that is not a tmp-* staging dir', async () => {
    const elsewhere = join(dir, 'elsewhere');
    buildTree(elsewhere, SAMPLE);
    await expect(commitStaged({ tmpDir: elsewhere, store, digest: SAMPLE_DIGEST })).rejects.toThrow(/not a tmp-\* staging directory/);
    expect(existsSync(join(elsewhere, 'MyFile'))).toBe(true);
  });

  it('moves a tmp dir staged in another store on the same file system', async () => {
    const other = join(dir, 'user-store');
    const tmp = await makeTmpDir(other);
    buildTree(tmp, SAMPLE);
    const path = await commitStaged({ tmpDir: tmp, store, digest: SAMPLE_DIGEST });
    expect(path).toBe(join(store, formatDigest(SAMPLE_DIGEST)));
    expect(readdirSync(other)).toEqual([]);
  });

  it('rejects a manifest that does not match the digest', async () => {
    const tmp = await staged(SAMPLE);
    await expect(commitStaged({ tmpDir: tmp, store, digest: SAMPLE_DIGEST, manifest: Buffer.from('') })).rejects.toThrow(/Incorrect manifest/);
    expect(storeNames()).toEqual([]);
  });
});

describe('addDirectory', () => {
  it('copies a tree with fresh modes, mtimes and symlinks, then commits it', async () => {
    const src = join(dir, 'src');
    buildTree(src, SAMPLE);
    const path = await addDirectory(src, store, SAMPLE_DIGEST);
    expect((await verifyEntry(path)).ok).toBe(true);
    expect(mode(join(src, 'My Dir'))).toBe(0o700); // the source is untouched
    expect(storeNames()).toEqual([formatDigest(SAMPLE_DIGEST)]);
  });

  it('refuses a source with a top-level .manifest, and one with a fifo, leaving nothing', async () => {
    const src = join(dir, 'src');
    buildTree(src, [...SAMPLE, { path: '.manifest', kind: 'file' }]);
    await expect(addDirectory(src, store, SAMPLE_DIGEST)).rejects.toThrow(/already contains a .manifest file/);
    const src2 = join(dir, 'src2');
    buildTree(src2, SAMPLE);
    spawnSync('mkfifo', [join(src2, 'pipe')]);
    await expect(addDirectory(src2, store, SAMPLE_DIGEST)).rejects.toThrow(/Not a regular file\/directory\/symlink/);
    expect(storeNames()).toEqual([]);
  });
});

describe('removeTree', () => {
  it('removes read-only trees', async () => {
    const path = await commitStaged({ tmpDir: await staged(SAMPLE), store, digest: SAMPLE_DIGEST });
    await removeTree(path);
    expect(existsSync(path)).toBe(false);
  });
});

describe('verifyEntry', () => {
  it('passes an intact entry and names what differs in a damaged one', async () => {
    const path = await commitStaged({ tmpDir: await staged(SAMPLE), store, digest: SAMPLE_DIGEST });
    expect(await verifyEntry(path)).toMatchObject({ ok: true, differences: [] });
    chmodSync(path, 0o755);
    chmodSync(join(path, 'My Dir'), 0o755);
    chmodSync(join(path, 'MyFile'), 0o644);
    writeFileSync(join(path, 'MyFile'), 'Jello');
    writeFileSync(join(path, 'My Dir', 'extra'), '');
    const r = await verifyEntry(path);
    expect(r.ok).toBe(false);
    expect(formatDigest(r.expected)).toBe(formatDigest(SAMPLE_DIGEST));
    expect(r.differences).toEqual(expect.arrayContaining(['file MyFile: content differs', 'extra file My Dir/extra']));
  });

  it('fails correct contents with a wrong .manifest, as 0install does', async () => {
    const path = await commitStaged({ tmpDir: await staged(SAMPLE), store, digest: SAMPLE_DIGEST });
    chmodSync(path, 0o755);
    chmodSync(join(path, '.manifest'), 0o644);
    writeFileSync(join(path, '.manifest'), 'F 00 1 1 nothing\n');
    const r = await verifyEntry(path);
    expect(r.ok).toBe(false);
    expect(r.differences[0]).toMatch(/contents are correct, but the .manifest file is wrong/);
  });

  it('accepts an explicit digest and rejects a directory not named after one', async () => {
    const src = join(dir, 'plain');
    buildTree(src, SAMPLE);
    expect((await verifyEntry(src, SAMPLE_DIGEST)).ok).toBe(true);
    expect((await verifyEntry(src, WRONG)).differences).toEqual(['there is no .manifest to say which files differ']);
    await expect(verifyEntry(src)).rejects.toThrow(/not named after a digest/);
  });
});
