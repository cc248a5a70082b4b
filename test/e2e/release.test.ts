// 0share installed the way its users install software. `scripts/release.mjs` builds the release
// (the `npm pack` tarball and the release feed); then, with the real 0install in XDG sandboxes:
// `0install run` of the release feed downloads the archive (a relative href: no network), the
// implementation passes `0install store verify`; a second machine gets 0share itself from a
// loopback peer (`0install run ./0share.xml fetch DIGEST`, `0share download FEED`, or a plain
// HTTP GET + `0install store add`) and runs it offline; the checkout's own feed runs and
// `0install add` makes a `0share` command. And the tarball installs with `npm install -g` into a temp prefix, offline, with a working `0share`.
import { type ChildProcess, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';
import { scratch } from '../helpers/lan-fixture.js';
import { need0install, type ZeroSandbox, ziResult } from '../helpers/zeroinstall.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const have0install = need0install();
// The feed's Node is the distribution's `nodejs` package (node.xml), so 0install needs one.
const haveNodePackage = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'nodejs'], { encoding: 'utf8' }).status === 0;
if (have0install && !haveNodePackage) {
  process.stderr.write("\n*** SKIPPING the 0install feed tests: no Debian `nodejs` package (node.xml's package-implementation) ***\n\n");
}

const tmp = scratch('0share-release-');
let release = { dir: '', archive: '', digest: '' };

/** A sandbox whose PATH has its own bin dir first, where `0install add` puts launchers. */
function sandbox(): ZeroSandbox {
  const sb = tmp.fresh();
  const bin = join(sb.root, 'home', 'bin');
  mkdirSync(bin, { recursive: true });
  sb.env.PATH = `${bin}:/usr/local/bin:/usr/bin:/bin`;
  return sb;
}

/** Where 0install put an implementation (as root it adds to the system store, else the user's). */
function stored(sb: ZeroSandbox, digest: string): string | undefined {
  return [sb.userStore, sb.systemStore].map((s) => join(s, digest)).find((p) => existsSync(p));
}

/** The release feed and node.xml without the archive: what a second machine gets. */
function feedOnly(sb: ZeroSandbox): string {
  const dir = join(sb.root, 'feed');
  mkdirSync(dir);
  for (const f of ['0share.xml', 'node.xml']) copyFileSync(join(release.dir, f), join(dir, f));
  return join(dir, '0share.xml');
}

beforeAll(() => {
  const out = join(tmp.work, 'release');
  // dist/ is fresh: `npm test` builds before running the tests.
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'release.mjs'), '--out', out, '--skip-build'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  expect(r.status, r.stderr).toBe(0);
  const [archive, , digest] = r.stdout.split('\n')[0]!.split('\t');
  release = { dir: out, archive: archive!, digest: digest! };
}, 240_000);

afterAll(() => tmp.remove());

describe('the release', () => {
  it('is the npm pack tarball, and the feed names it by digest, size and relative href', () => {
    const feed = readFileSync(join(release.dir, '0share.xml'), 'utf8');
    expect(release.archive).toBe(join(release.dir, `0share-${VERSION}.tgz`));
    expect(release.digest).toMatch(/^sha256new_[A-Z2-7]{52}$/);
    expect(feed).toContain(`id="${release.digest}"`);
    expect(feed).toContain(`href="0share-${VERSION}.tgz" size="${readFileSync(release.archive).length}" extract="package"`);
    expect(feed).not.toContain('local-path');
  });
});

describe.runIf(have0install && haveNodePackage)('the release feed with the real 0install', () => {
  let first: ZeroSandbox;

  it('`0install run release/0share.xml --version` downloads the archive, and the store verifies it', () => {
    first = sandbox();
    const r = ziResult(first, ['run', join(release.dir, '0share.xml'), '--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${VERSION}\n`);
    const impl = stored(first, release.digest);
    expect(impl, `${release.digest} in ${first.root}`).toBeDefined();
    const v = ziResult(first, ['store', 'verify', impl!]);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    // The implementation is the package with its production dependencies only.
    expect(existsSync(join(impl!, 'node_modules', 'commander', 'package.json'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'fast-check', '@types']) expect(existsSync(join(impl!, 'node_modules', dev)), dev).toBe(false);
  });

  it('a second machine fetches 0share itself from the first one, then runs it offline', async () => {
    const peer = spawnCli(['serve', '--port', '0', '--bind', '127.0.0.1', '--store', first.userStore, '--store', first.systemStore], { env: first.env });
    try {
      const port = await listening(peer);
      const second = sandbox();
      // 0share started the 0install way: the checkout's feed (`0install run ./0share.xml fetch …`).
      const fetched = ziResult(second, ['run', join(ROOT, '0share.xml'), 'fetch', release.digest, '-H', `127.0.0.1:${port}`]);
      expect(fetched.status, fetched.stderr).toBe(0);
      expect(stored(second, release.digest)).toBeDefined();
      const r = ziResult(second, ['run', '--offline', feedOnly(second), '--version']);
      expect(r.stdout, r.stderr).toBe(`${VERSION}\n`);

      // Without any 0share yet: the peer's HTTP answer is an archive `0install store add` takes.
      const third = sandbox();
      const tgz = join(third.root, 'from-peer.tgz');
      writeFileSync(tgz, await httpGet(`http://127.0.0.1:${port}/implementation/${release.digest}`));
      const add = ziResult(third, ['store', 'add', release.digest, tgz]);
      expect(add.status, add.stderr).toBe(0);
      const r3 = ziResult(third, ['run', '--offline', feedOnly(third), '--help']);
      expect(r3.status, r3.stderr).toBe(0);
      expect(r3.stdout).toContain('Usage: 0share');

      // With some 0share already: `0share download FEED` gets what the feed needs from the peer.
      const fourth = sandbox();
      const feed = feedOnly(fourth);
      const dl = spawnSync(process.execPath, [join(ROOT, 'dist', 'bin', '0share.js'), 'download', '-H', `127.0.0.1:${port}`, feed], { env: fourth.env, encoding: 'utf8', timeout: 120_000 });
      expect(dl.status, dl.stderr).toBe(0);
      expect(stored(fourth, release.digest)).toBeDefined();
      expect(ziResult(fourth, ['run', '--offline', feed, '--version']).stdout).toBe(`${VERSION}\n`);
    } finally {
      peer.kill('SIGTERM');
      await new Promise((r) => (peer.exitCode === null && peer.signalCode === null ? peer.once('exit', r) : r(undefined)));
    }
  });

  it('the checkout feed (local-path) runs this checkout, and `0install add` makes a `0share` command', () => {
    const sb = sandbox();
    const r = ziResult(sb, ['run', join(ROOT, '0share.xml'), '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: 0share');
    const add = ziResult(sb, ['add', '0share', join(ROOT, '0share.xml')]);
    expect(add.status, add.stderr).toBe(0);
    const launcher = join(sb.root, 'home', 'bin', '0share');
    expect(existsSync(launcher)).toBe(true);
    const v = spawnSync('0share', ['--version'], { env: sb.env, encoding: 'utf8' });
    expect(v.stdout, v.stderr).toBe(`${VERSION}\n`);
  });
});

describe('the npm pack tarball', () => {
  it('`npm install -g` into a temp prefix, offline, gives a working `0share` on PATH', () => {
    const prefix = join(tmp.work, 'prefix');
    const npm = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--offline', '--cache', join(tmp.work, 'npm-cache'), '--no-audit', '--no-fund', release.archive], {
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(npm.status, npm.stderr).toBe(0);
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    const help = spawnSync('0share', ['--help'], { env, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: 0share');
    expect(spawnSync('0share', ['--version'], { env, encoding: 'utf8' }).stdout).toBe(`${VERSION}\n`);

    const installed = join(prefix, 'lib', 'node_modules', '0share');
    expect(existsSync(join(installed, 'dist', 'bin', '0share.js'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'fast-check']) expect(existsSync(join(installed, 'node_modules', dev)), dev).toBe(false);
    // No build at install: the package ships no sources, and its `prepare` does nothing there.
    expect(existsSync(join(installed, 'src'))).toBe(false);
    const prepare = spawnSync('npm', ['run', 'prepare'], { cwd: installed, encoding: 'utf8' });
    expect(prepare.status, prepare.stderr).toBe(0);
    expect(prepare.stdout).not.toMatch(/error/i);
  }, 300_000);
});

function listening(peer: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let err = '';
    peer.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /port (\d+) \(UDP/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    peer.once('exit', () => reject(new Error(`0share serve exited:\n${err}`)));
  });
}

function httpGet(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}`));
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
}
