// The implementation stores, found and read exactly as 0install 2.18 does (basedir.ml,
// paths.ml, stores.ml): where they are, whether a digest is present (by name only, never by
// content), and what they contain.
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { type Digest, formatDigest, isStrictDigest, parseDigest } from '../core/digest.js';
import { manifestFileBytes } from '../core/manifest-format.js';

/** OCaml's Filename.concat, so odd settings (an empty XDG_CACHE_HOME) give 0install's paths. */
function concat(dir: string, name: string): string {
  return dir === '' || dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** $HOME as 0install uses it: root with a $HOME it doesn't own gets root's own home. */
function unixHome(env: NodeJS.ProcessEnv): string {
  const home = env.HOME ?? '/root';
  if (process.geteuid?.() !== 0) return home;
  try {
    if (statSync(home).uid === 0) return home;
  } catch {
    return home;
  }
  try {
    return userInfo().homedir;
  } catch {
    return '/';
  }
}

/** basedir.ml get_path: the user dir (set-but-empty counts as set) then the system dirs. */
function xdgPath(env: NodeJS.ProcessEnv, homeVar: string, dirsVar: string, defaultHome: string, defaultSystem: string[]): string[] {
  const user = env[homeVar] ?? defaultHome;
  const dirs = env[dirsVar];
  const system = dirs === undefined ? defaultSystem : dirs.split(':').filter((d) => d !== '');
  return [user, ...system];
}

/** Lines of every implementation-dirs file; like 0install, the collected list ends up reversed. */
function implementationDirs(configDirs: string[]): string[] {
  const found: string[] = [];
  for (const dir of configDirs) {
    let text: string;
    try {
      text = readFileSync(concat(dir, 'injector/implementation-dirs'), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line !== '' && !line.startsWith('#')) found.push(line);
  }
  return found.reverse();
}

/**
 * The stores in 0install's order (what `0install store list` prints). The first is the user's
 * writable store; the others are system stores.
 */
export function defaultStores(env: NodeJS.ProcessEnv = process.env): string[] {
  let cache: string[];
  let config: string[];
  const portable = env.ZEROINSTALL_PORTABLE_BASE;
  if (portable !== undefined) {
    cache = [concat(portable, 'cache')];
    config = [concat(portable, 'config')];
  } else {
    const home = unixHome(env);
    cache = xdgPath(env, 'XDG_CACHE_HOME', 'XDG_CACHE_DIRS', concat(home, '.cache'), ['/var/cache']).map((d) => concat(d, '0install.net'));
    config = xdgPath(env, 'XDG_CONFIG_HOME', 'XDG_CONFIG_DIRS', concat(home, '.config'), ['/etc/xdg']).map((d) => concat(d, '0install.net'));
  }
  return [...cache.map((d) => concat(d, 'implementations')), ...implementationDirs(config)];
}

/**
 * A real directory: a symlink in a store is never followed (it could lead out of the store). One
 * synchronous lstat (the peer asks this for every request; a thread-pool hop costs more than the call).
 */
export async function isRealDirectory(path: string): Promise<boolean> {
  try {
    return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

/**
 * The path of `digest` in the first store that has it, by name only as 0install decides (but
 * unlike 0install, a symlink named after the digest doesn't count: 0share may serve what it finds).
 */
export async function lookupDigest(stores: readonly string[], digest: Digest): Promise<string | undefined> {
  for (const store of stores) {
    const path = join(store, formatDigest(digest));
    if (await isRealDirectory(path)) return path;
  }
  return undefined;
}

/** The first of `digests` present in any store (digests in order, then stores, as 0install). */
export async function lookupAny(stores: readonly string[], digests: readonly Digest[]): Promise<{ digest: Digest; path: string } | undefined> {
  for (const digest of digests) {
    const path = await lookupDigest(stores, digest);
    if (path !== undefined) return { digest, path };
  }
  return undefined;
}

export interface StoredImplementation {
  digest: Digest;
  /** The directory name, e.g. `sha256new_…`. */
  name: string;
  store: string;
  path: string;
}

/**
 * Every implementation directory in the stores, store by store, names sorted. Skips `tmp-*`,
 * anything whose name is not a strict digest, and anything that is not a directory. A store
 * that doesn't exist or can't be read contributes nothing.
 */
export async function listImplementations(stores: readonly string[]): Promise<StoredImplementation[]> {
  const out: StoredImplementation[] = [];
  for (const store of stores) {
    let names: string[];
    try {
      names = await readdir(store);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (name.startsWith('tmp-') || !isStrictDigest(name)) continue;
      const path = join(store, name);
      if (!(await isRealDirectory(path))) continue;
      out.push({ digest: parseDigest(name), name, store, path });
    }
  }
  return out;
}

/** Total size of a tree's regular files (not following symlinks); unreadable parts count 0. */
async function treeFileBytes(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of names) {
    const p = join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (st?.isDirectory()) total += await treeFileBytes(p);
    else if (st?.isFile()) total += st.size;
  }
  return total;
}

/**
 * Bytes of file content in an implementation: the sum of the sizes in its `.manifest` (fast),
 * or of its regular files when there is no readable `.manifest`.
 */
export async function implementationSize(path: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(path, '.manifest'), 'latin1');
  } catch {
    return treeFileBytes(path);
  }
  return manifestFileBytes(text);
}
