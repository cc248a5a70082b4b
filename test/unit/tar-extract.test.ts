// The safe extractor, case by case: good archives (plain, gzip, byte-by-byte, pax times, implicit
// parents, raw-byte names) give the manifest of the tree on disk; each hostile archive is refused
// with an ExtractError naming the entry, and nothing outside the extraction directory changes.
import { mkdtempSync, readFileSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExtractError, extractTar, type ExtractOptions, type TarSource } from '../../src/io/tar-extract.js';
import { walkTree } from '../../src/io/tree-walk.js';
import { renderManifest } from '../../src/core/manifest-format.js';
import { checkedExtract, extractionSandbox, type ExtractionSandbox, openFds, rawTar, type RawEntry, removeAll } from '../helpers/tar-fixtures.js';

let sandbox: ExtractionSandbox;
let base: string;
let dest: string;
let outside: string;

beforeEach(() => {
  sandbox = extractionSandbox('0share-tarx-');
  ({ base, dest, outside } = sandbox);
});

afterEach(() => {
  removeAll(base);
});

/** Runs the extractor and checks the invariants that hold whatever the archive. */
function run(source: TarSource | Buffer, opts: Partial<ExtractOptions> = {}) {
  return checkedExtract(sandbox, Buffer.isBuffer(source) ? [source] : source, opts);
}

async function refused(entries: RawEntry[] | Buffer, code: ExtractError['code'], message: RegExp, opts: Partial<ExtractOptions> = {}) {
  const { result, error } = await run(Buffer.isBuffer(entries) ? entries : rawTar(entries), opts);
  expect(result).toBeUndefined();
  expect(error).toBeInstanceOf(ExtractError);
  expect((error as ExtractError).message).toMatch(message);
  expect((error as ExtractError).code).toBe(code);
  return error as ExtractError;
}

/** The archive with its first header block changed by `patch`, then re-checksummed (unless `resum` is false). */
function patchHeader(archive: Buffer, patch: (h: Buffer) => void, resum = true): Buffer {
  const out = Buffer.from(archive);
  const h = out.subarray(0, 512);
  patch(h);
  if (resum) {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of h) sum += x;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  }
  return out;
}

const sample: RawEntry[] = [
  { name: './', type: '5', mtime: 5 },
  { name: './bin/', type: '5', mtime: 7 },
  { name: './bin/run', data: '#!/bin/sh\n', mode: 0o755, mtime: 40 },
  { name: 'doc/deep/readme.txt', data: 'Hello World', mtime: 30 },
  { name: 'doc/link', type: '2', linkname: '../bin/run' },
  { name: 'abs-link', type: '2', linkname: '/the/symlink/target' },
  { name: 'empty', data: '', mtime: 0 },
  { name: 'sub/.manifest', data: 'not the top level' },
];

describe('extractTar: good archives', () => {
  it('extracts files, dirs, symlinks and implicit parents, with store modes and mtimes', async () => {
    const { result, error } = await run(rawTar(sample));
    expect(error).toBeUndefined();
    const text = result!.manifest.toString();
    expect(text).toContain('F a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e 30 11 readme.txt\n');
    expect(text).toMatch(/^X [0-9a-f]{64} 40 10 run$/m);
    expect(text).toMatch(/^S [0-9a-f]{64} 19 abs-link$/m);
    expect(text).toContain('D /doc/deep\n');
    expect(result!.bytes).toBe(10 + 11 + 17);
    // store form, as 0install's fixup_permissions leaves a tree
    expect(lstatSync(join(dest, 'bin/run')).mode & 0o7777).toBe(0o555);
    expect(lstatSync(join(dest, 'doc/deep/readme.txt')).mode & 0o7777).toBe(0o444);
    expect(lstatSync(join(dest, 'bin')).mode & 0o7777).toBe(0o555);
    expect(lstatSync(join(dest, 'doc/deep')).mode & 0o7777).toBe(0o555);
    // old sha1 D lines carry directory mtimes: explicit ones come from the archive
    const old = renderManifest(result!.entries, 'sha1').toString();
    expect(old).toContain('D 7 /bin\n');
  });

  it('gives every file its store mode and mtime under a umask that strips read bits, and files and symlinks past 2038 theirs', async () => {
    const many: RawEntry[] = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}${i % 2 ? '.sh' : ''}`, data: `file ${i}`, mode: i % 2 ? 0o755 : 0o644, mtime: 1000 + i }));
    many.push({ name: 'late', data: 'after 2038', mtime: 2 ** 31 + 5 });
    const links = [['l1', 'f0', 77], ['l2', 'f1.sh', 88], ['l3', 'late', 2 ** 31 + 9]] as const;
    for (const [name, linkname, mtime] of links) many.push({ name, type: '2', linkname, mtime });
    const old = process.umask(0o077);
    let out: Awaited<ReturnType<typeof run>>;
    try {
      out = await run(rawTar(many));
    } finally {
      process.umask(old);
    }
    expect(out.error).toBeUndefined();
    for (let i = 0; i < 6; i++) {
      const st = lstatSync(join(dest, `f${i}${i % 2 ? '.sh' : ''}`));
      expect(st.mode & 0o7777).toBe(i % 2 ? 0o555 : 0o444);
      expect(Math.floor(st.mtimeMs / 1000)).toBe(1000 + i);
    }
    expect(Math.floor(lstatSync(join(dest, 'late')).mtimeMs / 1000)).toBe(2 ** 31 + 5);
    for (const [name, , mtime] of links) expect(Math.floor(lstatSync(join(dest, name)).mtimeMs / 1000)).toBe(mtime);
  });

  it('gunzips automatically and gives the same manifest', async () => {
    const plain = (await run(rawTar(sample))).result!.manifest;
    const { result } = await run(gzipSync(rawTar(sample)));
    expect(result!.manifest.equals(plain)).toBe(true);
  });

  it('accepts the stream one byte at a time, gzip included', async () => {
    const gz = gzipSync(rawTar(sample));
    const bytes = [...gz].map((x) => Buffer.of(x));
    const { result, error } = await run(Readable.from(bytes));
    expect(error).toBeUndefined();
    expect(result!.entries.length).toBeGreaterThan(5);
  });

  it('truncates pax fractional mtimes toward zero, as 0install does', async () => {
    const { result } = await run(rawTar([
      { name: 'a', data: 'x', pax: { mtime: '1795301940.999999999' } },
      { name: 'b', data: 'y', pax: { mtime: '4102444800.5' } },
    ]));
    const m = result!.manifest.toString();
    expect(m).toMatch(/ 1795301940 1 a$/m);
    expect(m).toMatch(/ 4102444800 1 b$/m);
  });

  it('keeps raw name bytes (ustar and GNU long names) and UTF-8 pax names', async () => {
    const raw = Buffer.from('caf\xe9-\xff', 'latin1');
    const long = Buffer.concat([Buffer.from('d/'), Buffer.alloc(150, 0x61), Buffer.from('\xfe', 'latin1')]);
    const { result, error } = await run(rawTar([
      { name: raw, data: '1' },
      { name: long, data: '2', gnuLongName: true },
      { name: `${'é'.repeat(80)}`, data: '3' },
    ]));
    expect(error).toBeUndefined();
    const paths = result!.entries.map((e) => Buffer.from(e.path).toString('latin1'));
    expect(paths).toContain(raw.toString('latin1'));
    expect(paths).toContain(long.toString('latin1'));
    expect(paths).toContain(Buffer.from('é'.repeat(80)).toString('latin1'));
  });

  it('reads what tar-stream parses: the ustar prefix, GNU headers, base-256 sizes, old-style directories', async () => {
    const prefixed = patchHeader(rawTar([{ name: 'file', data: 'p' }]), (h) => h.write('dir/sub', 345, 'latin1'));
    const gnuBig = patchHeader(rawTar([{ name: 'g', data: 'xyz' }]), (h) => {
      h.write('ustar  \0', 257, 'latin1');
      Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]).copy(h, 124);
    });
    const oldDir = patchHeader(rawTar([{ name: 'old/', type: '5', mtime: 9 }]), (h) => (h[156] = 0));
    const { result, error } = await run(Buffer.concat([prefixed.subarray(0, 1024), gnuBig.subarray(0, 1024), oldDir]));
    expect(error).toBeUndefined();
    expect(readFileSync(join(dest, 'dir/sub/file'), 'utf8')).toBe('p');
    expect(readFileSync(join(dest, 'g'), 'utf8')).toBe('xyz');
    expect(renderManifest(result!.entries, 'sha1').toString()).toContain('D 9 /old\n');
  });

  it('accepts an explicit directory after its implicit creation, and an empty archive', async () => {
    const { result } = await run(rawTar([{ name: 'a/b/f', data: 'x' }, { name: 'a/', type: '5', mtime: 77 }]));
    expect(renderManifest(result!.entries, 'sha1').toString()).toContain('D 77 /a\n');
    const empty = await run(Buffer.alloc(10240));
    expect(empty.result!.manifest.length).toBe(0);
  });

  it('writes large files on the thread pool, in order, with their mtimes, among small ones', async () => {
    const big = (seed: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * seed) & 0xff));
    const entries: RawEntry[] = [
      { name: 'big1', data: big(7, 3_000_001), mtime: 111 },
      { name: 'small', data: 'x', mtime: 222 },
      { name: 'd/big2', data: big(13, 1_500_000), mode: 0o755, mtime: 333 },
    ];
    // in awkward pieces, so batches span input chunks
    const bytes = rawTar(entries);
    const pieces: Buffer[] = [];
    for (let off = 0; off < bytes.length; off += 77_777) pieces.push(bytes.subarray(off, off + 77_777));
    // as an iterable, as a Node stream (read through 'data' events), and gzipped as a stream
    for (const source of [() => pieces, () => Readable.from(pieces), () => Readable.from([gzipSync(bytes)])]) {
      const { result, error } = await run(source());
      expect(error).toBeUndefined();
      expect(readFileSync(join(dest, 'big1')).equals(big(7, 3_000_001))).toBe(true);
      expect(readFileSync(join(dest, 'd/big2')).equals(big(13, 1_500_000))).toBe(true);
      expect(lstatSync(join(dest, 'big1')).mtimeMs).toBe(111_000);
      expect(lstatSync(join(dest, 'd/big2')).mode & 0o7777).toBe(0o555);
      expect(result!.manifest.toString('latin1')).toBe(renderManifest(await walkTree(dest, 'sha256new'), 'sha256new').toString('latin1'));
    }
  });

  it('a transfer cut inside a large file is truncated, with every descriptor closed', async () => {
    const bytes = rawTar([{ name: 'small', data: 'x' }, { name: 'big', data: Buffer.alloc(5_000_000, 3) }]);
    await refused(bytes.subarray(0, 3_500_000), 'truncated', /middle of entry "big"/);
    const { error } = await run(Readable.from([bytes.subarray(0, 3_500_000)]));
    expect(error).toMatchObject({ code: 'truncated', message: expect.stringMatching(/middle of entry "big"/) });
    const z = gzipSync(bytes);
    const gz = await run(Readable.from([z.subarray(0, z.length - 20)]));
    expect(gz.error).toMatchObject({ code: 'truncated' });
  });

  it('a full disk while a large file is written on the thread pool is an io error, with every descriptor closed', async (ctx) => {
    if (process.getuid?.() !== 0) {
      process.stderr.write('\n*** SKIPPING the extractor full-disk test: mounting a small tmpfs needs root ***\n\n');
      ctx.skip();
    }
    const small = mkdtempSync(join(base, 'small-'));
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]).status !== 0) {
      process.stderr.write('\n*** SKIPPING the extractor full-disk test: mount failed ***\n\n');
      ctx.skip();
    }
    try {
      const fds = openFds();
      const err = await extractTar(Readable.from([rawTar([{ name: 'big', data: Buffer.alloc(3_000_000, 5) }])]), small, { alg: 'sha256new' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'io', message: expect.stringMatching(/"big".*ENOSPC/) });
      expect(openFds()).toBe(fds);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('reports progress in content bytes', async () => {
    const seen: number[] = [];
    const { result } = await run(rawTar([{ name: 'a', data: Buffer.alloc(200_000, 1) }]), { onProgress: (n) => seen.push(n) });
    expect(result!.bytes).toBe(200_000);
    expect(seen.at(-1)).toBe(200_000);
  });
});

describe('extractTar: hostile archives', () => {
  it('refuses traversal and absolute paths', async () => {
    await refused([{ name: '../outside/victim', data: 'pwned' }], 'unsafe', /"\.\.\/outside\/victim" has a "\.\." path component/);
    await refused([{ name: 'a/../../outside/x', data: 'pwned' }], 'unsafe', /"\.\."/);
    await refused([{ name: `${outside}/victim`, data: 'pwned' }], 'unsafe', /absolute path/);
    await refused([{ name: 'a//b', data: 'x' }], 'unsafe', /empty path component/);
    await refused([{ name: 'a/./b', data: 'x' }], 'unsafe', /"\." path component/);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('original');
  });

  it('refuses anything through a symlink, relative or absolute', async () => {
    await refused([{ name: 'esc', type: '2', linkname: '../outside' }, { name: 'esc/new', data: 'pwned' }], 'unsafe', /"esc\/new" would be created through the symlink "esc"/);
    await refused([{ name: 'esc', type: '2', linkname: outside }, { name: 'esc/d/', type: '5' }], 'unsafe', /through the symlink/);
    await refused([{ name: 'in', type: '5' }, { name: 'l', type: '2', linkname: 'in' }, { name: 'l/f', data: 'x' }], 'unsafe', /through the symlink "l"/);
    expect(existsSync(join(outside, 'new'))).toBe(false);
  });

  it('refuses a file over an earlier symlink (duplicate), so no write follows the link', async () => {
    await refused([{ name: 'l', type: '2', linkname: '../outside/victim' }, { name: 'l', data: 'pwned' }], 'unsafe', /"l" appears twice/);
    await refused([{ name: 'f', data: 'a' }, { name: 'f', data: 'b' }], 'unsafe', /appears twice/);
    await refused([{ name: 'd/', type: '5' }, { name: 'd', type: '5' }], 'unsafe', /appears twice/);
    await refused([{ name: 'f', data: 'a' }, { name: 'f/g', data: 'b' }], 'unsafe', /is inside "f", which is a file/);
  });

  it('refuses hard links, devices, fifos and unknown types', async () => {
    await refused([{ name: 'h', type: '1', linkname: '../outside/victim' }], 'unsafe', /"h" is a hard link/);
    await refused([{ name: 'c', type: '3' }], 'unsafe', /character-device/);
    await refused([{ name: 'b', type: '4' }], 'unsafe', /block-device/);
    await refused([{ name: 'p', type: '6' }], 'unsafe', /fifo/);
    await refused([{ name: 'v', type: 'V' }], 'unsafe', /unsupported entry type/);
  });

  it('refuses NUL and newline in names, a top-level .manifest and special mode bits', async () => {
    await refused([{ name: 'x', data: '1', pax: { path: 'a\0b' } }], 'unsafe', /"a\\u0000b" has a NUL byte/);
    await refused([{ name: 'a\nb', data: '1' }], 'unsafe', /newline/);
    await refused([{ name: './.manifest', data: 'x' }], 'unsafe', /top-level \.manifest/);
    await refused([{ name: '.manifest/', type: '5' }], 'unsafe', /top-level \.manifest/);
    await refused([{ name: 'suid', data: 'x', mode: 0o4755 }], 'unsafe', /special mode bits.*0o4755/);
    await refused([{ name: 'sgid', data: 'x', mode: 0o2755 }], 'unsafe', /special mode bits/);
    await refused([{ name: 'tmp/', type: '5', mode: 0o1777 }], 'unsafe', /special mode bits/);
  });

  it('refuses odd sizes, empty link targets and over-long names', async () => {
    await refused([{ name: 'd/', type: '5', size: 512, data: Buffer.alloc(512, 1) }], 'corrupt', /directory with a data size/);
    await refused([{ name: 'l', type: '2', linkname: 'x', size: 3, data: 'abc' }], 'corrupt', /symlink with a data size/);
    await refused([{ name: 'l', type: '2', linkname: '' }], 'unsafe', /empty target/);
    await refused([{ name: 'x'.repeat(300), data: '1' }], 'limit', /longer than 255 bytes/);
  });

  it('caps the bytes written before writing, and the entry count', async () => {
    const e = await refused([{ name: 'huge', data: 'tiny', size: 1e12 }], 'limit', /"huge" is 1000000000000 bytes, more than the 1000 bytes left/, { maxBytes: 1000 });
    expect(e.entry).toBe('huge');
    expect(existsSync(join(dest, 'huge'))).toBe(false);
    await refused([{ name: 'a', data: Buffer.alloc(600) }, { name: 'b', data: Buffer.alloc(600) }], 'limit', /"b" is 600 bytes, more than the 400 bytes left/, { maxBytes: 1000 });
    await refused([{ name: 'a', data: '' }, { name: 'b', data: '' }, { name: 'c', data: '' }], 'limit', /over the limit of 2 entries/, { maxEntries: 2 });
  });

  it('treats truncation as an error, never as success', async () => {
    const full = rawTar([{ name: 'a', data: Buffer.alloc(5000, 1) }, { name: 'b', data: 'x' }]);
    await refused(full.subarray(0, 2000), 'truncated', /truncated/);
    await refused(full.subarray(0, 512 * 11), 'truncated', /end-of-archive/);
    await refused(rawTar([{ name: 'a', data: 'x' }], { end: false }), 'truncated', /end-of-archive/);
    await refused(full.subarray(0, full.length - 512), 'truncated', /end-of-archive/);
    await refused(gzipSync(full).subarray(0, 100), 'truncated', /gzip stream ends early/);
    await refused(Buffer.alloc(0), 'truncated', /end-of-archive/);
  });

  it('reports a source that breaks off as a truncated transfer', async () => {
    const src = new PassThrough();
    src.write(rawTar([{ name: 'a', data: Buffer.alloc(5000) }], { end: false }).subarray(0, 3000));
    setImmediate(() => src.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })));
    const { error } = await run(src);
    expect(error).toMatchObject({ code: 'truncated', message: 'the transfer broke off (ECONNRESET)' });
  });

  it('refuses data that is not tar, and data after the end', async () => {
    await refused(Buffer.alloc(2048, 0x41), 'corrupt', /not a valid tar archive/);
    await refused(patchHeader(rawTar([{ name: 'a', data: 'x' }]), (h) => h.write('nottar', 257, 'latin1')), 'corrupt', /not a valid tar archive.*unknown format/);
    await refused(patchHeader(rawTar([{ name: 'a', data: 'x' }]), (h) => (h[150] = h[150]! ^ 1), false), 'corrupt', /not a valid tar archive/);
    await refused(Buffer.concat([rawTar([{ name: 'a', data: 'x' }]), Buffer.alloc(512, 0x41)]), 'corrupt', /not a valid tar/);
    await refused(Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(100, 7)]), 'corrupt', /gzip/);
  });

  it('stops an endless stream of zero padding', async () => {
    async function* endless() {
      yield rawTar([{ name: 'a', data: 'x' }], { end: false });
      for (;;) yield Buffer.alloc(1 << 20);
    }
    const { error } = await run(endless());
    expect(error).toMatchObject({ code: 'limit', message: expect.stringMatching(/zero padding/) });
  });
});

describe('extractTar: abort', () => {
  it('rejects promptly when aborted mid-file, closes its descriptors and destroys the source', async () => {
    const src = new PassThrough();
    const head = rawTar([{ name: 'big', data: Buffer.alloc(10_000_000) }], { end: false }).subarray(0, 512 + 300_000);
    const ac = new AbortController();
    const fds = openFds();
    const p = extractTar(src, dest, {
      alg: 'sha256new',
      signal: ac.signal,
      onProgress: (n) => {
        if (n >= 300_000) ac.abort();
      },
    });
    src.write(head);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractError);
    expect((err as ExtractError).code).toBe('aborted');
    expect(src.destroyed).toBe(true);
    expect(openFds()).toBe(fds);
  });

  it('rejects when aborted or stalled while the source is silent, and at once when already aborted', async () => {
    const ac = new AbortController();
    async function* stall() {
      yield rawTar([{ name: 'f', data: Buffer.alloc(2000) }], { end: false }).subarray(0, 1000);
      await new Promise(() => {});
    }
    const p = extractTar(stall(), dest, { alg: 'sha256new', signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: 'aborted' });
    async function* stallOnly() {
      yield rawTar([{ name: 'f', data: Buffer.alloc(2000) }], { end: false }).subarray(0, 1000);
      await new Promise(() => {});
    }
    const fresh = mkdtempSync(join(base, 'd-'));
    await expect(extractTar(stallOnly(), fresh, { alg: 'sha256new', stallMs: 50 })).rejects.toMatchObject({ code: 'stalled' });
    const pre = new AbortController();
    pre.abort();
    await expect(extractTar([rawTar([])], dest, { alg: 'sha256new', signal: pre.signal })).rejects.toMatchObject({ code: 'aborted' });
  });
});
