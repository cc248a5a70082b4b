// `--system`: commitToSystemStore as root (direct add, also across filesystems), and as an
// unprivileged user (refusal with set-up advice; the secure-add helper's calling convention).
// Stores are sandboxed through XDG_CACHE_HOME/XDG_CACHE_DIRS; the real /var/cache is never touched.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import { makeTmpDir } from '../../src/io/store-add.js';
import { commitToSystemStore } from '../../src/io/system-store.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { need0install, zeroSandbox, ziResult, type ZeroSandbox } from '../helpers/zeroinstall.js';

const RUNUSER = spawnSync('sh', ['-c', 'command -v runuser'], { encoding: 'utf8' }).stdout.trim() || 'runuser';
const DIST_MODULE = fileURLToPath(new URL('../../dist/io/system-store.js', import.meta.url));

function makeTree(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  writeFileSync(join(dir, 'README'), 'a small implementation\n');
}

const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
});

function sandbox(): ZeroSandbox {
  const sb = zeroSandbox();
  cleanups.push(() => {
    spawnSync('chmod', ['-R', 'u+w', sb.root]);
    rmSync(sb.root, { recursive: true, force: true });
  });
  return sb;
}

let source: string;
let digest: Digest;
let manifest: Buffer;
beforeAll(async () => {
  source = mkdtempSync(join(tmpdir(), '0share-sys-src-'));
  chmodSync(source, 0o755);
  cleanups.push(() => rmSync(source, { recursive: true, force: true }));
  makeTree(source);
  ({ digest, manifest } = await manifestOfTree(source, 'sha256new'));
});

/** A tmp dir in the user store holding a copy of the tree, as a fetch leaves it. */
async function staged(sb: ZeroSandbox): Promise<string> {
  const tmp = await makeTmpDir(sb.userStore);
  cpSync(source, tmp, { recursive: true, preserveTimestamps: true });
  return tmp;
}

describe('commitToSystemStore as root', () => {
  const root = process.getuid?.() === 0;
  if (!root) process.stderr.write('\n*** SKIPPING system-store tests: they need root ***\n\n');

  it.runIf(root && need0install())('adds to the system store by rename, verified, leaving no tmp dir', async () => {
    const sb = sandbox();
    const tmp = await staged(sb);
    const path = await commitToSystemStore({ tmpDir: tmp, digest, manifest, env: sb.env });
    expect(path).toBe(join(sb.systemStore, formatDigest(digest)));
    expect(ziResult(sb, ['store', 'verify', path]).status).toBe(0);
    expect(existsSync(tmp)).toBe(false);
    expect(readdirSync(sb.userStore)).toEqual([]);
  });

  it.runIf(root && need0install())('copies into a tmp dir of the system store when it is on another filesystem', async () => {
    const shm = '/dev/shm';
    const otherFs = existsSync(shm) && spawnSync('stat', ['-c', '%d', shm], { encoding: 'utf8' }).stdout !== spawnSync('stat', ['-c', '%d', tmpdir()], { encoding: 'utf8' }).stdout;
    if (!otherFs) {
      process.stderr.write('\n*** SKIPPING cross-filesystem --system test: /dev/shm is not a separate filesystem here ***\n\n');
      return;
    }
    const sb = sandbox();
    const sys = mkdtempSync(join(shm, '0share-sys-'));
    cleanups.push(() => {
      spawnSync('chmod', ['-R', 'u+w', sys]);
      rmSync(sys, { recursive: true, force: true });
    });
    const env = { ...sb.env, XDG_CACHE_DIRS: sys };
    const tmp = await staged(sb);
    const path = await commitToSystemStore({ tmpDir: tmp, digest, manifest, env });
    expect(path).toBe(join(sys, '0install.net', 'implementations', formatDigest(digest)));
    expect(ziResult({ ...sb, env }, ['store', 'verify', path]).status).toBe(0);
    expect(existsSync(tmp)).toBe(false);
    expect(readdirSync(join(sys, '0install.net', 'implementations'))).toEqual([formatDigest(digest)]);
  });

  it.runIf(root)('refuses a tree that does not match the digest and leaves nothing behind', async () => {
    const sb = sandbox();
    const tmp = await staged(sb);
    chmodSync(join(tmp, 'README'), 0o644);
    writeFileSync(join(tmp, 'README'), 'tampered\n');
    const { manifest: bad } = await manifestOfTree(tmp, 'sha256new');
    await expect(commitToSystemStore({ tmpDir: tmp, digest, manifest: bad, env: sb.env })).rejects.toThrow(/Incorrect manifest/);
    expect(existsSync(tmp)).toBe(false);
    expect(existsSync(join(sb.systemStore, formatDigest(digest)))).toBe(false);
  });
});

describe('commitToSystemStore as an unprivileged user', () => {
  const canDrop = process.getuid?.() === 0 && spawnSync(RUNUSER, ['-u', 'nobody', '--', 'true']).status === 0;
  const built = existsSync(DIST_MODULE);
  if (!canDrop) process.stderr.write('\n*** SKIPPING unprivileged --system tests: need root and `runuser -u nobody` ***\n\n');
  else if (!built) process.stderr.write('\n*** SKIPPING unprivileged --system tests: dist/ is not built (npm run build) ***\n\n');

  /** A sandbox whose user store belongs to nobody and whose system store is root's (0755). */
  function nobodySandbox() {
    const sb = sandbox();
    chmodSync(sb.root, 0o755);
    mkdirSync(sb.systemStore, { recursive: true, mode: 0o755 });
    for (const d of ['home', 'cache', 'config', 'data']) spawnSync('chown', ['-R', 'nobody:nogroup', join(sb.root, d)]);
    const bin = join(sb.root, 'bin');
    mkdirSync(bin, { mode: 0o755 });
    return { sb, bin };
  }

  /** Stages the tree as nobody and calls commitToSystemStore from the built module. */
  function commitAsNobody(sb: ZeroSandbox, extraPath: string) {
    const script = `
      import { makeTmpDir } from ${JSON.stringify(fileURLToPath(new URL('../../dist/io/store-add.js', import.meta.url)))};
      import { commitToSystemStore } from ${JSON.stringify(DIST_MODULE)};
      import { cpSync } from 'node:fs';
      const tmp = await makeTmpDir(${JSON.stringify(sb.userStore)});
      cpSync(${JSON.stringify(source)}, tmp, { recursive: true, preserveTimestamps: true });
      try {
        const path = await commitToSystemStore({ tmpDir: tmp, digest: ${JSON.stringify(digest)}, manifest: Buffer.from(${JSON.stringify(manifest.toString('base64'))}, 'base64') });
        console.log('OK ' + path);
      } catch (e) { console.log('ERROR ' + e.message); }`;
    const env = { ...sb.env, PATH: `${extraPath}:/usr/bin:/bin` };
    const r = spawnSync(RUNUSER, ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { env, encoding: 'utf8', cwd: '/' });
    return { out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`, status: r.status };
  }

  it.runIf(canDrop && built)('refuses with the helper set-up and the advice to drop --system', () => {
    const { sb, bin } = nobodySandbox();
    const { out } = commitAsNobody(sb, bin);
    expect(out).toMatch(/^ERROR cannot add sha256new_\S+ to the system store/);
    expect(out).toContain('permission denied');
    expect(out).toContain('0store-secure-add-helper');
    expect(out).toContain('ALL ALL=(zeroinst) NOPASSWD: /usr/bin/0store-secure-add');
    expect(out).toContain('drop --system');
    expect(readdirSync(sb.userStore)).toEqual([]);
    expect(readdirSync(sb.systemStore)).toEqual([]);
  });

  it.runIf(canDrop && built)('calls 0store-secure-add-helper DIGEST from the verified tree, as 0install does', () => {
    const { sb, bin } = nobodySandbox();
    const log = join(sb.root, 'helper.log');
    writeFileSync(log, '');
    chmodSync(log, 0o666);
    // A stand-in for the admin's helper: records how it was called, then fails like a refused sudo.
    writeFileSync(
      join(bin, '0store-secure-add-helper'),
      `#!/bin/sh\n{ echo "args=$*"; echo "cwd=$(pwd)"; echo "home=$HOME env=$ENV_NOT_CLEARED"; sha256sum .manifest; ls -l bin/hello; } >> ${log}\necho "sudo: a password is required" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const { out } = commitAsNobody(sb, bin);
    const calls = readFileSync(log, 'utf8');
    expect(calls).toContain(`args=${formatDigest(digest)}`);
    expect(calls).toMatch(new RegExp(`cwd=${sb.userStore}/tmp-[0-9a-f]+`));
    expect(calls).toContain('home=Unclean env=Unclean');
    expect(calls).toContain(createHash('sha256').update(manifest).digest('hex'));
    expect(calls).toMatch(/-r-xr-xr-x .* bin\/hello/);
    expect(out).toMatch(/^ERROR could not add sha256new_\S+ to the system store: \S+\/0store-secure-add-helper failed \(exit status 1\)/);
    expect(out).toContain('sudo: a password is required');
    expect(readdirSync(sb.userStore)).toEqual([]);
  });
});
