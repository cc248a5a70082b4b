// The swarm's final check of a staging tree (src/io/staging-check.ts), which replaced hashing the
// whole tree again: a tree in store form that holds exactly the manifest's entries passes (the
// partial dir's top-level .manifest aside); each way a tree can differ from the manifest after
// its files were verified is refused, naming the path; a file this process wrote itself is checked
// by name and type alone (`written`), the others by lstat. Every tampering below restores the
// parent directory's mode and mtime, so that the tree differs only in what the case is about.
import { chmodSync, lstatSync, lutimesSync, mkdirSync, renameSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManifestTable } from '../../src/core/manifest-table.js';
import { planFiles } from '../../src/core/swarm-plan.js';
import { checkStaged, StagingMismatch } from '../../src/io/staging-check.js';
import { finish } from '../../src/io/swarm-staging.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { at, buildTree, tempDir } from '../helpers/trees.js';

const OLD = 1_300_000_000;
const DIR_TIME = 1_400_000_000;
const LINK_TIME = 1_500_000_000;

let dir: string;
let cleanup: () => Promise<void>;
let tree: string;
let entries: ManifestTable;

beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  tree = `${dir}/tree`;
  // In store form, as finish leaves it: files 0444/0555 with the manifest's mtimes, directories 0555.
  buildTree(tree, [
    { path: 'a', kind: 'file', content: 'aaaa', mode: 0o444, mtime: OLD },
    { path: 'run', kind: 'file', content: '#!/bin/sh\n', mode: 0o555, mtime: OLD },
    { path: 'link', kind: 'symlink', target: 'lib/deep/f', mtime: LINK_TIME },
    { path: 'lib', kind: 'dir', mode: 0o555, mtime: DIR_TIME },
    { path: 'lib/deep', kind: 'dir', mode: 0o555, mtime: DIR_TIME },
    { path: 'lib/deep/f', kind: 'file', content: 'ffff', mode: 0o444, mtime: OLD },
    { path: 'lib/empty', kind: 'file', content: '', mode: 0o444, mtime: OLD },
    { path: Buffer.from([0x6e, 0xe9]), kind: 'dir', mode: 0o555, mtime: DIR_TIME },
  ]);
  entries = ManifestTable.parse((await manifestOfTree(tree, 'sha256new')).manifest);
});
afterEach(() => cleanup());

/** Runs `change` on `path`'s parent made writable, then puts the parent's mode and mtime back. */
function tamper(parent: string, change: () => void): void {
  const p = parent ? `${tree}/${parent}` : tree;
  const st = lstatSync(p);
  chmodSync(p, 0o755);
  change();
  chmodSync(p, st.mode & 0o7777);
  utimesSync(p, st.atime, st.mtime);
}

async function refused(message: RegExp): Promise<void> {
  const err = await checkStaged(tree, entries).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StagingMismatch);
  expect((err as Error).message).toMatch(message);
}

describe('checkStaged', () => {
  it('passes a tree that holds exactly the manifest\'s entries, with or without the partial dir\'s .manifest', async () => {
    await checkStaged(tree, entries);
    writeFileSync(`${tree}/.manifest`, 'the verified manifest');
    await checkStaged(tree, entries);
  });

  it('refuses an extra file, at the top and deeper', async () => {
    tamper('lib/deep', () => writeFileSync(`${tree}/lib/deep/g`, ''));
    await refused(/^"lib\/deep\/g" is in the staging tree but not in the manifest$/);
    tamper('', () => writeFileSync(`${tree}/extra`, ''));
    await refused(/"extra" is in the staging tree but not in the manifest/);
  });

  it('refuses an extra directory, even an empty one', async () => {
    tamper('lib', () => mkdirSync(`${tree}/lib/more`));
    await refused(/^"lib\/more" is in the staging tree but not in the manifest$/);
  });

  it('refuses a .manifest below the top level', async () => {
    tamper('lib', () => writeFileSync(`${tree}/lib/.manifest`, ''));
    await refused(/"lib\/\.manifest" is in the staging tree but not in the manifest/);
  });

  it('refuses a missing file, and a missing empty directory', async () => {
    tamper('lib', () => unlinkSync(`${tree}/lib/empty`));
    await refused(/^"lib\/empty" is in the manifest but missing from the staging tree$/);
  });

  it('refuses a missing directory', async () => {
    const name = Buffer.from([0x6e, 0xe9]);
    tamper('', () => renameSync(at(tree, name), `${dir}/away`));
    await refused(/is in the manifest but missing from the staging tree/);
  });

  it('refuses a file whose content was changed after it was verified (its mtime is now)', async () => {
    tamper('lib/deep', () => {
      chmodSync(`${tree}/lib/deep/f`, 0o644);
      writeFileSync(`${tree}/lib/deep/f`, 'FFFF');
      chmodSync(`${tree}/lib/deep/f`, 0o444);
    });
    await refused(/^"lib\/deep\/f" has mtime \d+, not 1300000000 \(written after it was verified\?\)$/);
  });

  it('refuses a file of another size', async () => {
    tamper('', () => {
      chmodSync(`${tree}/a`, 0o644);
      writeFileSync(`${tree}/a`, 'aaaaa');
      chmodSync(`${tree}/a`, 0o444);
      utimesSync(`${tree}/a`, OLD, OLD);
    });
    await refused(/^"a" has 5 bytes, not 4$/);
  });

  it('refuses a wrong exec bit, either way, and a file still being written (0600)', async () => {
    chmodSync(`${tree}/a`, 0o555);
    await refused(/^"a" has mode 0555, not 0444$/);
    chmodSync(`${tree}/a`, 0o444);
    chmodSync(`${tree}/run`, 0o444);
    await refused(/^"run" has mode 0444, not 0555$/);
    chmodSync(`${tree}/run`, 0o600);
    await refused(/^"run" has mode 0600, not 0555$/);
  });

  it('refuses a symlink replaced by a file with its size, mode and mtime', async () => {
    tamper('', () => {
      unlinkSync(`${tree}/link`);
      writeFileSync(`${tree}/link`, 'lib/deep/f', { mode: 0o444 });
      utimesSync(`${tree}/link`, OLD, OLD);
    });
    await refused(/^"link" is not a symlink, as the manifest says$/);
  });

  it('refuses a file replaced by a symlink', async () => {
    tamper('', () => {
      unlinkSync(`${tree}/a`);
      symlinkSync('abcd', `${tree}/a`);
    });
    await refused(/^"a" is not a regular file, as the manifest says$/);
  });

  it('refuses a directory replaced by a file', async () => {
    const name = Buffer.from([0x6e, 0xe9]);
    tamper('', () => {
      renameSync(at(tree, name), `${dir}/away`);
      writeFileSync(at(tree, name), '');
    });
    await refused(/is not a directory, as the manifest says/);
  });

  it('refuses a symlink to a target of another length', async () => {
    tamper('', () => {
      unlinkSync(`${tree}/link`);
      symlinkSync('lib/deep/ff', `${tree}/link`);
      lutimesSync(`${tree}/link`, LINK_TIME, LINK_TIME);
    });
    await refused(/^"link" is a symlink to 11 bytes, not 10$/);
  });

  it('a file this process wrote itself (`written`, numbered as the plan numbers files and symlinks) is checked by name and type only; the others still by lstat', async () => {
    const files = planFiles(entries);
    const number = (path: string) => [...files].find((f) => Buffer.from(f.entry.path).toString() === path)!.index;
    const only = (...paths: string[]) => {
      const set = new Set(paths.map(number));
      return (n: number) => set.has(n);
    };
    const all = () => true;
    await checkStaged(tree, entries, all);
    // Its mode, size and mtime are what its descriptor was told: not asked again.
    chmodSync(`${tree}/lib/deep/f`, 0o600);
    await checkStaged(tree, entries, only('lib/deep/f'));
    // A file in another directory, not written here, is lstat'ed (the numbering skips directory lines).
    chmodSync(`${tree}/lib/empty`, 0o600);
    await expect(checkStaged(tree, entries, only('lib/deep/f'))).rejects.toThrow(/^"lib\/empty" has mode 0600, not 0444$/);
    await checkStaged(tree, entries, only('lib/deep/f', 'lib/empty'));
    chmodSync(`${tree}/lib/empty`, 0o444);
    await expect(checkStaged(tree, entries)).rejects.toThrow(/^"lib\/deep\/f" has mode 0600, not 0444$/);
    // Its name and type are still checked: replaced by a symlink, or gone.
    tamper('lib/deep', () => {
      unlinkSync(`${tree}/lib/deep/f`);
      symlinkSync('abcd', `${tree}/lib/deep/f`);
    });
    await expect(checkStaged(tree, entries, all)).rejects.toThrow(/^"lib\/deep\/f" is not a regular file, as the manifest says$/);
    tamper('lib/deep', () => unlinkSync(`${tree}/lib/deep/f`));
    await expect(checkStaged(tree, entries, all)).rejects.toThrow(/^"lib\/deep\/f" is in the manifest but missing from the staging tree$/);
  });

  it('refuses a directory that is not 0555', async () => {
    chmodSync(`${tree}/lib`, 0o755);
    await refused(/^"lib" has mode 0755, not 0555$/);
  });

  it('takes directories and symlinks with any mtime: a peer\'s /mtimes the file system clamps does not fail the fetch', async () => {
    // ext4 keeps no time past 2446 (it stores another one); finish and its check pass all the same.
    await finish(tree, entries, new Map([['lib', 99_999_999_999n], ['link', 99_999_999_999n]]));
  });
});
