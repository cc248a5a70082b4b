// The peer's answer to `GET /implementation/<digest>/mtimes` (src/core/mtimes-list.ts): walks the
// served tree with readdir and lstat only (a symlink is never followed, a directory that turns out
// not to be one is skipped) and lists each directory's and symlink's mtime, up to
// MAX_MTIMES_BYTES (the walk stops at a whole line). Synchronous calls in short time slices, as
// the tree walker does, so the peer stays responsive.
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { MAX_MTIMES_BYTES, mtimeLine } from '../core/mtimes-list.js';
import { timeSlicer } from './time-slice.js';

const SLASH = Buffer.from('/');
const NL = 0x0a;

/** The mtimes body of the tree at `dir` (its root excluded: the manifest has no line for it). */
export async function treeMtimes(dir: string, signal?: AbortSignal): Promise<Buffer> {
  const slicer = timeSlicer({ signal });
  const lines: Buffer[] = [];
  let bytes = 0;
  let capped = false;
  const add = (full: Buffer, rel: Buffer): boolean => {
    const st = lstatSync(full, { throwIfNoEntry: false, bigint: true });
    if (!st || !(st.isDirectory() || st.isSymbolicLink())) return false;
    const line = mtimeLine(st.mtimeNs / 1_000_000_000n, rel);
    if (bytes + line.length > MAX_MTIMES_BYTES) {
      capped = true;
      return false;
    }
    bytes += line.length;
    lines.push(line);
    return st.isDirectory();
  };
  const pending: Array<[Buffer, Buffer]> = [[Buffer.from(dir), Buffer.alloc(0)]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [full, rel] = next;
    let items: Dirent<Buffer>[];
    try {
      items = readdirSync(full, { encoding: 'buffer', withFileTypes: true });
    } catch {
      continue;
    }
    for (const item of items) {
      if (!(item.isDirectory() || item.isSymbolicLink()) || item.name.includes(NL)) continue;
      const childFull = Buffer.concat([full, SLASH, item.name]);
      const childRel = rel.length ? Buffer.concat([rel, SLASH, item.name]) : item.name;
      if (add(childFull, childRel)) pending.push([childFull, childRel]);
      if (capped) return Buffer.concat(lines);
    }
    await slicer.pause();
  }
  return Buffer.concat(lines);
}
