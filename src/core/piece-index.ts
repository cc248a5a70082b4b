// The piece route's view of a manifest: which paths a client may ask pieces of (the files and
// symlinks it lists), each with its number in manifest order (the numbering of /have and of the
// swarm plan), its size and whether it is a symlink. Built in one pass over the manifest's bytes
// and kept compact (a map of latin1 path keys to numbers, and the sizes), since a peer keeps it
// for every tree it serves pieces of: no entry objects, hashes or mtimes, which for a
// 50,000-file manifest cost about 25 MB of heap and a parse peak of about 60 MB. Only the new
// formats' lines are accepted, and only names without an empty, '.' or '..' component (the peer
// joins them to a directory), so the old format and malformed lines are a ManifestError and the
// tree is served only whole; the fields the route does not use (hashes, mtimes) are not checked.
// Pure.
import { ManifestError } from './manifest-format.js';

const NL = 0x0a;
const SP = 0x20;
const SLASH = 0x2f;
const DOT = 0x2e;
const DIGITS = /^(0|[1-9][0-9]{0,15})$/;

export interface PieceIndex {
  /** Files and symlinks listed. */
  readonly files: number;
  /** The number of the file or symlink at `key` (the latin1 of its path bytes), if listed. */
  find(key: string): number | undefined;
  /** Its size (a symlink's: its target's length). */
  size(file: number): number;
  isSymlink(file: number): boolean;
}

/** Whether `b[from, to)` is a valid name: no empty, '.' or '..' component. */
function validPath(b: Buffer, from: number, to: number): boolean {
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && b[i] !== SLASH) continue;
    const n = i - start;
    if (n === 0 || (n === 1 && b[start] === DOT) || (n === 2 && b[start] === DOT && b[start + 1] === DOT)) return false;
    start = i + 1;
  }
  return true;
}

/** The index of a new-format manifest (throws ManifestError for anything else). */
export function pieceIndex(manifest: Uint8Array): PieceIndex {
  const buf = Buffer.from(manifest.buffer, manifest.byteOffset, manifest.byteLength);
  const numbers = new Map<string, number>();
  const sizes: number[] = [];
  const symlinks = new Set<number>();
  let dir = '';
  let lineNo = 0;
  for (let start = 0; start < buf.length; ) {
    lineNo++;
    const end = buf.indexOf(NL, start);
    if (end < 0) throw new ManifestError(`manifest line ${lineNo} does not end with a newline`);
    const bad = () => new ManifestError(`manifest line ${lineNo} is malformed`);
    const type = buf[start];
    if (buf[start + 1] !== SP) throw bad();
    if (type === 0x44) {
      // D /path
      if (buf[start + 2] !== SLASH || !validPath(buf, start + 3, end)) throw bad();
      dir = buf.toString('latin1', start + 3, end);
    } else if (type === 0x46 || type === 0x58 || type === 0x53) {
      // F|X hash mtime size name, S hash size name: the size is the field before the name.
      let p = start + 2;
      let sizeAt = 0;
      for (let field = type === 0x53 ? 2 : 3; field > 0; field--) {
        const sp = buf.indexOf(SP, p);
        if (sp < 0 || sp >= end) throw bad();
        if (field === 1) sizeAt = p;
        p = sp + 1;
      }
      const size = buf.toString('latin1', sizeAt, p - 1);
      const slash = buf.indexOf(SLASH, p);
      if (!DIGITS.test(size) || (slash >= 0 && slash < end) || !validPath(buf, p, end)) throw bad();
      const leaf = buf.toString('latin1', p, end);
      const file = sizes.length;
      numbers.set(dir ? `${dir}/${leaf}` : leaf, file);
      sizes.push(Number(size));
      if (type === 0x53) symlinks.add(file);
    } else throw bad();
    start = end + 1;
  }
  return {
    files: sizes.length,
    find: (key) => numbers.get(key),
    size: (file) => sizes[file]!,
    isSymlink: (file) => symlinks.has(file),
  };
}
