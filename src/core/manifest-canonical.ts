// Whether a parsed manifest (new formats: sha1new, sha256, sha256new) is the one 0install writes
// for its entries, in one pass over them in their order and without rendering it again: each
// directory's files and symlinks in byte order of their names, then its subdirectories in byte
// order, each one's `D` line followed by its own contents (depth first); every `D` line's parent
// listed before it and not left yet; no name twice in a directory (as file or directory), no
// empty, `.` or `..` component, no top-level regular file `.manifest` (0install leaves it out),
// and sizes that render as written. For the entries of a text `parseManifest` accepted, this is
// `renderManifest(entries, alg).equals(text)` (test/prop/manifest-canonical.prop.test.ts).
import { asBuffer, type ManifestEntry } from './manifest-format.js';

const SLASH = 0x2f;
const DOT = 0x2e;
const MANIFEST = Buffer.from('.manifest');

/** A directory whose `D` line was seen and whose subtree the entries have not left yet. */
interface Open {
  readonly path: Buffer;
  /** Its files' and symlinks' names, in order, and how far its subdirectories have been matched against them. */
  readonly files: Buffer[];
  matched: number;
  /** Its last subdirectory's name. */
  lastDir?: Buffer;
}


/** A name 0install can write: not empty, `.` or `..` (a line holds no newline; a name, no slash). */
function goodName(b: Buffer): boolean {
  return b.length > 0 && !(b[0] === DOT && (b.length === 1 || (b.length === 2 && b[1] === DOT)));
}

/** Whether `dir` is the parent of `path`, whose last name starts at `leaf`. */
function parentOf(dir: Buffer, path: Buffer, leaf: number): boolean {
  if (leaf === 0) return dir.length === 0;
  return dir.length === leaf - 1 && path.compare(dir, 0, dir.length, 0, leaf - 1) === 0;
}

/** Whether `entries`, as parseManifest gave them, are in 0install's form (see above). */
export function isCanonical(entries: Iterable<ManifestEntry>): boolean {
  const open: Open[] = [{ path: Buffer.alloc(0), files: [], matched: 0 }];
  for (const e of entries) {
    const path = asBuffer(e.path);
    const at = path.lastIndexOf(SLASH) + 1;
    const name = path.subarray(at);
    if (!goodName(name)) return false;
    if (e.kind === 'dir') {
      // Leave the subtrees this directory is not in; its parent must still be open.
      while (open.length && !parentOf(open.at(-1)!.path, path, at)) open.pop();
      const parent = open.at(-1);
      if (!parent || (parent.lastDir && parent.lastDir.compare(name) >= 0)) return false;
      while (parent.matched < parent.files.length && parent.files[parent.matched]!.compare(name) < 0) parent.matched++;
      if (parent.matched < parent.files.length && parent.files[parent.matched]!.equals(name)) return false;
      parent.lastDir = name;
      open.push({ path, files: [], matched: 0 });
      continue;
    }
    // A file or symlink is in the directory of the last `D` line (parseManifest joins it so).
    const dir = open.at(-1)!;
    const last = dir.files.at(-1);
    if (last && last.compare(name) >= 0) return false;
    if (e.kind === 'file' && open.length === 1 && name.equals(MANIFEST)) return false;
    // A size past 2^53 was rounded when parsed, and renders as another number.
    if (!Number.isSafeInteger(e.size)) return false;
    dir.files.push(name);
  }
  return true;
}
