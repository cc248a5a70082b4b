// `--system`: moves a received implementation into the system store (the second of 0install's
// stores, usually /var/cache/0install.net/implementations) the way 0install itself does:
// directly when this process may write there, else through the admin-installed
// `0store-secure-add-helper` (reference §2.3, §2.5), else a clear refusal. The tmp dir is always
// gone afterwards; nothing partial appears in any store.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { formatDigest, type Digest } from '../core/digest.js';
import { addDirectory, commitStaged, removeTree } from './store-add.js';
import { defaultStores } from './stores.js';

const SECURE_ADD_HELPER = '0store-secure-add-helper';
/** Where `0store-secure-add` puts implementations (hard-coded in 0install's secureadd.ml). */
const SECURE_ADD_STORE = '/var/cache/0install.net/implementations';

const HELPER_SETUP = [
  `an administrator can let users add to it through 0install's secure-add helper:`,
  `  /usr/local/bin/${SECURE_ADD_HELPER} (mode 0755):`,
  `    #!/bin/sh`,
  `    exec sudo -S -u zeroinst /usr/bin/0store-secure-add "$@" < /dev/null`,
  `  and in sudoers (visudo -f /etc/sudoers.d/0install):`,
  `    Defaults>zeroinst env_reset,always_set_home`,
  `    ALL ALL=(zeroinst) NOPASSWD: /usr/bin/0store-secure-add`,
].join('\n');

export class SystemStoreError extends Error {
  override name = 'SystemStoreError';
}

export interface SystemStoreOptions {
  /** A tmp dir (of the user store) holding the received tree, without .manifest. */
  tmpDir: string;
  digest: Digest;
  /** The manifest computed while receiving the tree. */
  manifest: Uint8Array;
  env?: NodeJS.ProcessEnv;
}

/** The system store: the second of 0install's stores. */
export function systemStore(env: NodeJS.ProcessEnv = process.env): string {
  const store = defaultStores(env)[1];
  if (store === undefined) throw new SystemStoreError('0install has no system store here (only a user store is configured); drop --system');
  return store;
}

/** Whether this process may create entries in `dir` (or create `dir` in its nearest existing parent). */
async function writable(dir: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  let d = dir;
  for (;;) {
    try {
      await access(d, constants.W_OK | constants.X_OK);
      return { ok: true };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dirname(d) === d) return { ok: false, reason: `${d}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}` };
      d = dirname(d);
    }
  }
}

async function sameFilesystem(a: string, b: string): Promise<boolean> {
  let d = b;
  for (;;) {
    try {
      return (await stat(a)).dev === (await stat(d)).dev;
    } catch {
      if (dirname(d) === d) return false;
      d = dirname(d);
    }
  }
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const d of (env.PATH ?? '').split(delimiter)) {
    if (d === '') continue;
    const p = join(d, name);
    try {
      await access(p, constants.X_OK);
      if ((await stat(p)).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Like 0install's fixup_permissions: readable by everyone (the helper runs as another user). */
async function makeReadable(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) {
      await makeReadable(p);
      await chmod(p, 0o555);
    } else if (st.isFile()) await chmod(p, st.mode & 0o111 ? 0o555 : 0o444);
  }
  await chmod(dir, 0o555);
}

function runHelper(helper: string, digest: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // As 0install does: the variables make 0store-secure-add refuse unless sudo cleaned the environment.
    const child = spawn(helper, [digest], { cwd, env: { ...env, ENV_NOT_CLEARED: 'Unclean', HOME: 'Unclean' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', (err) => resolve({ code: null, output: err.message }));
    child.on('close', (code) => resolve({ code, output: output.trim() }));
  });
}

async function viaHelper(helper: string, opts: SystemStoreOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const name = formatDigest(opts.digest);
  try {
    await chmod(opts.tmpDir, 0o755);
    await writeFile(join(opts.tmpDir, '.manifest'), opts.manifest, { mode: 0o444, flag: 'wx' });
    await makeReadable(opts.tmpDir);
    const r = await runHelper(helper, name, opts.tmpDir, env);
    if (r.code !== 0) {
      throw new SystemStoreError(
        `could not add ${name} to the system store: ${helper} ${r.code === null ? 'could not be run' : `failed (exit status ${r.code})`}${r.output ? `: ${r.output}` : ''}\n` +
          `Check the helper's set-up (it runs \`sudo -u zeroinst /usr/bin/0store-secure-add\`), or drop --system.`,
      );
    }
  } finally {
    await removeTree(opts.tmpDir);
  }
  const path = join(SECURE_ADD_STORE, name);
  try {
    if ((await stat(path)).isDirectory()) return path;
  } catch {
    // reported below
  }
  throw new SystemStoreError(`${helper} ${name} reported success but ${path} does not exist`);
}

/**
 * Adds the received tree in `tmpDir` to the system store and returns the final path. Directly
 * (verified and renamed like any store add) when this process may write the store; otherwise
 * through `0store-secure-add-helper`, which verifies every file against the manifest itself.
 */
export async function commitToSystemStore(opts: SystemStoreOptions): Promise<string> {
  const env = opts.env ?? process.env;
  let store: string;
  try {
    store = systemStore(env);
  } catch (err) {
    await removeTree(opts.tmpDir);
    throw err;
  }
  const canWrite = await writable(store);
  if (canWrite.ok) {
    try {
      await mkdir(store, { recursive: true, mode: 0o755 });
    } catch (err) {
      await removeTree(opts.tmpDir);
      throw new SystemStoreError(`cannot create the system store ${store}: ${(err as Error).message}`);
    }
    if (await sameFilesystem(opts.tmpDir, store)) {
      return commitStaged({ tmpDir: opts.tmpDir, store, digest: opts.digest, manifest: opts.manifest });
    }
    // A rename across filesystems fails: copy into a tmp dir of the system store, verify there.
    try {
      return await addDirectory(opts.tmpDir, store, opts.digest);
    } finally {
      await removeTree(opts.tmpDir);
    }
  }
  const helper = opts.digest.alg === 'sha1' ? undefined : await findOnPath(SECURE_ADD_HELPER, env);
  if (helper) return viaHelper(helper, opts, env);
  await removeTree(opts.tmpDir);
  throw new SystemStoreError(
    `cannot add ${formatDigest(opts.digest)} to the system store ${store} (${canWrite.reason}).\n` +
      (opts.digest.alg === 'sha1'
        ? `Old sha1 digests can't go through 0install's secure-add helper.\n`
        : `No ${SECURE_ADD_HELPER} on PATH; ${HELPER_SETUP}\n`) +
      `Or drop --system: implementations then go to your own store (${defaultStores(env)[0]}).`,
  );
}
