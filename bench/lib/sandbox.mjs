// XDG dirs for one 0install/0share "machine" of a bench under `root`, as test/helpers/zeroinstall.ts
// makes them for the tests (plain JS here, since the benches run under plain node).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const DIRS = { HOME: 'home', XDG_CACHE_HOME: 'cache', XDG_CACHE_DIRS: 'syscache', XDG_CONFIG_HOME: 'config', XDG_CONFIG_DIRS: 'sysconfig', XDG_DATA_HOME: 'data', XDG_DATA_DIRS: 'sysdata' };

/** `env` is `base` with every XDG dir (and HOME) moved under `root`; the dirs are created. */
export function sandbox(root, base = process.env) {
  const env = { ...base };
  for (const [k, d] of Object.entries(DIRS)) {
    env[k] = join(root, d);
    mkdirSync(env[k], { recursive: true });
  }
  return { root, env, userStore: join(root, 'cache', '0install.net', 'implementations'), systemStore: join(root, 'syscache', '0install.net', 'implementations') };
}
