// 0install manifests from a list of entries: ordering, line formats and the final digest,
// byte for byte as 0install 2.18 writes them (manifest.ml). No file system access here: the tree
// walker and the tar extractor both produce entries, so a transfer verifies what it received
// without reading the tree back.
import { createHash, hash } from 'node:crypto';
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
  /** The directory's path, and where its last component starts in it. */
  path: Buffer;
  ls: number;
  mtime: bigint;
  files: FileItem[];
  dirs: DirNode[];
}

/** A file or symlink: its path, where its leaf starts, and the entry. */
interface FileItem {
  path: Buffer;
  ls: number;
  e: ManifestEntry;
  /** Not written (a top-level .manifest). */
  skip?: boolean;
}

/** `p` as a Buffer over the same bytes (no copy). */
export const asBuffer = (p: Uint8Array): Buffer => (Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));

/** Checks a path's bytes (no empty, '.' or '..' component, no newline); returns its last slash or -1. */
function checkName(b: Buffer): number {
  if (b.length === 0) throw new ManifestError('an entry has an empty path');
  if (b.includes(NL)) {
    throw new ManifestError(`the name '${b.toString().replace(/\n/g, '\\n')}' contains a newline, which 0install manifests cannot represent`);
  }
  let start = 0;
  let last = -1;
  for (let i = 0; i <= b.length; i++) {
    if (i < b.length && b[i] !== SLASH) continue;
    const len = i - start;
    if (len === 0 || (b[start] === 0x2e && (len === 1 || (len === 2 && b[start + 1] === 0x2e)))) {
      throw new ManifestError(`invalid path '${b.toString()}'`);
    }
    if (i < b.length) last = i;
    start = i + 1;
  }
  return last;
}

/** Orders by the last path component's bytes, without slicing buffers. */
const byLeaf = (a: { path: Buffer; ls: number }, b: { path: Buffer; ls: number }) =>
  a.path.compare(b.path, b.ls, b.path.length, a.ls, a.path.length);

const MANIFEST_NAME = Buffer.from('.manifest');

/**
 * The directory tree of the entries. Entries usually come grouped by directory (a walk, a tar),
 * so the parent of the previous entry is tried first; duplicates are found once each directory's
 * files and subdirectories are sorted (adjacent equal names), not with a set of every path.
 */
function build(entries: Iterable<ManifestEntry>): { root: DirNode; bound: number } {
  const root: DirNode = { path: Buffer.alloc(0), ls: 0, mtime: 0n, files: [], dirs: [] };
  // The longest the text can be: per line the path, the hash, and 44 bytes of kind, mtime, size,
  // spaces and newline at most.
  let bound = 0;
  const dirs = new Map<string, DirNode>([['', root]]);
  const pending: FileItem[] = [];
  for (const e of entries) {
    const path = asBuffer(e.path);
    const slash = checkName(path);
    bound += path.length + (e.hash?.length ?? 0) + 44;
    if (e.kind === 'dir') {
      const k = path.toString('latin1');
      if (dirs.has(k)) throw new ManifestError(`duplicate directory '${path.toString()}'`);
      dirs.set(k, { path, ls: slash + 1, mtime: e.mtime ?? 0n, files: [], dirs: [] });
    } else {
      pending.push({ path, ls: slash + 1, e });
    }
  }
  for (const [k, node] of dirs) {
    if (k === '') continue;
    const parent = dirs.get(k.slice(0, Math.max(0, node.ls - 1)));
    if (!parent) throw new ManifestError(`directory '${node.path.toString()}' has no parent directory entry`);
    parent.dirs.push(node);
  }
  let last = root;
  for (const item of pending) {
    const { path, ls, e } = item;
    const plen = Math.max(0, ls - 1);
    let parent: DirNode | undefined = last;
    if (parent.path.length !== plen || path.compare(parent.path, 0, plen, 0, plen) !== 0) {
      parent = dirs.get(path.toString('latin1', 0, plen));
      if (!parent) throw new ManifestError(`'${path.toString()}' has no parent directory entry`);
      last = parent;
    }
    // 0install skips only a regular file called .manifest at the top level (it still counts
    // for duplicates).
    if (e.kind === 'file' && parent === root && path.equals(MANIFEST_NAME)) item.skip = true;
    parent.files.push(item);
  }
  return { root, bound };
}

const duplicate = (path: Buffer) => new ManifestError(`duplicate entry '${path.toString()}'`);

/** Sorts a directory's files and subdirectories; no name may appear twice among them. */
function sortNode(dir: DirNode): void {
  dir.files.sort(byLeaf);
  dir.dirs.sort(byLeaf);
  const { files, dirs } = dir;
  for (let i = 1; i < files.length; i++) if (byLeaf(files[i - 1]!, files[i]!) === 0) throw duplicate(files[i]!.path);
  for (let i = 0, j = 0; i < files.length && j < dirs.length; ) {
    const c = byLeaf(files[i]!, dirs[j]!);
    if (c === 0) throw duplicate(files[i]!.path);
    if (c < 0) i++;
    else j++;
  }
}

/** The manifest text, written into one buffer of the text's size at most (no buffer per line). */
class Out {
  len = 0;
  constructor(private buf: Buffer) {}
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  text(s: string): void {
    this.room(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function fileLine(out: Out, f: FileItem): void {
  const e = f.e;
  if (f.skip) return;
  if (e.hash === undefined || e.size === undefined) {
    throw new ManifestError(`entry '${f.path.toString()}' lacks its hash or size`);
  }
  // The name's bytes as latin1 characters, so the line is one string written back byte for byte.
  const name = f.path.toString('latin1', f.ls);
  out.text(e.kind === 'symlink' ? `S ${e.hash} ${e.size} ${name}\n` : `${e.exec ? 'X' : 'F'} ${e.hash} ${e.mtime ?? 0n} ${e.size} ${name}\n`);
}

function dirLine(out: Out, d: DirNode, old: boolean): void {
  const path = d.path.toString('latin1');
  out.text(old ? `D ${d.mtime} /${path}\n` : `D /${path}\n`);
}

/** The manifest text for these entries, in 0install's order and format for `alg`. */
export function renderManifest(entries: Iterable<ManifestEntry>, alg: Algorithm): Buffer {
  const { root, bound } = build(entries);
  const out = new Out(Buffer.allocUnsafe(bound));
  const old = alg === 'sha1';
  const walk = (dir: DirNode) => {
    sortNode(dir);
    if (old) {
      // The old format interleaves files and subdirectories in name order.
      const { files, dirs } = dir;
      for (let i = 0, j = 0; i < files.length || j < dirs.length; ) {
        if (j >= dirs.length || (i < files.length && byLeaf(files[i]!, dirs[j]!) < 0)) fileLine(out, files[i++]!);
        else {
          const d = dirs[j++]!;
          dirLine(out, d, true);
          walk(d);
        }
      }
      return;
    }
    for (const f of dir.files) fileLine(out, f);
    for (const d of dir.dirs) {
      dirLine(out, d, false);
      walk(d);
    }
  };
  walk(root);
  return out.result();
}

/** Hash of the manifest text, encoded as 0install does (hex, or base32 for sha256new). */
export function manifestDigest(manifest: Uint8Array, alg: Algorithm): Digest {
  const raw = createHash(hashName(alg)).update(manifest).digest();
  return { alg, value: alg === 'sha256new' ? base32(raw) : raw.toString('hex') };
}

/** Hex hash of some content with the algorithm's file hash (one call, no Hash object). */
export function contentHash(data: Uint8Array, alg: Algorithm): string {
  return hash(hashName(alg), data, 'hex');
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
