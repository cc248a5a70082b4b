// Deterministic benchmark trees. makeTree: a few big files plus thousands of small files spread
// over nested directories, some executable, some symlinks (one dangling); makeDeepTree: many
// small files in deep directories, shaped like a node_modules; makeLinkTree: symlinks and empty
// files only. Same seed → same bytes, names, modes and mtimes, so 0share and 0install hash
// exactly the same tree.
import { mkdirSync, writeFileSync, symlinkSync, utimesSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/** Small, fast, seeded PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` pseudo-random bytes from a xorshift32 stream seeded with `seed`. */
export function content(size, seed) {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

/**
 * Creates the tree under `dir` (created if missing; should be empty).
 * Returns { files, symlinks, dirs, bytes }.
 */
export function makeTree(dir, { bigFiles = 20, bigSize = 8 * MiB, smallFiles = 5000, seed = 1 } = {}) {
  const rand = prng(seed);
  const mtime = () => 1_600_000_000 + Math.floor(rand() * 100_000_000);
  const stats = { files: 0, symlinks: 0, dirs: 0, bytes: 0 };
  mkdirSync(dir, { recursive: true });

  const big = join(dir, 'big');
  mkdirSync(big);
  stats.dirs++;
  for (let i = 0; i < bigFiles; i++) {
    const p = join(big, `blob-${String(i).padStart(3, '0')}.bin`);
    writeFileSync(p, content(bigSize, seed * 1000 + i));
    const t = mtime();
    utimesSync(p, t, t);
    stats.files++;
    stats.bytes += bigSize;
  }

  // Small files: ~50 per leaf directory; directories nested 1 to 3 levels deep.
  const perDir = 50;
  const dirs = [];
  const nDirs = Math.ceil(smallFiles / perDir);
  const allDirs = new Set();
  for (let d = 0; d < nDirs; d++) {
    const depth = (d % 3) + 1;
    const parts = [`lib${d % 7}`];
    if (depth >= 2) parts.push(`pkg-${d % 11}`);
    if (depth >= 3) parts.push(`mod ${d % 13}`);
    for (let i = 1; i <= parts.length; i++) allDirs.add(parts.slice(0, i).join('/'));
    const p = join(dir, ...parts);
    mkdirSync(p, { recursive: true });
    dirs.push(p);
  }
  let made = 0;
  for (let d = 0; d < dirs.length && made < smallFiles; d++) {
    const where = dirs[d];
    const names = [];
    for (let i = 0; i < perDir && made < smallFiles; i++, made++) {
      const name = `${rand() < 0.5 ? 'f' : 'F'}${made}${rand() < 0.3 ? '.txt' : '.dat'}`;
      const r = rand();
      const size = Math.floor(r * r * 24 * 1024); // mean ≈ 8 KiB
      const p = join(where, name);
      writeFileSync(p, content(size, seed * 100_000 + made));
      if (rand() < 0.1) chmodSync(p, 0o755);
      const t = mtime();
      utimesSync(p, t, t);
      names.push(name);
      stats.files++;
      stats.bytes += size;
    }
    // A symlink or two per directory, to a sibling; one dangling and one absolute in the tree.
    const target = names[Math.floor(rand() * names.length)];
    if (target) {
      symlinkSync(target, join(where, `link-${d}`));
      stats.symlinks++;
    }
    if (d === 0) {
      symlinkSync('does/not/exist', join(where, 'dangling'));
      symlinkSync('/usr/share/doc', join(where, 'absolute'));
      stats.symlinks += 2;
    }
  }
  stats.dirs += allDirs.size;
  return stats;
}

const DIR_NAMES = ['node_modules', 'lib', 'src', 'dist', 'esm', 'cjs', 'test', 'types', 'internal', 'utils', 'locale', 'build'];
const FILE_EXT = ['.js', '.js', '.js', '.d.ts', '.json', '.map', '.md', ''];

/**
 * `files` small files (mean ~4 KiB, one in 20 empty, one in 20 executable) in directories up to 9
 * levels deep, about 20 files each, like a node_modules; a symlink in one directory in ten.
 * Returns { files, symlinks, dirs, bytes }.
 */
export function makeDeepTree(dir, { files = 50_000, seed = 2 } = {}) {
  const rand = prng(seed);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const mtime = () => 1_500_000_000 + Math.floor(rand() * 200_000_000);
  const stats = { files: 0, symlinks: 0, dirs: 0, bytes: 0 };
  mkdirSync(dir, { recursive: true });
  // The directories: each new one goes under a random earlier one of depth < 9.
  const dirs = [{ path: dir, depth: 0 }];
  const nDirs = Math.max(1, Math.ceil(files / 20));
  for (let d = 1; d <= nDirs; d++) {
    let parent;
    do parent = pick(dirs);
    while (parent.depth >= 9);
    const name = parent.depth % 3 === 0 ? `pkg-${d}` : `${pick(DIR_NAMES)}-${d}`;
    const path = join(parent.path, name);
    mkdirSync(path);
    dirs.push({ path, depth: parent.depth + 1 });
    stats.dirs++;
  }
  for (let i = 0; i < files; i++) {
    const where = dirs[1 + (i % nDirs)].path;
    const p = join(where, `m${i}${pick(FILE_EXT)}`);
    const r = rand();
    const size = rand() < 0.05 ? 0 : Math.floor(r * r * r * 16 * 1024);
    writeFileSync(p, content(size, seed * 1_000_000 + i));
    if (rand() < 0.05) chmodSync(p, 0o755);
    const t = mtime();
    utimesSync(p, t, t);
    stats.files++;
    stats.bytes += size;
    if (i % 200 === 0) {
      symlinkSync(`m${i}${FILE_EXT[0]}`, join(where, `link-${i}`));
      stats.symlinks++;
    }
  }
  return stats;
}

/** `links` symlinks (relative, some dangling, some absolute) and `empties` empty files, 100 per directory. */
export function makeLinkTree(dir, { links = 10_000, empties = 10_000, seed = 3 } = {}) {
  const rand = prng(seed);
  const stats = { files: 0, symlinks: 0, dirs: 0, bytes: 0 };
  mkdirSync(dir, { recursive: true });
  const total = links + empties;
  let where = dir;
  for (let i = 0; i < total; i++) {
    if (i % 100 === 0) {
      where = join(dir, `d${Math.floor(i / 1000)}`, `e${Math.floor(i / 100) % 10}`);
      mkdirSync(where, { recursive: true });
      stats.dirs++;
    }
    if (i % 2 === 0 && stats.symlinks < links) {
      const r = rand();
      const target = r < 0.1 ? `/usr/lib/x${i}` : r < 0.2 ? `missing-${i}` : `../e${i % 10}/f${i + 1}`;
      symlinkSync(target, join(where, `l${i}`));
      stats.symlinks++;
    } else {
      const p = join(where, `f${i}`);
      writeFileSync(p, '');
      const t = 1_400_000_000 + Math.floor(rand() * 100_000_000);
      utimesSync(p, t, t);
      stats.files++;
    }
  }
  return stats;
}
