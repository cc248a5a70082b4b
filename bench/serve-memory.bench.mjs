// Server memory benchmark (loopback only): starts the real `0share serve` on 127.0.0.1 with the
// ~200 MB benchmark tree in a scratch store, downloads it as plain tar (as 0share clients ask,
// `X-0share-Encoding: tar`) with 1 client (--runs times) and with 8 parallel clients (twice), and
// once gzipped (as the 2008 client asks), and prints the server's peak resident memory (VmHWM,
// and the highest VmRSS sampled) for each; the goal of issue 3 is under 100 MB. Each scenario gets
// a fresh server, since VmHWM only grows. Uses dist/ (npm run build).
//   node bench/serve-memory.bench.mjs [--big-files 20] [--big-mib 8] [--small-files 5000] [--runs 3] [--parallel 8]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTree } from './lib/make-tree.mjs';

const dist = new URL('../dist/', import.meta.url);
const CLI = fileURLToPath(new URL('bin/0share.js', dist));
const { manifestOfTree } = await import(new URL('io/tree-walk.js', dist).href);
const { addDirectory, removeTree } = await import(new URL('io/store-add.js', dist).href);
const { formatDigest } = await import(new URL('core/digest.js', dist).href);

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg('runs', 3);
const parallel = arg('parallel', 8);
const say = (s) => process.stdout.write(`${s}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (kb) => (kb / 1024).toFixed(0);

/** A field of /proc/<pid>/status in kB. */
function memKB(pid, field) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Starts `0share serve` on a free loopback port; resolves once it logs that it listens. */
function startServer(store) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--bind', '127.0.0.1', '--store', store], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('the server did not start within 10 s')), 10_000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n${log.slice(-2000)}`));
    };
    child.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/Listening on 127\.0\.0\.1 port (\d+)/);
      if (m) {
        clearTimeout(timer);
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => fail(new Error(`the server exited (${code})`)));
  });
}

/** Downloads the implementation (plain tar unless `gzip`) and resolves with the byte count. */
function download(port, digest, gzip) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/implementation/${digest}`, headers: gzip ? {} : { 'X-0share-Encoding': 'tar' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One scenario on a fresh server: `clients` parallel downloads, `rounds` times. */
async function scenario(store, digest, clients, rounds, gzip = false) {
  const { child, port } = await startServer(store);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const idle = memKB(child.pid, 'VmRSS');
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, memKB(child.pid, 'VmRSS'))), 5);
    const times = [];
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      const got = await Promise.all(Array.from({ length: clients }, () => download(port, digest, gzip)));
      times.push((performance.now() - t) / 1000);
      if (new Set(got).size !== 1) throw new Error(`downloads differ in size: ${got.join(', ')}`);
      bytes = got[0];
    }
    clearInterval(sampler);
    return { idle, peak, hwm: memKB(child.pid, 'VmHWM'), time: median(times), times, bytes };
  } finally {
    child.kill('SIGKILL');
  }
}

const base = mkdtempSync(join(tmpdir(), '0share-servemem-'));
try {
  const tree = join(base, 'tree');
  const stats = makeTree(tree, { bigFiles: arg('big-files', 20), bigSize: arg('big-mib', 8) * 1024 * 1024, smallFiles: arg('small-files', 5000) });
  const { digest } = await manifestOfTree(tree, 'sha256new');
  const store = join(base, 'store');
  await addDirectory(tree, store, digest);
  const text = formatDigest(digest);
  say(`tree: ${stats.files} files, ${stats.symlinks} symlinks, ${stats.dirs} dirs, ${(stats.bytes / 1e6).toFixed(0)} MB`);

  const one = await scenario(store, text, 1, runs);
  say(`serve: 1 plain-tar download of ${(one.bytes / 1e6).toFixed(0)} MB on loopback = ${one.time.toFixed(2)} s (median of ${runs}: ${one.times.map((x) => x.toFixed(2)).join(', ')})`);
  say(`serve peak RSS (1 download) = ${mb(one.hwm)} MB (goal < 100 MB; idle ${mb(one.idle)} MB, highest sampled ${mb(one.peak)} MB)`);
  const many = await scenario(store, text, parallel, 2);
  say(`serve: ${parallel} parallel plain-tar downloads = ${many.time.toFixed(2)} s (median of 2: ${many.times.map((x) => x.toFixed(2)).join(', ')})`);
  say(`serve peak RSS (${parallel} downloads) = ${mb(many.hwm)} MB (goal < 100 MB; idle ${mb(many.idle)} MB, highest sampled ${mb(many.peak)} MB)`);
  const gz = await scenario(store, text, 1, 1, true);
  say(`serve: 1 gzip download (as the 2008 client asks) = ${gz.time.toFixed(2)} s, ${(gz.bytes / 1e6).toFixed(0)} MB`);
  say(`serve peak RSS (1 gzip download) = ${mb(gz.hwm)} MB (goal < 100 MB; idle ${mb(gz.idle)} MB, highest sampled ${mb(gz.peak)} MB)`);
} finally {
  await removeTree(join(base, 'store')).catch(() => {});
  rmSync(base, { recursive: true, force: true });
}
