// Adding to a store atomically, as 0install 2.18 does (stores.ml check_manifest_and_rename):
// build in `tmp-<hex>` inside the target store, fix permissions, verify the digest, write
// `.manifest`, rename into place. Nothing partial ever appears under a digest name; any failure
// removes the tmp dir. Also verifies an existing entry against its name.
import { randomBytes } from 'node:crypto';
import { chmodSync, constants, lstatSync, readdirSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, readFile, readdir, readlink, rename, rm, symlink, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Digest, DigestError, formatDigest, parseDigest, sameDigest } from '../core/digest.js';
import { diffManifests } from '../core/manifest-diff.js';
import { manifestDigest } from '../core/manifest-format.js';
import { isRealDirectory } from './stores.js';
import { type TimeSlicer, timeSlicer } from './time-slice.js';
import { manifestOfTree } from './tree-walk.js';

export class StoreError extends Error {
  override name = 'StoreError';
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Creates the store (0755) if needed, then a fresh private `tmp-<hex>` inside it. */
export async function makeTmpDir(store: string): Promise<string> {
  await mkdir(store, { recursive: true, mode: 0o755 });
  for (let attempt = 0; ; attempt++) {
    const dir = join(store, `tmp-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if (errno(err) === 'EEXIST' && attempt < 10) continue;
      throw err;
    }
    // An explicit chmod drops a setgid bit inherited from the store, which fixPermissions rejects.
    await chmod(dir, 0o700);
    return dir;
  }
}

/** Removes a tree even when its directories are read-only (as store entries are). */
export async function removeTree(path: string): Promise<void> {
  const unlock = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st?.isDirectory()) return;
    if ((st.mode & 0o700) !== 0o700) await chmod(p, (st.mode & 0o777) | 0o700).catch(() => undefined);
    const names = await readdir(p).catch(() => [] as string[]);
    for (const name of names) await unlock(join(p, name));
  };
  await unlock(path);
  await rm(path, { recursive: true, force: true });
}

/**
 * stores.ml fixup_permissions: directories and executable files become 0555, other files 0444,
 * symlinks are left alone; special bits and anything that is not a file, directory or symlink
 * are rejected. Synchronous calls in time slices: thousands of lstats would otherwise dominate.
 */
async function fixPermissions(path: string, slicer: TimeSlicer = timeSlicer()): Promise<void> {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (!st.isDirectory() && !st.isFile()) throw new StoreError(`Not a regular file/directory/symlink '${path}'`);
  const mode = st.mode & 0o7777;
  if ((mode & 0o777) !== mode) {
    throw new StoreError(`Unsafe mode: extracted file '${path}' had special bits set in mode '${mode.toString(8)}'`);
  }
  const wanted = st.isDirectory() || (mode & 0o111) !== 0 ? 0o555 : 0o444;
  if (mode !== wanted) chmodSync(path, wanted);
  await slicer.pause();
  if (st.isDirectory()) {
    for (const name of readdirSync(path)) await fixPermissions(join(path, name), slicer);
  }
}

/** Writes `.manifest` (0444) into `dir` through a temporary file and a rename. */
async function writeManifestFile(dir: string, manifest: Uint8Array): Promise<void> {
  const tmp = join(dir, `tmp-${randomBytes(4).toString('hex')}.new`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444);
  try {
    await fh.writeFile(manifest);
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o444);
  await rename(tmp, join(dir, '.manifest'));
}

export interface CommitOptions {
  /** A `tmp-*` dir inside `store`, holding the received tree. */
  tmpDir: string;
  store: string;
  digest: Digest;
  /** The manifest computed while receiving the tree; if absent the tree is walked. */
  manifest?: Uint8Array;
  /**
   * The tree is already in store form (files 0444/0555, directories 0555, only files,
   * directories and symlinks, no special bits), as src/io/tar-extract.ts leaves it: skip the
   * fixup walk. Only for trees this process built itself.
   */
  permissionsFixed?: boolean;
}

/**
 * Fixes permissions (unless `permissionsFixed`), verifies `digest`, writes `.manifest` and renames the tmp dir to
 * `store/<digest>`, returning that path. If the target already exists that counts as success and
 * the tmp dir is removed. Any failure removes the tmp dir and throws.
 */
export async function commitStaged(opts: CommitOptions): Promise<string> {
  const { tmpDir, store, digest } = opts;
  const target = join(store, formatDigest(digest));
  // Refuse (and leave alone) anything but a tmp-* dir from makeTmpDir: on failure it is deleted.
  // It is normally inside `store`; another store on the same file system also works (as
  // 0install moves a user-store tmp dir into the system store); across file systems the
  // rename fails with EXDEV.
  if (!basename(tmpDir).startsWith('tmp-')) {
    throw new StoreError(`'${tmpDir}' is not a tmp-* staging directory; stage trees with makeTmpDir(store)`);
  }
  try {
    if (await lstat(join(tmpDir, '.manifest')).catch(() => undefined)) {
      throw new StoreError(`Directory '${tmpDir}' already contains a .manifest file! An implementation must not contain a top-level .manifest.`);
    }
    if (!opts.permissionsFixed) await fixPermissions(tmpDir);
    const { manifest, digest: actual } = opts.manifest
      ? { manifest: opts.manifest, digest: manifestDigest(opts.manifest, digest.alg) }
      : await manifestOfTree(tmpDir, digest.alg);
    if (!sameDigest(actual, digest)) {
      throw new StoreError(
        `Incorrect manifest -- archive is corrupted.\nRequired digest: ${formatDigest(digest)}\nActual digest: ${formatDigest(actual)}`,
      );
    }
    await chmod(tmpDir, 0o755);
    await writeManifestFile(tmpDir, manifest);
    await mkdir(store, { recursive: true, mode: 0o755 });
    if (await isRealDirectory(target)) {
      await removeTree(tmpDir);
      return target;
    }
    try {
      await rename(tmpDir, target);
    } catch (err) {
      // Someone else added it meanwhile: rename refuses to replace a non-empty directory.
      if ((errno(err) === 'ENOTEMPTY' || errno(err) === 'EEXIST') && (await isRealDirectory(target))) {
        await removeTree(tmpDir);
        return target;
      }
      throw err;
    }
    await chmod(target, 0o555);
    return target;
  } catch (err) {
    await removeTree(tmpDir).catch(() => undefined);
    if (err instanceof Error && !(err instanceof StoreError) && errno(err)) {
      throw new StoreError(`Could not add ${formatDigest(digest)} to ${store}: ${err.message}`);
    }
    throw err;
  }
}

/** stores.ml copy_tree: fresh modes (0444/0555 by exec bit), whole-second mtimes, symlinks as-is. */
async function copyTree(src: string, dst: string): Promise<void> {
  for (const name of await readdir(src)) {
    const from = join(src, name);
    const to = join(dst, name);
    const st = await lstat(from, { bigint: true });
    if (st.isDirectory()) {
      await mkdir(to, { mode: 0o700 });
      await copyTree(from, to);
      await chmod(to, 0o555);
    } else if (st.isFile()) {
      await copyFile(from, to, constants.COPYFILE_EXCL);
      await chmod(to, (st.mode & 0o111n) !== 0n ? 0o555 : 0o444);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from, { encoding: 'buffer' }), Buffer.from(to));
      continue;
    } else {
      throw new StoreError(`Not a regular file/directory/symlink '${from}'`);
    }
    // Whole seconds, exactly: a float of nanoseconds could round up into the next second.
    const sec = Number(st.mtimeNs / 1_000_000_000n);
    await utimes(to, sec, sec);
  }
}

/** `0install store add DIGEST DIR`: copies `src` into the store and commits it. */
export async function addDirectory(src: string, store: string, digest: Digest): Promise<string> {
  const st = await lstat(src).catch(() => undefined);
  if (!st?.isDirectory()) throw new StoreError(`'${src}' is not a directory`);
  if (await lstat(join(src, '.manifest')).catch(() => undefined)) {
    throw new StoreError(`Directory '${src}' already contains a .manifest file! Remove it (or copy the tree without it) first.`);
  }
  const tmpDir = await makeTmpDir(store);
  try {
    await copyTree(src, tmpDir);
  } catch (err) {
    await removeTree(tmpDir).catch(() => undefined);
    throw err;
  }
  return commitStaged({ tmpDir, store, digest });
}

export interface VerifyResult {
  ok: boolean;
  expected: Digest;
  actual: Digest;
  /** The digest of the stored `.manifest`, if there is one. */
  recorded?: Digest;
  /** What differs, one line each (empty when ok). */
  differences: string[];
}

/**
 * Checks a store entry against `digest` (by default the one its directory name says), like
 * `0install store verify`: the contents must match, and so must `.manifest` if present. When
 * something doesn't match, `differences` says what differs from the stored `.manifest`.
 */
export async function verifyEntry(path: string, digest?: Digest): Promise<VerifyResult> {
  let expected: Digest;
  try {
    expected = digest ?? parseDigest(basename(path));
  } catch (err) {
    if (err instanceof DigestError) {
      throw new StoreError(`'${path}' is not named after a digest; pass the digest it should have (${err.message})`);
    }
    throw err;
  }
  const { manifest, digest: actual } = await manifestOfTree(path, expected.alg);
  const stored = await readFile(join(path, '.manifest')).catch(() => undefined);
  const recorded = stored && manifestDigest(stored, expected.alg);
  const differences: string[] = [];
  if (sameDigest(actual, expected)) {
    // As 0install: correct contents with a wrong .manifest still fail (a peer would serve it).
    if (stored && recorded && !sameDigest(recorded, expected)) {
      differences.push('the directory contents are correct, but the .manifest file is wrong', ...diffManifests(stored, manifest, expected.alg));
    }
    return { ok: differences.length === 0, expected, actual, recorded, differences };
  }
  if (!stored) {
    differences.push('there is no .manifest to say which files differ');
  } else {
    if (recorded && !sameDigest(recorded, expected)) {
      differences.push(`the .manifest does not match the expected digest either (its digest is ${formatDigest(recorded)})`);
    }
    differences.push(...diffManifests(stored, manifest, expected.alg));
  }
  return { ok: false, expected, actual, recorded, differences };
}
