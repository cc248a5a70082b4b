// The file steps the walker and its hash worker share: lstat first, and an empty file opened only
// when its permission bits would not let this process read it (so it fails as 0install's read).
import { closeSync, constants, lstatSync, mkdirSync, openSync, readSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FileIo, type ReaderIds, hashStep, openRegular } from '../../src/io/file-steps.js';
import { tempDir } from '../helpers/trees.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The files' owner and group as lstat reports them here. */
const OWNER = 1000;
const GROUP = 1001;

/** The real calls, counting the opens, as a reader with these ids; every file owned by OWNER:GROUP. */
function counting(ids: ReaderIds): FileIo & { opens: number } {
  const io = {
    opens: 0,
    openSync: ((...args: Parameters<typeof openSync>) => {
      io.opens++;
      return openSync(...args);
    }) as typeof openSync,
    lstatSync: ((path: Buffer, opts: { bigint: true }) => Object.assign(lstatSync(path, opts), { uid: BigInt(OWNER), gid: BigInt(GROUP) })) as typeof lstatSync,
    closeSync,
    readSync,
    createHash,
    hash,
    ids,
  };
  return io;
}

function file(name: string, content: string, mode: number): Buffer {
  const p = join(dir, name);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return Buffer.from(p);
}

describe('openRegular', () => {
  it('opens no empty file that the permission bits let the reader read', () => {
    const cases: Array<[Buffer, ReaderIds]> = [
      [file('other', '', 0o604), { uid: 7, gids: [8] }],
      [file('group', '', 0o640), { uid: 7, gids: [8, GROUP] }],
      [file('owner', '', 0o400), { uid: OWNER, gids: [] }],
      [file('root', '', 0o000), { uid: 0, gids: [] }], // root reads any file
    ];
    for (const [path, ids] of cases) {
      const io = counting(ids);
      const f = openRegular(path, FLAGS, io);
      expect(f, path.toString()).toMatchObject({ fd: -1, size: 0, total: 0 });
      expect(io.opens).toBe(0);
      if ('fd' in f) {
        expect(hashStep(f, Buffer.alloc(16), 'sha256', io)).toBe(true);
        expect(f.hex).toBe(createHash('sha256').digest('hex'));
      }
    }
  });

  it('opens an empty file the permission bits do not let the reader read, and every other file', () => {
    const cases: Array<[Buffer, ReaderIds]> = [
      [file('not-owner', '', 0o600), { uid: 7, gids: [GROUP + 1] }],
      [file('owner-no-read', '', 0o044), { uid: OWNER, gids: [GROUP] }], // the owner's bits apply
      [file('not-group', '', 0o640), { uid: 7, gids: [8] }],
      [file('full', 'abc', 0o644), { uid: OWNER, gids: [] }],
    ];
    for (const [path, ids] of cases) {
      const io = counting(ids);
      const f = openRegular(path, FLAGS, io);
      expect(io.opens, path.toString()).toBe(1);
      // This test may run as root, whose open succeeds anyway.
      if ('fd' in f) closeSync(f.fd);
      else expect(f).toMatchObject({ problem: 'failed', code: 'EACCES' });
    }
  });

  it('says what is not a regular file, without opening it', () => {
    mkdirSync(join(dir, 'sub'));
    symlinkSync('sub', join(dir, 'link'));
    const io = counting({ uid: 0, gids: [] });
    expect(openRegular(Buffer.from(join(dir, 'link')), FLAGS, io)).toEqual({ problem: 'changed' });
    expect(openRegular(Buffer.from(join(dir, 'sub')), FLAGS, io)).toEqual({ problem: 'notRegular' });
    expect(openRegular(Buffer.from(join(dir, 'gone')), FLAGS, io)).toMatchObject({ problem: 'failed', code: 'ENOENT' });
    expect(io.opens).toBe(0);
  });
});
