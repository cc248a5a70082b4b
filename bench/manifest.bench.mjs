// `0share manifest` (the built CLI) against `0install store manifest`, both sha256new, on the
// same generated ~200 MB tree (20 × 8 MiB + 5,000 small files). Warm page cache; 3 timed runs
// each, alternating; prints best and median times and the ratio of medians (goal <= 0.5).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTree } from './lib/make-tree.mjs';

const CLI = fileURLToPath(new URL('../dist/bin/0share.js', import.meta.url));
const RUNS = 3;

if (spawnSync('0install', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.log('manifest: SKIPPED — 0install is not installed (apt-get install 0install-core)');
  process.exit(0);
}
if (!existsSync(CLI)) {
  console.error(`manifest: ${CLI} is missing; run \`npm run build\` first`);
  process.exit(1);
}

const commands = {
  '0install store manifest': ['0install', ['store', 'manifest']],
  '0share manifest': [process.execPath, [CLI, 'manifest']],
};

function timeOnce([cmd, args], dir) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, [...args, dir, 'sha256new'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { ms, out: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const root = mkdtempSync(join(tmpdir(), '0share-bench-'));
try {
  const dir = join(root, 'tree');
  const stats = makeTree(dir);
  console.log(`tree: ${stats.files} files, ${stats.symlinks} symlinks, ${stats.dirs} dirs, ${(stats.bytes / 1e6).toFixed(1)} MB`);
  const outputs = {};
  for (const [name, c] of Object.entries(commands)) outputs[name] = timeOnce(c, dir).out; // warm-up
  if (outputs['0share manifest'] !== outputs['0install store manifest']) throw new Error('the two manifests differ!');
  const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  for (let i = 0; i < RUNS; i++) for (const [name, c] of Object.entries(commands)) times[name].push(timeOnce(c, dir).ms);
  for (const [name, ts] of Object.entries(times)) {
    console.log(`${name.padEnd(24)} best ${Math.min(...ts).toFixed(0)} ms, median ${median(ts).toFixed(0)} ms`);
  }
  const ratio = median(times['0share manifest']) / median(times['0install store manifest']);
  console.log(`identical output: yes (${outputs['0share manifest'].trim().split('\n').pop()})`);
  console.log(`ratio 0share/0install = ${ratio.toFixed(2)} (goal <= 0.5)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
