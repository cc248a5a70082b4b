// packTree: what it puts in the tar (relative names, modes, mtimes, raw symlinks, no top-level
// .manifest, the same bytes every time), that it never follows a symlink, and how it stops: a
// special file or an abort destroys the stream with an error, a consumer that goes away or stops
// reading leaves no descriptor open and no unbounded buffer.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packTree } from '../../src/io/tar-pack.js';
import { openFds } from '../helpers/tar-fixtures.js';

let base: string;
let tree: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), '0share-tarp-'));
  tree = join(base, 'tree');
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'sub'));
  mkdirSync(join(base, 'secret'));
  writeFileSync(join(base, 'secret', 'key'), 'SECRET-CONTENT');
  writeFileSync(join(tree, 'bin', 'run'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(tree, 'readme'), 'hello');
  writeFileSync(join(tree, '.manifest'), 'TOP-LEVEL-MANIFEST');
  writeFileSync(join(tree, 'sub', '.manifest'), 'kept');
  symlinkSync('../secret', join(tree, 'out-dir'));
  symlinkSync(join(base, 'secret', 'key'), join(tree, 'out-file'));
  utimesSync(join(tree, 'readme'), 1000, 1000);
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('packTree', () => {
  it('writes relative names, modes, mtimes and raw symlinks, without the top-level .manifest', async () => {
    const tar = await buffer(packTree(tree));
    const file = join(base, 't.tar');
    writeFileSync(file, tar);
    const list = execFileSync('tar', ['-tvf', file, '--utc'], { encoding: 'utf8' }).trim().split('\n');
    const names = list.map((l) => l.split(/\s+/).slice(5).join(' '));
    expect(names).toEqual(['bin', 'bin/run', 'out-dir -> ../secret', `out-file -> ${join(base, 'secret', 'key')}`, 'readme', 'sub', 'sub/.manifest']);
    expect(list[1]).toMatch(/^-rwxr-xr-x /);
    expect(list[4]).toMatch(/^-rw-r--r-- .* 1970-01-01 00:16 readme$/);
    expect(tar.includes('SECRET-CONTENT')).toBe(false);
    expect(tar.includes('TOP-LEVEL-MANIFEST')).toBe(false);
    expect(tar.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
  });

  it('keeps raw (non-UTF-8) names and targets next to UTF-8 ones that need pax records', async () => {
    const src = join(base, 'raw');
    mkdirSync(src);
    const links: Array<[Buffer, Buffer]> = [
      [Buffer.from('é'), Buffer.from([0xff, 0x61])],
      [Buffer.from([0x72, 0xfe]), Buffer.from('ü'.repeat(60))],
      [Buffer.from('x'.repeat(120)), Buffer.alloc(150, 0xfe)],
    ];
    for (const [name, target] of links) symlinkSync(target, Buffer.concat([Buffer.from(`${src}/`), name]));
    const file = join(base, 'raw.tar');
    writeFileSync(file, await buffer(packTree(src)));
    const out = join(base, 'raw-out');
    mkdirSync(out);
    execFileSync('tar', ['-xf', file, '-C', out]);
    const read = (dir: string) =>
      (readdirSync(dir, { encoding: 'buffer' }) as Buffer[])
        .sort(Buffer.compare)
        .map((n) => [n.toString('hex'), readlinkSync(Buffer.concat([Buffer.from(`${dir}/`), n]), { encoding: 'buffer' }).toString('hex')]);
    expect(read(out)).toEqual(read(src));
  });

  it('produces the same bytes every time', async () => {
    expect((await buffer(packTree(tree))).equals(await buffer(packTree(tree)))).toBe(true);
  });

  it('fails the stream on a special file, after what it already sent', async () => {
    execFileSync('mkfifo', [join(tree, 'sub', 'zz-fifo')]);
    const err = await buffer(packTree(tree)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/"sub\/zz-fifo": not a regular file, directory or symlink/);
  });

  it('fails the stream when the directory is missing or aborted', async () => {
    await expect(buffer(packTree(join(base, 'nope')))).rejects.toThrow(/ENOENT/);
    const ac = new AbortController();
    ac.abort(new Error('client went away'));
    await expect(buffer(packTree(tree, { signal: ac.signal }))).rejects.toThrow(/client went away/);
  });

  it('leaves no descriptor open when the consumer goes away mid-file, and buffers little when it stalls', async () => {
    writeFileSync(join(tree, 'big'), Buffer.alloc(40 * 1024 * 1024, 1));
    const fds = openFds();
    const out = packTree(tree);
    const first = await new Promise<Buffer>((resolve) => out.once('data', resolve));
    expect(first.length).toBeGreaterThan(0);
    out.pause();
    for (let i = 0; i < 50; i++) await tick();
    expect(out.readableLength).toBeLessThan(4 * 1024 * 1024);
    out.destroy();
    for (let i = 0; i < 50 && openFds() !== fds; i++) await new Promise((r) => setTimeout(r, 10));
    expect(openFds()).toBe(fds);
  });
});
