// Tree shapes benchmark (issue 10): for each shape of tree, all measured in one run and
// alternating (so both sides see the same machine load):
//   add      `0install store add DIGEST tree.tar` of a tar on the local disk (what a user has today)
//   zmanif   `0install store manifest TREE sha256new`
//   fetch    `0share fetch -H A DIGEST` on host B from `0share serve` on host A (two network
//            namespaces joined by a veth pair, no rate limit), into a fresh store, in the default
//            mode (the swarm: manifest first, then the files as pieces); every fetched entry
//            must pass `0install store verify`
//   tar      the same with `--whole-tar` (the whole tree as one plain tar, the 2008 flow's mode)
//   manifest `0share manifest TREE sha256new`
// and prints every run, the medians, the ratios fetch/add, fetch/zmanif and manifest/zmanif with
// their goals, the client's and the server's peak RSS. Then the scaling section: the same deep
// tree at 5,000, 20,000 and 50,000 files, time per file for each command and how it grows.
// Trees and stores live on a fresh ext4 (bench/lib/scratch.mjs says why). Needs root and 0install.
//   node bench/shapes.bench.mjs [--runs 3] [--only tree-190mb,deep-50k,big-2x400,links,scaling]
//   (or ZSHARE_BENCH_ONLY=deep-50k,scaling); sections: see SHAPES below and `scaling`.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDeepTree, makeLinkTree, makeTree } from './lib/make-tree.mjs';
import { makeHosts, netnsProblem } from './lib/netns.mjs';
import { sandbox } from './lib/sandbox.mjs';
import { scratchDir } from './lib/scratch.mjs';

const CLI = fileURLToPath(new URL('../dist/bin/0share.js', import.meta.url));
const MiB = 1024 * 1024;
const say = (s) => process.stdout.write(`${s}\n`);
const args = process.argv.slice(2);
const argOf = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(argOf('runs') ?? 3);
const only = (argOf('only') ?? process.env.ZSHARE_BENCH_ONLY ?? '').split(',').filter(Boolean);
const wanted = (name) => only.length === 0 || only.includes(name);

/** The shapes: name, how to make the tree, and the acceptance goals of issue 10 (if any). */
const SHAPES = [
  { name: 'tree-190mb', what: '~190 MB bench tree (20 x 8 MiB + 5,000 small files)', make: (d) => makeTree(d), goals: { fetchAdd: 0.5, manifest: 0.35 } },
  { name: 'deep-50k', what: '50,000 small files in deep directories (like a node_modules)', make: (d) => makeDeepTree(d, { files: 50_000 }), goals: { fetchAdd: 0.6 } },
  { name: 'big-2x400', what: '2 x 400 MiB files', make: (d) => makeTree(d, { bigFiles: 2, bigSize: 400 * MiB, smallFiles: 0 }), goals: {} },
  { name: 'links', what: '10,000 symlinks and 10,000 empty files', make: (d) => makeLinkTree(d), goals: {} },
];
/** The fetch modes measured: the default client mode (the swarm) and the whole tar (the 2008 flow's mode). */
const FETCH_MODES = [
  { name: 'fetch', what: 'default client mode (swarm: manifest first, then the files as pieces)', args: [] },
  { name: 'tar', what: 'fetch --whole-tar (the whole tree as one plain tar)', args: ['--whole-tar'] },
];
const SCALING = [5_000, 20_000, 50_000];

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(' ');
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

function memKB(pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const HAVE_TIME = spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { stdio: 'ignore' }).status === 0;

/** Runs a command to completion; resolves with { s: wall seconds, rssMB: its peak RSS (GNU time) }. */
function timed(cmd, cmdArgs, env, rssFile, onTick) {
  return new Promise((resolve, reject) => {
    const [c, a] = HAVE_TIME ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...cmdArgs]] : [cmd, cmdArgs];
    const t0 = process.hrtime.bigint();
    const child = spawn(c, a, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const tick = onTick ? setInterval(onTick, 20) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(tick);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd} ${cmdArgs.join(' ')} exited ${code}:\n${err}`));
      let rssMB = NaN;
      if (HAVE_TIME) rssMB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024;
      resolve({ s, rssMB });
    });
  });
}

function zi(env, zargs) {
  return execFileSync('0install', zargs, { env, encoding: 'utf8', maxBuffer: 1 << 30 });
}

/**
 * One shape: make the tree, its tar and A's copy, then RUNS rounds of add, zmanif, fetch (each
 * mode), manifest. Returns the medians and per-run times.
 */
async function measure(ctx, name, make) {
  const work = join(ctx.scratch, name);
  const tree = join(work, 'tree');
  const st = make(tree);
  const tarFile = join(work, 'tree.tar');
  execFileSync('tar', ['-C', tree, '-cf', tarFile, '.']);
  const digest = zi(ctx.A.env, ['store', 'manifest', tree, 'sha256new']).trim().split('\n').pop();
  zi(ctx.A.env, ['store', 'add', digest, tree]);
  const ours = execFileSync(process.execPath, [CLI, 'manifest', tree, 'sha256new'], { maxBuffer: 1 << 30 });
  if (!ours.equals(execFileSync('0install', ['store', 'manifest', tree, 'sha256new'], { maxBuffer: 1 << 30 }))) {
    throw new Error(`${name}: 0share manifest and 0install store manifest print different manifests`);
  }
  const times = { add: [], zmanif: [], manifest: [] };
  const rss = { client: {}, peer: 0 };
  for (const m of FETCH_MODES) {
    times[m.name] = [];
    rss.client[m.name] = [];
  }
  const rssFile = join(work, 'rss');
  for (let i = 0; i < RUNS; i++) {
    const bs = sandbox(join(work, `add${i}`));
    times.add.push((await timed('0install', ['store', 'add', digest, tarFile], bs.env, rssFile)).s);
    rmSync(bs.root, { recursive: true, force: true });
    times.zmanif.push((await timed('0install', ['store', 'manifest', tree, 'sha256new'], process.env, rssFile)).s);
    for (const m of FETCH_MODES) {
      const sb = sandbox(join(work, `${m.name}${i}`));
      const r = await timed('ip', ['netns', 'exec', ctx.hosts.b, process.execPath, CLI, 'fetch', ...m.args, '-H', ctx.hosts.addrA, digest], sb.env, rssFile, () => {
        rss.peer = Math.max(rss.peer, memKB(ctx.server.pid, 'VmRSS'));
      });
      times[m.name].push(r.s);
      rss.client[m.name].push(r.rssMB);
      const v = spawnSync('0install', ['store', 'verify', join(sb.userStore, digest)], { env: sb.env, encoding: 'utf8' });
      if (v.status !== 0) throw new Error(`${name}: 0install store verify rejected the fetched entry:\n${v.stderr}`);
      rmSync(sb.root, { recursive: true, force: true });
    }
    times.manifest.push((await timed(process.execPath, [CLI, 'manifest', tree, 'sha256new'], process.env, rssFile)).s);
  }
  rmSync(work, { recursive: true, force: true });
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  return { st, digest, times, med, rss };
}

function report(name, what, r, goals) {
  const { st, times, med, rss } = r;
  say(`\n-- ${name}: ${what}: ${st.files} files, ${st.symlinks} symlinks, ${st.dirs} dirs, ${(st.bytes / MiB).toFixed(0)} MiB (load average ${load()})`);
  const line = (label, key) => say(`  ${label.padEnd(44)} median ${med[key].toFixed(2)} s   runs: ${fmt(times[key])}`);
  line('0install store add DIGEST tree.tar (local)', 'add');
  line('0install store manifest TREE', 'zmanif');
  for (const m of FETCH_MODES) line(['0share fetch', ...m.args, '-H A DIGEST'].join(' '), m.name);
  line('0share manifest TREE', 'manifest');
  const goal = (g) => (g === undefined ? '' : ` (goal <= ${g})`);
  for (const m of FETCH_MODES) {
    const pairs = times[m.name].map((f, i) => (f / times.add[i]).toFixed(2)).join(' ');
    const ok = goals.fetchAdd === undefined ? '' : med[m.name] / med.add <= goals.fetchAdd ? ' MET' : ' NOT MET';
    say(`  ratio ${m.name}/add = ${(med[m.name] / med.add).toFixed(2)}${goal(goals.fetchAdd)}${ok}; per run: ${pairs}`);
    say(`  ratio ${m.name}/zmanif = ${(med[m.name] / med.zmanif).toFixed(2)} (a fetch against 0install only hashing the tree)`);
  }
  const okM = goals.manifest === undefined ? '' : med.manifest / med.zmanif <= goals.manifest ? ' MET' : ' NOT MET';
  say(`  ratio manifest/zmanif = ${(med.manifest / med.zmanif).toFixed(2)}${goal(goals.manifest)}${okM}; per run: ${times.manifest.map((x, i) => (x / times.zmanif[i]).toFixed(2)).join(' ')}`);
  const clientRss = FETCH_MODES.map((m) => `${m.name} ${rss.client[m.name].map((x) => x.toFixed(0)).join(' ')} MB`).join('; ');
  say(`  client peak RSS: ${clientRss}; peer peak RSS while serving = ${(rss.peer / 1024).toFixed(0)} MB (goal < 100 MB)`);
}

async function main() {
  const why = netnsProblem();
  if (why) {
    say(`*** SKIPPING shapes benchmark: ${why} (it needs root for network namespaces, and 0install) ***`);
    return;
  }
  const sections = [...SHAPES.map((s) => s.name), 'scaling'].filter(wanted);
  if (sections.length === 0) {
    say(`shapes: nothing selected by --only/ZSHARE_BENCH_ONLY='${only.join(',')}' (sections: ${[...SHAPES.map((s) => s.name), 'scaling'].join(', ')})`);
    return;
  }
  const scratch = scratchDir('0share-shapes', 10);
  let hosts;
  let server;
  try {
    say(`shapes bench: ${cpus().length} CPUs, load average ${load()}; sections ${sections.join(', ')}; ${RUNS} runs each; working ${scratch.how}`);
    say(`fetch modes: ${FETCH_MODES.map((m) => `${m.name} = ${m.what}`).join('; ')}; 0share manifest output checked identical to 0install's on every tree`);
    say('How to read it: each section prints every run (seconds) of each command, alternating, then the ratio of the medians');
    say('(and of each run pair). Ratios under 1 mean 0share is faster than 0install doing the local job; "add" is the baseline');
    say('a LAN fetch replaces (adding a tar already on the disk), "zmanif" is 0install only hashing the tree in place. RSS is the');
    say("peak resident memory (GNU time) of each client run, and the highest sampled for the peer. Under machine load, read the");
    say('ratios (both sides of a pair ran back to back), not the absolute times.');
    const A = sandbox(join(scratch.dir, 'A'));
    hosts = makeHosts('10.77.201', 's');
    server = spawn('ip', ['netns', 'exec', hosts.a, process.execPath, CLI, 'serve', '--store', A.userStore, '--store', A.systemStore], { env: A.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let serverErr = '';
    server.stderr.on('data', (d) => (serverErr = (serverErr + d).slice(-20_000)));
    for (const t0 = Date.now(); !/Listening on/.test(serverErr); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() - t0 > 20_000 || server.exitCode !== null) throw new Error(`the 0share server did not start:\n${serverErr.slice(-2000)}`);
    }
    const ctx = { scratch: join(scratch.dir, 'w'), A, hosts, server };
    mkdirSync(ctx.scratch);
    const results = {};
    for (const shape of SHAPES.filter((s) => wanted(s.name))) {
      results[shape.name] = await measure(ctx, shape.name, shape.make);
      report(shape.name, shape.what, results[shape.name], shape.goals);
    }
    if (wanted('scaling')) {
      say(`\n-- scaling: the deep tree (like deep-50k, ~20 files a directory) at ${SCALING.join(', ')} files (load average ${load()})`);
      const per = {};
      for (const n of SCALING) {
        const r = n === 50_000 && results['deep-50k'] ? results['deep-50k'] : await measure(ctx, `deep-${n}`, (d) => makeDeepTree(d, { files: n }));
        per[n] = r;
        say(`  ${String(n).padStart(6)} files: ${Object.entries(r.med).map(([k, v]) => `${k} ${((v / n) * 1e6).toFixed(0)} µs/file`).join(', ')}; client RSS ${r.rss.client.fetch.map((x) => x.toFixed(0)).join(' ')} MB (default mode)`);
      }
      const [lo, hi] = [SCALING[0], SCALING[SCALING.length - 1]];
      say(`  growth of the time per file from ${lo} to ${hi} files (1.00 = linear; the fixed start-up cost makes small trees look dearer):`);
      say(`    ${Object.keys(per[lo].med).map((k) => `${k} ${(per[hi].med[k] / hi / (per[lo].med[k] / lo)).toFixed(2)}`).join(', ')}`);
    }
  } finally {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    hosts?.destroy();
    scratch.cleanup();
  }
}

await main().catch((e) => {
  process.stderr.write(`shapes bench failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
