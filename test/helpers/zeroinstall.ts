// The real 0install binary as a test oracle, in a sandbox of XDG directories so tests never
// touch the user's caches. Tests that need it call `need0install()` and are skipped, loudly,
// where it is missing (CI installs 0install-core, so there everything runs).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HAVE_0INSTALL = spawnSync('0install', ['--version'], { stdio: 'ignore' }).status === 0;

let warned = false;
/** True when 0install is available; otherwise prints a loud warning once and returns false. */
export function need0install(): boolean {
  if (!HAVE_0INSTALL && !warned) {
    warned = true;
    process.stderr.write('\n*** SKIPPING 0install interop tests: the `0install` binary is not installed (apt-get install 0install-core) ***\n\n');
  }
  return HAVE_0INSTALL;
}

export interface ZeroSandbox {
  root: string;
  env: NodeJS.ProcessEnv;
  /** The user store (first store) of this sandbox. */
  userStore: string;
  /** The system store (XDG_CACHE_DIRS) of this sandbox. */
  systemStore: string;
}

/** A fresh set of XDG directories; `env` points 0install (and 0share) at them. */
export function zeroSandbox(): ZeroSandbox {
  const root = mkdtempSync(join(tmpdir(), '0share-zi-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(root, 'home'),
    XDG_CACHE_HOME: join(root, 'cache'),
    XDG_CACHE_DIRS: join(root, 'syscache'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_CONFIG_DIRS: join(root, 'sysconfig'),
    XDG_DATA_HOME: join(root, 'data'),
    XDG_DATA_DIRS: join(root, 'sysdata'),
  };
  for (const d of ['home', 'cache', 'syscache', 'config', 'sysconfig', 'data', 'sysdata']) mkdirSync(join(root, d), { recursive: true });
  return {
    root,
    env,
    userStore: join(root, 'cache', '0install.net', 'implementations'),
    systemStore: join(root, 'syscache', '0install.net', 'implementations'),
  };
}

/** Runs 0install and returns stdout; throws with stderr on failure. */
export function zi(sandbox: ZeroSandbox, args: string[]): string {
  return execFileSync('0install', args, { env: sandbox.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs 0install and returns status, stdout and stderr without throwing. */
export function ziResult(sandbox: ZeroSandbox, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('0install', args, { env: sandbox.env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
