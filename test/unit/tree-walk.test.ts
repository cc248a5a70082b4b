// The real tree walker on the reference vectors (§1.10) and on what 0install rejects.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Algorithm, formatDigest } from '../../src/core/digest.js';
import { isCanonical } from '../../src/core/manifest-canonical.js';
import { TreeError, manifestOfTree, walkTree } from '../../src/io/tree-walk.js';
import { at, buildTree, tempDir } from '../helpers/trees.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const digestOf = async (root: string, alg: Algorithm) => formatDigest((await manifestOfTree(root, alg)).digest);

describe('reference vectors through the walker', () => {
  it('V1: an empty directory', async () => {
    expect(await digestOf(dir, 'sha256new')).toBe('sha256new_4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ');
    expect(await digestOf(dir, 'sha1new')).toBe('sha1new=da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect((await manifestOfTree(dir, 'sha256')).manifest.length).toBe(0);
  });

  it('V2: exec bit, spaces, symlink, directory mtime in old sha1', async () => {
    buildTree(dir, [
      { path: 'MyDir', kind: 'dir', mtime: 20 },
      { path: 'MyDir/Hello', kind: 'file', content: 'Hello World', mode: 0o644, mtime: 30 },
      { path: 'MyDir/Run me', kind: 'file', content: 'Bang!', mode: 0o700, mtime: 40 },
      { path: 'MyDir/Sym link', kind: 'symlink', target: 'Hello' },
    ]);
    expect((await manifestOfTree(dir, 'sha1')).manifest.toString()).toBe(
      'D 20 /MyDir\nF 0a4d55a8d778e5022fab701977c5d840bbc486d0 30 11 Hello\nX 4001b8c42ddfb61c453d04930e8ce78fb3a40bc8 40 5 Run me\nS f7ff9e8b7bb2e09b70935a5d785e0cc5d9d0abf0 5 Sym link\n',
    );
    expect((await manifestOfTree(dir, 'sha256')).manifest.toString()).toBe(
      'D /MyDir\nF a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e 30 11 Hello\nX 640628586b08f8ed3910bd1e75ba02818959e843b54efafb9c2260a1f77e3ddf 40 5 Run me\nS 185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969 5 Sym link\n',
    );
    expect(await digestOf(dir, 'sha1')).toBe('sha1=b42c511f26fad15b00085a55ee357807a175b71f');
    expect(await digestOf(dir, 'sha1new')).toBe('sha1new=0499b09c24872ee3c9eba525428a796359b9ddfa');
    expect(await digestOf(dir, 'sha256')).toBe('sha256=443e258781bcb5f5616f9535df4503af824343960d2dd4315b0b3a1c56281be3');
    expect(await digestOf(dir, 'sha256new')).toBe('sha256new_IQ7CLB4BXS27KYLPSU256RIDV6BEGQ4WBUW5IMK3BM5BYVRIDPRQ');
  });

  it('V4: files before subdirectories, absolute symlink, mode 500', async () => {
    buildTree(dir, [
      { path: 'MyFile', kind: 'file', content: 'Hello', mtime: 2 },
      { path: 'My Dir', kind: 'dir' },
      { path: 'My Dir/!a file!', kind: 'file', content: 'Some data.', mtime: 2 },
      { path: 'My Dir/!a file!.exe', kind: 'file', content: 'Some code.', mode: 0o500, mtime: 2 },
      { path: 'a symlink', kind: 'symlink', target: '/the/symlink/target' },
    ]);
    const { manifest, digest } = await manifestOfTree(dir, 'sha1new');
    expect(manifest.toString()).toBe(
      'F f7ff9e8b7bb2e09b70935a5d785e0cc5d9d0abf0 2 5 MyFile\nS 570b0ce957ab43e774c82fca0ea3873fc452278b 19 a symlink\nD /My Dir\nF 0236ef92e1e37c57f0eb161e7e2f8b6a8face705 2 10 !a file!\nX b4ab02f2c791596a980fd35f51f5d92ee0b4705c 2 10 !a file!.exe\n',
    );
    expect(formatDigest(digest)).toBe('sha1new=7e3eb25a072988f164bae24d33af69c1814eb99a');
    expect(await digestOf(dir, 'sha256new')).toBe('sha256new_DZVZGHZXIGMK57ADWKPKBSL77H6AEIW4S5HXLGBXKK6VJC5AQEOQ');
  });

  it('V7: raw byte order, old sha1 ordering, nested .manifest kept, top-level one skipped', async () => {
    const f = (path: string, content: string) => ({ path, kind: 'file' as const, content, mtime: 1000 });
    const d = (path: string) => ({ path, kind: 'dir' as const, mtime: 1000 });
    buildTree(dir, [
      f('B', '1'), f('a', '2'), f('_', '3'), f('é', '4'), d('Z'), f('Z/x', '5'), d('c'), d('c/d'), f('c/d/y', '6'),
      f('c/file', '7'), d('c/D'), f('c/D/q', '8'), d('.dotdir'), f('.dotdir/f', '9'), f('c/.manifest', 'm'),
      f('.hidden', ''), f('.manifest', 'top'),
    ]);
    const sha1 = (await manifestOfTree(dir, 'sha1')).manifest.toString();
    expect(sha1.split('\n').map((l) => l.split(' ').slice(-1)[0])).toEqual(
      ['/.dotdir', 'f', '.hidden', 'B', '/Z', 'x', '_', 'a', '/c', '.manifest', '/c/D', 'q', '/c/d', 'y', 'file', 'é', ''],
    );
    const sha256 = (await manifestOfTree(dir, 'sha256')).manifest.toString();
    expect(sha256.split('\n').map((l) => l.split(' ').slice(-1)[0])).toEqual(
      ['.hidden', 'B', '_', 'a', 'é', '/.dotdir', 'f', '/Z', 'x', '/c', '.manifest', 'file', '/c/D', 'q', '/c/d', 'y', ''],
    );
    expect(await digestOf(dir, 'sha1')).toBe('sha1=55a19d11c33f5c2142696ff5971de141c3a64ce5');
    expect(await digestOf(dir, 'sha1new')).toBe('sha1new=b1050e4efe4ba370abd3987e8bf0a752d488d602');
    expect(await digestOf(dir, 'sha256')).toBe('sha256=ee57a435e7074a5b4c4847cee160eea5265613de6d007bcdce5022a98e1a698a');
    expect(await digestOf(dir, 'sha256new')).toBe('sha256new_5ZL2INPHA5FFWTCII7HOCYHOUUTFME66NUAHXTOOKARKTDQ2NGFA');
  });
});

describe('details of the walk', () => {
  it('truncates mtimes to whole seconds (never rounds up)', async () => {
    buildTree(dir, [{ path: 'f', kind: 'file', content: 'x', mtime: '@1795301940.999999999' }]);
    const [e] = await walkTree(dir, 'sha256new');
    expect(e?.mtime).toBe(1795301940n);
  });

  it('any execute bit makes X; a top-level .manifest symlink or directory is kept', async () => {
    buildTree(dir, [
      { path: 'o', kind: 'file', mode: 0o601 },
      { path: 'g', kind: 'file', mode: 0o610 },
      { path: 'p', kind: 'file', mode: 0o600 },
      { path: '.manifest', kind: 'symlink', target: 'o' },
    ]);
    const text = (await manifestOfTree(dir, 'sha1new')).manifest.toString();
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines.map((l) => `${l[0]}${l.split(' ').slice(-1)[0]}`)).toEqual(['S.manifest', 'Xg', 'Xo', 'Fp']);
  });

  it('keeps non-UTF-8 names as raw bytes and sorts them bytewise', async () => {
    const latin = Buffer.from([0x63, 0xe9]); // "cé" in Latin-1
    writeFileSync(at(dir, latin), 'x');
    writeFileSync(at(dir, 'd'), 'y');
    const entries = await walkTree(dir, 'sha256');
    expect(entries.map((e) => Buffer.from(e.path))).toEqual([latin, Buffer.from('d')]);
    expect((await manifestOfTree(dir, 'sha256')).manifest.includes(Buffer.concat([Buffer.from(' '), latin, Buffer.from('\n')]))).toBe(true);
  });

  it('follows a symlink given as the root but never one inside the tree', async () => {
    buildTree(dir, [{ path: 'real/sub/f', kind: 'dir' }, { path: 'real/link', kind: 'symlink', target: 'sub' }]);
    symlinkSync('real', join(dir, 'root-link'));
    const entries = await walkTree(join(dir, 'root-link'), 'sha256');
    expect(entries.map((e) => `${e.kind}:${Buffer.from(e.path)}`)).toEqual(['symlink:link', 'dir:sub', 'dir:sub/f']);
  });

  it('rejects a fifo with 0install’s message', async () => {
    mkdirSync(join(dir, 'd'));
    expect(spawnSync('mkfifo', [join(dir, 'd', 'pipe')]).status).toBe(0);
    await expect(walkTree(dir, 'sha256new')).rejects.toThrow(`Not a regular file/directory/symlink '${dir}/d/pipe'`);
  });

  it('rejects a socket', async () => {
    const sock = join(dir, 's.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await expect(walkTree(dir, 'sha1new')).rejects.toThrow(`Not a regular file/directory/symlink '${sock}'`);
    } finally {
      server.close();
    }
  });

  it.skipIf(process.getuid?.() !== 0)('rejects a device node (root only)', async () => {
    expect(spawnSync('mknod', [join(dir, 'null'), 'c', '1', '3']).status).toBe(0);
    await expect(walkTree(dir, 'sha256new')).rejects.toThrow(/Not a regular file\/directory\/symlink '.*\/null'/);
  });

  it('rejects names containing a newline, files and directories alike', async () => {
    writeFileSync(join(dir, 'a\nb'), '');
    await expect(walkTree(dir, 'sha256new')).rejects.toThrow(/Newline in filename '.*a\\nb'/);
    const other = join(dir, 'x');
    mkdirSync(join(other, 'c\nd'), { recursive: true });
    await expect(walkTree(other, 'sha1')).rejects.toThrow(TreeError);
  });

  it('says clearly when the root is missing or not a directory', async () => {
    await expect(walkTree(join(dir, 'nope'), 'sha256new')).rejects.toThrow(/does not exist/);
    writeFileSync(join(dir, 'file'), '');
    await expect(walkTree(join(dir, 'file'), 'sha256new')).rejects.toThrow(/is not a directory/);
  });

  it('hashes files larger than its read buffer', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    writeFileSync(join(dir, 'big'), big);
    const [e] = await walkTree(dir, 'sha256');
    const { createHash } = await import('node:crypto');
    expect(e?.hash).toBe(createHash('sha256').update(big).digest('hex'));
    expect(e?.size).toBe(big.length);
  });

  it('reports progress in bytes and honours an abort signal', async () => {
    writeFileSync(join(dir, 'a'), Buffer.alloc(2 * 1024 * 1024 + 5));
    writeFileSync(join(dir, 'b'), 'xyz');
    const seen: number[] = [];
    await walkTree(dir, 'sha1new', { onProgress: (n) => seen.push(n) });
    expect(seen.at(-1)).toBe(2 * 1024 * 1024 + 8);
    await expect(walkTree(dir, 'sha1new', { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
  });
});

describe('the walker with its hash worker', () => {
  /** 16 files of 1 MiB and 300 small ones, in 4 directories. */
  function mixedTree(): number {
    let bytes = 0;
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(dir, `d${d}`));
      for (let i = 0; i < 4; i++) {
        writeFileSync(join(dir, `d${d}`, `big${i}`), Buffer.alloc(1 << 20, d * 4 + i));
        bytes += 1 << 20;
      }
      for (let i = 0; i < 75; i++) {
        writeFileSync(join(dir, `d${d}`, `s${i}`), `small ${d} ${i}`.repeat(i));
        bytes += `small ${d} ${i}`.repeat(i).length;
      }
    }
    return bytes;
  }

  it('gives the entries and progress it gives alone', async () => {
    const bytes = mixedTree();
    const alone = await walkTree(dir, 'sha256new', { hashWorkerAfter: Infinity });
    const seen: number[] = [];
    const shared = await walkTree(dir, 'sha256new', { hashWorkerAfter: 0, onProgress: (n) => seen.push(n) });
    expect(shared).toEqual(alone);
    expect(isCanonical(alone)).toBe(true); // in manifest order, as manifestOfTree writes it
    expect(seen.at(-1)).toBe(bytes);
    expect((await manifestOfTree(dir, 'sha1new', { hashWorkerAfter: 0 })).manifest).toEqual((await manifestOfTree(dir, 'sha1new')).manifest);
  });

  it('fails on a file that changes while being read as it does alone', async () => {
    const sysfs = '/sys/devices/system/cpu/cpu0/topology'; // files lstat calls 4096 bytes that read as fewer
    const first = readdirSync(sysfs).sort()[0];
    const alone = await walkTree(sysfs, 'sha256new', { hashWorkerAfter: Infinity }).catch((e: unknown) => e);
    expect(alone).toBeInstanceOf(TreeError);
    expect((alone as TreeError).message).toBe(`'${sysfs}/${first}' changed while being read; try again when nothing is modifying the tree`);
    await expect(walkTree(sysfs, 'sha256new', { hashWorkerAfter: 0 })).rejects.toEqual(alone);
  });

  it('leaves no file open when aborted', async () => {
    mixedTree();
    for (let i = 0; i < 2000; i++) writeFileSync(join(dir, `t${i}`), `${i}`);
    const abort = new AbortController();
    await expect(walkTree(dir, 'sha256new', { hashWorkerAfter: 0, signal: abort.signal, onProgress: () => abort.abort() })).rejects.toThrow(/abort/i);
    const open = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    });
    expect(open).toEqual([]);
  });
});
