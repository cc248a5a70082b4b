// Builds small directory trees for tests from a flat description (raw-byte names allowed),
// with exact modes and mtimes, a store holding one implementation made of a few files, and a
// temp-dir helper that cleans up read-only store trees.
import { execFileSync } from 'node:child_process';
import { chmodSync, lutimesSync, mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDigest } from '../../src/core/digest.js';
import { addDirectory, removeTree } from '../../src/io/store-add.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';

export type TreeSpec =
  | { path: string | Buffer; kind: 'dir'; mode?: number; mtime?: number | string }
  | { path: string | Buffer; kind: 'file'; content?: string | Buffer; mode?: number; mtime?: number | string }
  | { path: string | Buffer; kind: 'symlink'; target: string | Buffer; mtime?: number };

/** `root/path` as a Buffer, so names need not be UTF-8. */
export function at(root: string, path: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(root), Buffer.from('/'), Buffer.from(path)]);
}

/**
 * mtime as whole seconds (number) or as a `touch -d` stamp such as '@1795301940.999999999'
 * (nanoseconds; Node's utimes can't set those exactly).
 */
function setMtime(p: Buffer, mtime: number | string): void {
  if (typeof mtime === 'number') utimesSync(p, mtime, mtime);
  else execFileSync('touch', ['-m', '-d', mtime, p.toString()]); // (UTF-8 names only)
}

/** Creates the entries in order (parents first); directory modes and mtimes are set last. */
export function buildTree(root: string, spec: TreeSpec[]): void {
  mkdirSync(root, { recursive: true });
  const dirs: Array<{ p: Buffer; mode?: number; mtime?: number | string }> = [];
  for (const e of spec) {
    const p = at(root, e.path);
    if (e.kind === 'dir') {
      mkdirSync(p, { recursive: true });
      dirs.push({ p, mode: e.mode, mtime: e.mtime });
    } else if (e.kind === 'file') {
      writeFileSync(p, e.content ?? '');
      chmodSync(p, e.mode ?? 0o644);
      if (e.mtime !== undefined) setMtime(p, e.mtime);
    } else {
      symlinkSync(Buffer.from(e.target), p);
      if (e.mtime !== undefined) lutimesSync(p, e.mtime, e.mtime);
    }
  }
  for (const d of dirs.reverse()) {
    if (d.mode !== undefined) chmodSync(d.p, d.mode);
    if (d.mtime !== undefined) setMtime(d.p, d.mtime);
  }
}

/**
 * Writes `files` (name → content) into a new directory `src` and adds it to `store` (created if
 * need be) as a sha256new implementation: its digest as text, and its manifest.
 */
export async function storeImplementation(src: string, store: string, files: Record<string, string | Buffer>): Promise<{ digest: string; manifest: Buffer }> {
  mkdirSync(src);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(src, name), content);
  const { digest, manifest } = await manifestOfTree(src, 'sha256new');
  await addDirectory(src, store, digest);
  return { digest: formatDigest(digest), manifest };
}

/** A fresh temp dir and a cleanup that also removes read-only (store) trees inside it. */
export function tempDir(prefix = '0share-test-'): { dir: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => removeTree(dir) };
}
