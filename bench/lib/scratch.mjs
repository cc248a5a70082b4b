// Where a bench builds its trees and stores. File creation cost is what a fetch, a `tar -x` and a
// `0install store add` all pay per file, and on a host whose root file system is an ext4 without
// a journal that other processes keep deleting trees on (this project's shared build machine), the
// kernel scans the recently freed inodes on every create (ext4 recently_deleted(): ~0.7 ms per
// file instead of ~20 µs), which drowns every other cost and pulls every ratio towards 1. So, as
// root, the bench works in a fresh journalled ext4 on a loop device (a sparse image file, removed
// afterwards), like the disk of a real machine; ZSHARE_BENCH_DIR=DIR uses DIR instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A scratch directory of `sizeGiB` and how it was made; call `cleanup()` when done. */
export function scratchDir(label, sizeGiB = 8) {
  const given = process.env.ZSHARE_BENCH_DIR;
  if (given) {
    mkdirSync(given, { recursive: true });
    const dir = mkdtempSync(join(given, `${label}-`));
    return { dir, how: `in ZSHARE_BENCH_DIR (${given})`, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const base = mkdtempSync(join(tmpdir(), `${label}-`));
  const plain = (why) => ({ dir: base, how: `in ${tmpdir()} (${why}; file creation costs there are the host's)`, cleanup: () => rmSync(base, { recursive: true, force: true }) });
  if (process.getuid?.() !== 0) return plain('not root, so no loop-mounted ext4');
  const image = `${base}.img`;
  try {
    execFileSync('truncate', ['-s', `${sizeGiB}G`, image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,nodiscard', image], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('mount', ['-o', 'loop,noatime', image, base], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(image, { force: true });
    return plain(`no loop-mounted ext4: ${String(err.stderr || err.message).trim().split('\n')[0]}`);
  }
  return {
    dir: base,
    how: `on a fresh journalled ext4 (${sizeGiB} GiB loop image)`,
    cleanup: () => {
      spawnSync('umount', [base]);
      rmSync(image, { force: true });
      rmSync(base, { recursive: true, force: true });
    },
  };
}
