// The manifest text in the new formats (sha1new, sha256, sha256new), written line by line while
// the entries come in manifest order, as the tree walker finds them: a directory's files and
// symlinks by name, then each subdirectory's `D` line followed by its contents. Each line goes
// straight into one growing buffer, so a walk keeps no object per entry and the text needs no
// tree, sorting or second pass. An entry whose fields are not known yet (a file the hash worker
// is reading) keeps its place and is written when the text is taken. Nothing is checked: the
// entries must be canonical (`isCanonical`, src/core/manifest-canonical.ts); `renderManifest`
// takes any order and checks everything.
import type { ManifestEntry } from './manifest-format.js';

const SLASH = 0x2f;
const NL = 0x0a;
const D_LINE = Buffer.from('D /');
/** Per line at most the path, the hash, and 44 bytes of kind, mtime, size, spaces and newline. */
const lineBound = (e: ManifestEntry) => e.path.length + (e.hash?.length ?? 0) + 44;

export class ManifestLines {
  private buf = Buffer.allocUnsafeSlow(64 * 1024);
  private len = 0;
  /** Entries not written yet, with where their line goes. */
  private readonly later: Array<{ at: number; entry: ManifestEntry }> = [];

  /** The next entry in manifest order; `ready: false` if its fields are filled in later. */
  add(entry: ManifestEntry, ready = true): void {
    if (!ready) {
      this.later.push({ at: this.len, entry });
      return;
    }
    if (this.len + lineBound(entry) > this.buf.length) this.grow(lineBound(entry));
    this.len = writeLine(this.buf, this.len, entry);
  }

  /** The whole text, once every entry's fields are filled in. */
  text(): Buffer {
    if (this.later.length === 0) return this.buf.subarray(0, this.len);
    const out = Buffer.allocUnsafeSlow(this.later.reduce((n, l) => n + lineBound(l.entry), this.len));
    let from = 0;
    let n = 0;
    for (const { at, entry } of this.later) {
      n += this.buf.copy(out, n, from, at);
      n = writeLine(out, n, entry);
      from = at;
    }
    n += this.buf.copy(out, n, from, this.len);
    return out.subarray(0, n);
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.len + need));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

/** Writes the entry's line at `n` (room for `lineBound` bytes assumed); returns where it ends. */
function writeLine(out: Buffer, n: number, e: ManifestEntry): number {
  const path = e.path;
  if (e.kind === 'dir') {
    n += D_LINE.copy(out, n);
    out.set(path, n);
    n += path.length;
  } else {
    const head = e.kind === 'symlink' ? `S ${e.hash} ${e.size} ` : `${e.exec ? 'X' : 'F'} ${e.hash} ${e.mtime} ${e.size} `;
    n += out.write(head, n, 'latin1');
    const leaf = path.subarray(path.lastIndexOf(SLASH) + 1);
    out.set(leaf, n);
    n += leaf.length;
  }
  out[n++] = NL;
  return n;
}
