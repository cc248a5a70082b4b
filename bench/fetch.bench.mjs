// Fetch benchmark (issue 3): on two network-namespace hosts, `0share fetch -H A DIGEST` of the
// ~200 MB tree (20 × 8 MiB + 5,000 small files) against what a user has today, `0install store
// add DIGEST tree.tar` of a tar already on the local disk. The two alternate (baseline, fetch,
// baseline, fetch, ...) so that both see the same machine load; prints both (median of 5), the
// ratio of the medians (goal <= 1.0) with the per-pair ratios, and the server's peak memory while
// serving (goal < 100 MB).
// Needs root (ip netns); otherwise prints a loud skip line. Run by bench/run.mjs, or alone:
//   node bench/fetch.bench.mjs [--big-files 20] [--big-mib 8] [--small-files 5000] [--runs 5]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeTree } from './lib/make-tree.mjs';
import { sandbox } from './lib/sandbox.mjs';

const CLI = fileURLToPath(new URL('../dist/bin/0share.js', import.meta.url));
const PROBE = fileURLToPath(new URL('../test/helpers/net-probe.mjs', import.meta.url));
const MiB = 1024 * 1024;
const SUBNET = '10.77.200';
const say = (s) => process.stdout.write(`${s}\n`);

function canUseNetns() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not running as root';
  const probe = `zsb${process.pid}probe`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add failed: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  if (spawnSync('0install', ['--version'], { stdio: 'ignore' }).status !== 0) return '0install is not installed';
  return '';
}

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Two namespaces joined by a veth pair: A = SUBNET.1 (server), B = SUBNET.2 (client). */
function makeHosts() {
  const a = `zsb${process.pid}a`;
  const b = `zsb${process.pid}b`;
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  for (const ns of [a, b]) ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b);
  ip('-n', a, 'addr', 'add', `${SUBNET}.1/24`, 'brd', '+', 'dev', 'eth0');
  ip('-n', b, 'addr', 'add', `${SUBNET}.2/24`, 'brd', '+', 'dev', 'eth0');
  for (const ns of [a, b]) ip('-n', ns, 'link', 'set', 'eth0', 'up');
  return { a, b, destroy: () => [a, b].forEach((ns) => spawnSync('ip', ['netns', 'del', ns])) };
}

/** Runs a command to completion; resolves with its wall time in seconds. */
function timed(cmd, args, env, onTick) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const tick = onTick ? setInterval(onTick, 20) : undefined;
    child.on('close', (code) => {
      clearInterval(tick);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code === 0) resolve(s);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err.slice(-2000)}`));
    });
  });
}

function memKB(pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

export async function runFetchBench({ bigFiles = 20, bigMiB = 8, smallFiles = 5000, runs = 5 } = {}) {
  const why = canUseNetns();
  if (why) {
    say(`*** SKIPPING fetch benchmark: ${why} (it needs root for network namespaces, and 0install) ***`);
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), '0share-fetch-bench-'));
  let hosts;
  let server;
  try {
    const tree = join(work, 'tree');
    const st = makeTree(tree, { bigFiles, bigSize: bigMiB * MiB, smallFiles });
    say(`fetch bench: tree of ${st.files} files, ${(st.bytes / MiB).toFixed(0)} MiB; ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)}`);
    const A = sandbox(join(work, 'A'));
    const digest = execFileSync('0install', ['store', 'manifest', tree, 'sha256new'], { env: A.env, encoding: 'utf8', maxBuffer: 1 << 30 }).trim().split('\n').pop();
    // As root, 0install adds to the (sandbox's) system store, as on a real machine.
    execFileSync('0install', ['store', 'add', digest, tree], { env: A.env });
    const tarFile = join(work, 'tree.tar');
    execFileSync('tar', ['-C', tree, '-cf', tarFile, '.']);

    // The peer: 0share serve on host A.
    hosts = makeHosts();
    server = spawn('ip', ['netns', 'exec', hosts.a, process.execPath, CLI, 'serve', '--store', A.userStore, '--store', A.systemStore], { env: A.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let serverErr = '';
    server.stderr.on('data', (d) => (serverErr += d).length > 100_000 && (serverErr = serverErr.slice(-50_000)));
    let ready = false;
    for (let i = 0; i < 50 && !ready; i++) {
      const r = spawnSync('ip', ['netns', 'exec', hosts.b, process.execPath, PROBE, 'udp-query', `${SUBNET}.1`, '38339', '200', digest], { encoding: 'utf8' });
      ready = r.status === 0 && r.stdout.includes(digest);
    }
    if (!ready) throw new Error(`the 0share server did not answer:\n${serverErr.slice(-2000)}`);
    const idleRss = memKB(server.pid, 'VmRSS');
    let peakRss = 0;
    // Alternately: the baseline, 0install adding a tar that is already on the local disk; and
    // the measured, 0share fetch -H A on host B, into a fresh store each run.
    const base = [];
    const fetches = [];
    for (let i = 0; i < runs; i++) {
      const bs = sandbox(join(work, `base${i}`));
      base.push(await timed('0install', ['store', 'add', digest, tarFile], bs.env));
      const sb = sandbox(join(work, `fetch${i}`));
      fetches.push(
        await timed('ip', ['netns', 'exec', hosts.b, process.execPath, CLI, 'fetch', '-H', `${SUBNET}.1`, digest], sb.env, () => {
          peakRss = Math.max(peakRss, memKB(server.pid, 'VmRSS'));
        }),
      );
      const v = spawnSync('0install', ['store', 'verify', join(sb.userStore, digest)], { env: sb.env, encoding: 'utf8' });
      if (v.status !== 0) throw new Error(`0install store verify rejected the fetched entry:\n${v.stderr}`);
    }
    const hwm = memKB(server.pid, 'VmHWM');
    // Breakdown: the server's side alone (plain tar over HTTP, received and discarded).
    const raw = [];
    for (let i = 0; i < runs; i++) {
      raw.push(await timed('ip', ['netns', 'exec', hosts.b, process.execPath, PROBE, 'http-get', `http://${SUBNET}.1:38339/implementation/${digest}`], process.env));
    }

    const b = median(base);
    const f = median(fetches);
    const ratio = f / b;
    say(`fetch bench: baseline \`0install store add DIGEST tree.tar\` (local tar) = ${b.toFixed(2)} s (median of ${runs}: ${base.map((x) => x.toFixed(2)).join(', ')})`);
    say(`fetch bench: \`0share fetch -H A DIGEST\` between namespaces = ${f.toFixed(2)} s (median of ${runs}: ${fetches.map((x) => x.toFixed(2)).join(', ')})`);
    say(`fetch bench: of which the server's side, a plain HTTP GET of the tar discarded = ${median(raw).toFixed(2)} s (median of ${runs})`);
    say(`ratio fetch/baseline = ${ratio.toFixed(2)} (goal <= 1.0; per pair: ${fetches.map((x, i) => (x / base[i]).toFixed(2)).join(', ')})`);
    say(`peak server RSS = ${(peakRss / 1024).toFixed(0)} MB (goal < 100 MB; idle ${(idleRss / 1024).toFixed(0)} MB, VmHWM ${(hwm / 1024).toFixed(0)} MB)`);
    return { baseline: b, fetch: f, ratio, peakRssMB: peakRss / 1024 };
  } finally {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    hosts?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const num = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  runFetchBench({ bigFiles: num('big-files', 20), bigMiB: num('big-mib', 8), smallFiles: num('small-files', 5000), runs: num('runs', 5) }).catch((e) => {
    process.stderr.write(`fetch bench failed: ${e.message}\n`);
    process.exitCode = 1;
  });
}
