// Runs every bench/*.bench.mjs in name order, each in its own Node process; each prints its
// own result lines. Exits non-zero if any benchmark failed. (`npm run bench` builds first.)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// `--only a,b` (or ZSHARE_BENCH_ONLY=a,b) selects by file name (run-overhead, serve-memory,
// shapes, swarm, tar); any other name is a section of shapes.bench.mjs (tree-190mb,
// deep-50k, big-2x400, links, scaling), which then runs just those.
const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const only = (onlyAt >= 0 ? argv[onlyAt + 1] : process.env.ZSHARE_BENCH_ONLY ?? '').split(',').filter(Boolean);
const stem = (f) => f.replace(/\.bench\.mjs$/, '');
const all = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).sort();
const files = new Set(all.map(stem));
const benches = all.filter((f) => only.length === 0 || only.includes(stem(f)) || (stem(f) === 'shapes' && only.some((o) => !files.has(o))));
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n== ${file}\n`);
  // shapes gets only its own section names (or all of them when the file itself was named).
  const sections = only.filter((o) => !files.has(o));
  const rest = onlyAt >= 0 ? [...argv.slice(0, onlyAt), ...argv.slice(onlyAt + 2)] : argv;
  const args = stem(file) === 'shapes' && sections.length && !only.includes('shapes') ? [...rest, '--only', sections.join(',')] : rest;
  const r = spawnSync(process.execPath, [join(here, file), ...args], { stdio: 'inherit', env: { ...process.env, ZSHARE_BENCH_ONLY: '' } });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`!! ${file} failed (exit ${r.status ?? r.signal})\n`);
  }
}
process.exitCode = failed ? 1 : 0;
