// 0install manifests from a list of entries: ordering, line formats and the final digest,
// byte for byte as 0install 2.18 writes them (manifest.ml). No file system access here: the tree
// walker and the tar extractor both produce entries, so a transfer verifies what it received
// without reading the tree back.
import { createHash } from 'node:crypto';
import { base32 } from './base32.js';
import { type Algorithm, type Digest, hashName } from './digest.js';

export type EntryKind = 'dir' | 'file' | 'symlink';

export interface ManifestEntry {
  /** Path from the implementation root, '/'-separated raw bytes, no leading slash. */
  readonly path: Uint8Array;
  readonly kind: EntryKind;
  /** Files: any execute bit set. */
  readonly exec?: boolean;
  /** Whole seconds (files; directories only matter for the old sha1 format). */
  readonly mtime?: bigint;
  /** Files: content length; symlinks: target length in bytes. */
  readonly size?: number;
  /** Files: hex hash of the content; symlinks: hex hash of the target bytes. */
  readonly hash?: string;
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

const NL = 0x0a;
const SLASH = 0x2f;

interface DirNode {
  leaf: Buffer;
  path: Buffer;
  mtime: bigint;
  files: ManifestEntry[];
  dirs: DirNode[];
}

function lastSlash(p: Uint8Array): number {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength).lastIndexOf(SLASH);
}

function key(p: Uint8Array): string {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1');
}

function leafOf(p: Uint8Array): Buffer {
  const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  return b.subarray(lastSlash(b) + 1);
}

function parentOf(p: Uint8Array): string {
  const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  const i = lastSlash(b);
  return i < 0 ? '' : b.subarray(0, i).toString('latin1');
}

function checkName(path: Uint8Array): void {
  const b = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  if (b.length === 0) throw new ManifestError('an entry has an empty path');
  if (b.includes(NL)) {
    throw new ManifestError(`the name '${b.toString().replace(/\n/g, '\\n')}' contains a newline, which 0install manifests cannot represent`);
  }
  for (const part of b.toString('latin1').split('/')) {
    if (part === '' || part === '.' || part === '..') throw new ManifestError(`invalid path '${b.toString()}'`);
  }
}

function build(entries: Iterable<ManifestEntry>): DirNode {
  const root: DirNode = { leaf: Buffer.alloc(0), path: Buffer.alloc(0), mtime: 0n, files: [], dirs: [] };
  const dirs = new Map<string, DirNode>([['', root]]);
  const pending: ManifestEntry[] = [];
  for (const e of entries) {
    checkName(e.path);
    if (e.kind === 'dir') {
      const k = key(e.path);
      if (dirs.has(k)) throw new ManifestError(`duplicate directory '${Buffer.from(e.path).toString()}'`);
      dirs.set(k, { leaf: leafOf(e.path), path: Buffer.from(e.path), mtime: e.mtime ?? 0n, files: [], dirs: [] });
    } else {
      pending.push(e);
    }
  }
  for (const [k, node] of dirs) {
    if (k === '') continue;
    const parent = dirs.get(parentOf(node.path));
    if (!parent) throw new ManifestError(`directory '${node.path.toString()}' has no parent directory entry`);
    parent.dirs.push(node);
  }
  const names = new Set<string>();
  for (const e of pending) {
    const parentKey = parentOf(e.path);
    const parent = dirs.get(parentKey);
    if (!parent) throw new ManifestError(`'${Buffer.from(e.path).toString()}' has no parent directory entry`);
    const k = key(e.path);
    if (names.has(k) || dirs.has(k)) throw new ManifestError(`duplicate entry '${Buffer.from(e.path).toString()}'`);
    names.add(k);
    // 0install skips only a regular file called .manifest at the top level.
    if (e.kind === 'file' && parentKey === '' && k === '.manifest') continue;
    parent.files.push(e);
  }
  return root;
}

const byLeaf = (a: { leaf: Buffer }, b: { leaf: Buffer }) => Buffer.compare(a.leaf, b.leaf);

function fileLine(e: ManifestEntry, leaf: Buffer): Buffer {
  if (e.hash === undefined || e.size === undefined) {
    throw new ManifestError(`entry '${Buffer.from(e.path).toString()}' lacks its hash or size`);
  }
  const head =
    e.kind === 'symlink'
      ? `S ${e.hash} ${e.size} `
      : `${e.exec ? 'X' : 'F'} ${e.hash} ${e.mtime ?? 0n} ${e.size} `;
  return Buffer.concat([Buffer.from(head, 'latin1'), leaf, Buffer.from('\n')]);
}

/** The manifest text for these entries, in 0install's order and format for `alg`. */
export function renderManifest(entries: Iterable<ManifestEntry>, alg: Algorithm): Buffer {
  const root = build(entries);
  const out: Buffer[] = [];
  const old = alg === 'sha1';
  const walk = (dir: DirNode) => {
    if (old) {
      const items: Array<{ leaf: Buffer; file?: ManifestEntry; dir?: DirNode }> = [
        ...dir.files.map((f) => ({ leaf: leafOf(f.path), file: f })),
        ...dir.dirs.map((d) => ({ leaf: d.leaf, dir: d })),
      ].sort(byLeaf);
      for (const it of items) {
        if (it.file) out.push(fileLine(it.file, it.leaf));
        else if (it.dir) {
          out.push(Buffer.concat([Buffer.from(`D ${it.dir.mtime} /`), it.dir.path, Buffer.from('\n')]));
          walk(it.dir);
        }
      }
      return;
    }
    const files = dir.files.map((f) => ({ leaf: leafOf(f.path), f })).sort(byLeaf);
    for (const { leaf, f } of files) out.push(fileLine(f, leaf));
    for (const d of [...dir.dirs].sort(byLeaf)) {
      out.push(Buffer.concat([Buffer.from('D /'), d.path, Buffer.from('\n')]));
      walk(d);
    }
  };
  walk(root);
  return Buffer.concat(out);
}

/** Hash of the manifest text, encoded as 0install does (hex, or base32 for sha256new). */
export function manifestDigest(manifest: Uint8Array, alg: Algorithm): Digest {
  const raw = createHash(hashName(alg)).update(manifest).digest();
  return { alg, value: alg === 'sha256new' ? base32(raw) : raw.toString('hex') };
}

/** Hex hash of some content with the algorithm's file hash. */
export function contentHash(data: Uint8Array, alg: Algorithm): string {
  return createHash(hashName(alg)).update(data).digest('hex');
}

/**
 * Parses a manifest in the new formats (sha1new, sha256, sha256new) back into entries, so a
 * client can check files one by one against it. Rejects anything 0install would not write.
 */
export function parseManifest(manifest: Uint8Array): ManifestEntry[] {
  const buf = Buffer.from(manifest.buffer, manifest.byteOffset, manifest.byteLength);
  const entries: ManifestEntry[] = [];
  let dir = Buffer.alloc(0);
  let start = 0;
  let lineNo = 0;
  const join = (leaf: Buffer) => (dir.length ? Buffer.concat([dir, Buffer.from('/'), leaf]) : leaf);
  while (start < buf.length) {
    lineNo++;
    const end = buf.indexOf(NL, start);
    if (end < 0) throw new ManifestError(`manifest line ${lineNo} does not end with a newline`);
    const line = buf.subarray(start, end);
    start = end + 1;
    const bad = () => new ManifestError(`manifest line ${lineNo} is malformed: '${line.toString()}'`);
    const fields = (n: number) => {
      const parts: Buffer[] = [];
      let p = 2;
      for (let i = 0; i < n - 1; i++) {
        const sp = line.indexOf(0x20, p);
        if (sp < 0) throw bad();
        parts.push(line.subarray(p, sp));
        p = sp + 1;
      }
      parts.push(line.subarray(p));
      return parts;
    };
    const num = (b: Buffer | undefined) => {
      const s = b?.toString('latin1') ?? '';
      if (!/^(0|[1-9][0-9]*)$/.test(s)) throw bad();
      return s;
    };
    const hex = (b: Buffer | undefined) => {
      const s = b?.toString('latin1') ?? '';
      if (!/^[0-9a-f]+$/.test(s)) throw bad();
      return s;
    };
    if (line[1] !== 0x20) throw bad();
    switch (line[0]) {
      case 0x44: { // D
        const p = line.subarray(2);
        if (p[0] !== SLASH || p.length < 2) throw bad();
        dir = Buffer.from(p.subarray(1));
        entries.push({ path: dir, kind: 'dir' });
        break;
      }
      case 0x46: case 0x58: { // F, X
        const [h, m, s, leaf] = fields(4);
        if (!leaf?.length || leaf.includes(SLASH)) throw bad();
        entries.push({ path: join(Buffer.from(leaf)), kind: 'file', exec: line[0] === 0x58, hash: hex(h), mtime: BigInt(num(m)), size: Number(num(s)) });
        break;
      }
      case 0x53: { // S
        const [h, s, leaf] = fields(3);
        if (!leaf?.length || leaf.includes(SLASH)) throw bad();
        entries.push({ path: join(Buffer.from(leaf)), kind: 'symlink', hash: hex(h), size: Number(num(s)) });
        break;
      }
      default:
        throw bad();
    }
  }
  return entries;
}

/** Sum of the file sizes a manifest lists (its F and X lines), without parsing it fully. */
export function manifestFileBytes(text: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('F ') && !line.startsWith('X ')) continue;
    const size = line.split(' ', 4)[3];
    if (size !== undefined && /^[0-9]+$/.test(size)) total += Number(size);
  }
  return total;
}
