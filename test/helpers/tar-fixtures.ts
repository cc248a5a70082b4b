// Raw tar archives for extractor tests: any name bytes (NUL, newline, '..'), any type flag, mode,
// size (including sizes that lie about the data), pax records and GNU long names, with or without
// the end-of-archive blocks. Plus a snapshot of a directory tree to prove nothing changed outside
// the extraction directory, the sandbox the extractor tests share, and the run that checks what
// must hold whatever the archive.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { renderManifest } from '../../src/core/manifest-format.js';
import { extractTar, type ExtractOptions, type ExtractResult, type TarSource } from '../../src/io/tar-extract.js';
import { removeTreeSync } from '../../src/io/tmp-registry.js';
import { walkTree } from '../../src/io/tree-walk.js';

export interface RawEntry {
  name: string | Buffer;
  /** Type flag character: '0' file, '1' hard link, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo, '7' contiguous. */
  type?: string;
  mode?: number;
  data?: Buffer | string;
  /** Header size when it should differ from the data length. */
  size?: number;
  linkname?: string | Buffer;
  mtime?: number;
  /** Extra pax records (a pax header is also added automatically for names over 100 bytes). */
  pax?: Record<string, string | Buffer>;
  /** Send the name as a GNU long-name record instead. */
  gnuLongName?: boolean;
}

const b = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s);

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
}

function block(fields: { name: Buffer; mode: number; size: number; mtime: number; type: string; linkname?: Buffer; gnu?: boolean }): Buffer {
  const h = Buffer.alloc(512);
  fields.name.subarray(0, 100).copy(h, 0);
  octal(h, fields.mode & 0o7777777, 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  if (fields.size < 8 ** 11) octal(h, fields.size, 124, 12);
  else {
    h[124] = 0x80;
    let n = fields.size;
    for (let i = 135; i > 124; i--) {
      h[i] = n % 256;
      n = Math.floor(n / 256);
    }
  }
  octal(h, Math.max(0, fields.mtime), 136, 12);
  h.write(fields.type, 156, 'latin1');
  fields.linkname?.subarray(0, 100).copy(h, 157);
  h.write(fields.gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

function paxRecords(records: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), b(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.concat([Buffer.from(String(len)), body]));
  }
  return Buffer.concat(parts);
}

/** One entry's blocks. */
export function entryBlocks(e: RawEntry): Buffer {
  const name = b(e.name);
  const data = b(e.data ?? '');
  const out: Buffer[] = [];
  const pax: Record<string, string | Buffer> = { ...(e.pax ?? {}) };
  if (name.length > 100 && !e.gnuLongName) pax.path = name;
  if (e.gnuLongName) {
    const v = Buffer.concat([name, Buffer.alloc(1)]);
    out.push(block({ name: Buffer.from('././@LongLink'), mode: 0o644, size: v.length, mtime: 0, type: 'L', gnu: true }), v, pad(v.length));
  }
  if (Object.keys(pax).length) {
    const p = paxRecords(pax);
    out.push(block({ name: Buffer.from('PaxHeader'), mode: 0o644, size: p.length, mtime: 0, type: 'x' }), p, pad(p.length));
  }
  const size = e.size ?? data.length;
  out.push(
    block({ name, mode: e.mode ?? (e.type === '5' ? 0o755 : 0o644), size, mtime: e.mtime ?? 1_000_000, type: e.type ?? '0', linkname: e.linkname ? b(e.linkname) : undefined }),
    data,
    pad(data.length),
  );
  return Buffer.concat(out);
}

/** A whole archive; `end: false` leaves out the two zero blocks. */
export function rawTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  return Buffer.concat([...entries.map(entryBlocks), opts.end === false ? Buffer.alloc(0) : Buffer.alloc(1024)]);
}

/** Everything under `dir` except the trees at `skip` (absolute paths): type, mode, size, mtime, content hash, link target. */
export function snapshot(dir: string, skip: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    if (skip.includes(p)) return;
    const st = lstatSync(p, { bigint: true });
    let desc = `${st.mode.toString(8)} ${st.mtimeNs} ${st.size}`;
    if (st.isSymbolicLink()) desc += ` -> ${readlinkSync(p)}`;
    else if (st.isFile()) desc += ` ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    out.set(p, desc);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return out;
}

/** Regular files under `dir` (symlinks not followed), as root-relative paths, with total size. */
export function filesIn(dir: string): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  const walk = (rel: string) => {
    for (const n of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) {
        files.push(r);
        bytes += st.size;
      }
    }
  };
  walk('');
  return { files, bytes };
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Removes a tree even when it is read-only (the extractor leaves directories 0555, as a store does). */
export { removeTreeSync as removeAll };

/** A temp dir `base` holding the extraction directory `dest` and, beside it, the victims a hostile archive aims at. */
export interface ExtractionSandbox {
  base: string;
  /** `victim` (a file), `victim-link` (a symlink to it) and `sub/`. */
  outside: string;
  dest: string;
}

export function extractionSandbox(prefix: string): ExtractionSandbox {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const outside = join(base, 'outside');
  const dest = join(base, 'dest');
  mkdirSync(join(outside, 'sub'), { recursive: true });
  mkdirSync(dest);
  writeFileSync(join(outside, 'victim'), 'original');
  symlinkSync('victim', join(outside, 'victim-link'));
  return { base, outside, dest };
}

/**
 * Extracts `source` into a fresh `dest` of the sandbox and checks what holds whatever the archive:
 * nothing else under `base` changed, no descriptor stayed open, no more than `maxBytes` of files
 * were written, and on success the manifest returned is the manifest of the tree on disk.
 */
export async function checkedExtract(
  sb: ExtractionSandbox,
  source: TarSource,
  opts: Partial<ExtractOptions> = {},
): Promise<{ result?: ExtractResult; error?: unknown }> {
  removeTreeSync(sb.dest);
  mkdirSync(sb.dest);
  const before = snapshot(sb.base, [sb.dest]);
  const fds = openFds();
  let result: ExtractResult | undefined;
  let error: unknown;
  try {
    result = await extractTar(source, sb.dest, { alg: 'sha256new', ...opts });
  } catch (err) {
    error = err;
  }
  expect(snapshot(sb.base, [sb.dest])).toEqual(before);
  expect(openFds()).toBe(fds);
  if (opts.maxBytes !== undefined) expect(filesIn(sb.dest).bytes).toBeLessThanOrEqual(opts.maxBytes);
  if (result) {
    const onDisk = renderManifest(await walkTree(sb.dest, 'sha256new'), 'sha256new');
    expect(result.manifest.toString('latin1')).toBe(onDisk.toString('latin1'));
  }
  return { result, error };
}
