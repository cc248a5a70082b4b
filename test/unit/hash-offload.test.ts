// The hash worker and the walker's side of it, driven directly: files the worker reads and hashes
// itself (the test waits for its progress before finishing), files taken back before it reaches
// them, and its failures, which must be the walker's own TreeErrors.
import { createHash } from 'node:crypto';
import { chmodSync, constants, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FileFields, HashOffload } from '../../src/io/hash-offload.js';
import { changed, fsError, notRegular } from '../../src/io/tree-error.js';
import { tempDir } from '../helpers/trees.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const blank = (): FileFields => ({ exec: false, mtime: 0n, size: 0, hash: '' });

/** What the walker would fill in for the file at `path`. */
function expected(path: string): FileFields {
  const st = statSync(path, { bigint: true });
  return { exec: (st.mode & 0o111n) !== 0n, mtime: st.mtimeNs / 1_000_000_000n, size: Number(st.size), hash: sha256(readFileSync(path)) };
}

/** The walker's way for files taken back, simplified. */
const readHere = async (full: Buffer, fields: FileFields) => void Object.assign(fields, expected(full.toString()));
const never = () => Promise.reject(new Error('nothing should be left to take back'));

/** The files this process has open under any of `paths` (by what /proc/self/fd links to). */
const stillOpen = (...paths: string[]) =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // the fd readdir itself used
      }
    })
    .filter((target) => paths.some((p) => target.startsWith(p)));

async function workerHasRead(off: HashOffload, bytes: number): Promise<void> {
  const until = Date.now() + 20_000;
  while (off.bytes < bytes) {
    if (Date.now() > until) throw new Error(`the worker read ${off.bytes} of ${bytes} bytes`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('HashOffload', () => {
  it('starts no worker before the walk has met `startAfter` of work', () => {
    const off = new HashOffload('sha256', FLAGS, 1 << 30);
    expect(off.offer(Buffer.from(join(dir, 'f')), blank(), 1 << 29)).toBe(false);
    expect(off.bytes).toBe(0);
  });

  it('starts the worker only when `mayStart` allows, asking again once the work seen has doubled', async () => {
    const asked: number[] = [];
    let allow = false;
    const off = new HashOffload('sha256', FLAGS, 1 << 20, () => {
      asked.push(asked.length);
      return allow;
    });
    const p = Buffer.from(join(dir, 'f'));
    expect(off.offer(p, blank(), 1 << 20)).toBe(false); // asked: no
    expect(off.offer(p, blank(), 1 << 20)).toBe(false); // not asked: too little work since
    expect(asked).toHaveLength(1);
    allow = true;
    expect(off.offer(p, blank(), 3 << 20)).toBe(true); // asked: yes
    expect(asked).toHaveLength(2);
    expect(await off.abandon()).toBeUndefined();
  });

  it('reads and hashes the files it is given on the worker thread, as the walker would', async () => {
    const contents = [Buffer.alloc(3 * 1024 * 1024 + 5, 1), Buffer.alloc(0), Buffer.from('small'), Buffer.alloc(1 << 20, 2)];
    const off = new HashOffload('sha256', FLAGS, 0);
    const fields = contents.map((c, i) => {
      const p = join(dir, `f${i}`);
      writeFileSync(p, c);
      if (i === 2) chmodSync(p, 0o750);
      const f = blank();
      expect(off.offer(Buffer.from(p), f, 0)).toBe(true);
      return f;
    });
    const total = contents.reduce((n, c) => n + c.length, 0);
    await workerHasRead(off, total);
    await off.finish(never);
    expect(fields).toEqual(contents.map((_, i) => expected(join(dir, `f${i}`))));
    expect(fields[2]!.exec).toBe(true);
    expect(off.bytes).toBe(total);
    expect(stillOpen(dir)).toEqual([]);
  });

  it('takes back what the worker has not reached and lets the walker read it', async () => {
    const paths = Array.from({ length: 20 }, (_, i) => join(dir, `f${i}`));
    paths.forEach((p, i) => writeFileSync(p, `file ${i}`));
    const off = new HashOffload('sha256', FLAGS, 0);
    const fields = paths.map((p) => {
      const f = blank();
      off.offer(Buffer.from(p), f, 0);
      return f;
    });
    await off.finish(readHere); // at once: the worker is most likely still starting
    expect(fields).toEqual(paths.map(expected));

    const abandoned = new HashOffload('sha256', FLAGS, 0);
    paths.forEach((p) => abandoned.offer(Buffer.from(p), blank(), 0));
    expect(await abandoned.abandon()).toBeUndefined();
    expect(stillOpen(dir)).toEqual([]);
  });

  it('reports what the worker finds wrong as the walker words it', async () => {
    mkdirSync(join(dir, 'sub'));
    symlinkSync('sub', join(dir, 'link'));
    const shrunk = '/sys/devices/system/cpu/online'; // lstat says 4096 bytes; reading gives fewer
    const cases: Array<[string, Error]> = [
      [shrunk, changed(Buffer.from(shrunk))],
      [join(dir, 'link'), changed(Buffer.from(join(dir, 'link')))], // became a symlink
      [join(dir, 'sub'), notRegular(Buffer.from(join(dir, 'sub')))], // became a directory
      [join(dir, 'gone'), fsError({ code: 'ENOENT', message: '' }, Buffer.from(join(dir, 'gone')))],
    ];
    writeFileSync(join(dir, 'last'), 'abc');
    for (const [path, error] of cases) {
      const off = new HashOffload('sha256', FLAGS, 0);
      expect(off.offer(Buffer.from(path), blank(), 0)).toBe(true);
      off.offer(Buffer.from(join(dir, 'last')), blank(), 0);
      await workerHasRead(off, 3); // 'last' is read after `path`
      await expect(off.finish(never), path).rejects.toEqual(error);
      expect(error.message).toMatch(/changed while being read|Not a regular file|disappeared while being read/);
    }
    expect(stillOpen(dir, '/sys/devices/system/cpu')).toEqual([]);
  });

  it("reports the worker's read errors as the walker does, and the first failure in the walk", async () => {
    const eio = '/sys/devices/system/cpu/power/autosuspend_delay_ms'; // reading fails with EIO
    const shrunk = '/sys/devices/system/cpu/online'; // fails too, later in the walk
    writeFileSync(join(dir, 'last'), 'abc');
    const off = new HashOffload('sha256', FLAGS, 0);
    off.offer(Buffer.from(eio), blank(), 0);
    off.offer(Buffer.from(shrunk), blank(), 0);
    off.offer(Buffer.from(join(dir, 'last')), blank(), 0);
    await workerHasRead(off, readFileSync(shrunk).length + 3); // then 'last': all three are done
    const error = await off.abandon(never);
    expect(error?.message).toBe(`Cannot read '${eio}': EIO: i/o error, read`);
    expect(stillOpen(dir, '/sys/devices/system/cpu')).toEqual([]);
  });
});
