// The built CLI against the real 0install: `0share manifest` prints exactly what
// `0install store manifest` prints; `0share list` and `0share verify` see 0install's store.
import { chmodSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../src/core/digest.js';
import { removeTree } from '../../src/io/store-add.js';
import { runCli } from '../helpers/cli.js';
import { type TreeSpec, buildTree } from '../helpers/trees.js';
import { type ZeroSandbox, need0install, zeroSandbox, zi } from '../helpers/zeroinstall.js';

const TREE: TreeSpec[] = [
  { path: 'B', kind: 'file', content: '1', mtime: 1000 },
  { path: 'a b', kind: 'file', content: '2', mode: 0o755, mtime: 1000.5 },
  { path: 'é', kind: 'file', content: '', mtime: 0 },
  { path: 'c', kind: 'dir', mtime: 7 },
  { path: 'c/.manifest', kind: 'file', content: 'm', mtime: 3 },
  { path: 'c/d', kind: 'dir' },
  { path: 'c/d/y', kind: 'file', content: 'yy', mtime: 2 ** 32 },
  { path: 'link', kind: 'symlink', target: '/abs/dangling' },
  { path: '.manifest', kind: 'file', content: 'top-level, excluded' },
];

describe.runIf(need0install())('0share manifest/list/verify vs 0install', () => {
  let sb: ZeroSandbox;
  let src: string;
  beforeAll(() => {
    sb = zeroSandbox();
    src = join(sb.root, 'src');
    buildTree(src, TREE);
  });
  afterAll(() => removeTree(sb.root));

  it.each(ALGORITHMS)('`0share manifest DIR %s` prints what 0install prints', (alg) => {
    const ours = runCli(['manifest', src, alg], { env: sb.env });
    expect(ours.stderr).toBe('');
    expect(ours.status).toBe(0);
    expect(ours.stdout).toBe(zi(sb, ['store', 'manifest', src, alg]));
  });

  it('without an algorithm prints what `0install store manifest DIR` prints (sha1new)', () => {
    const ours = runCli(['manifest', src], { env: sb.env });
    expect(ours.status).toBe(0);
    expect(ours.stdout).toBe(zi(sb, ['store', 'manifest', src]));
    expect(ours.stdout.trim().split('\n').pop()).toMatch(/^sha1new=/);
  });

  it('prints the same through commander (an option before the verb, or `--`) as on the direct path', () => {
    const direct = runCli(['manifest', src, 'sha256new'], { env: sb.env });
    for (const args of [['--debug', 'manifest', src, 'sha256new'], ['manifest', '--', src, 'sha256new']]) {
      const r = runCli(args, { env: sb.env });
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toBe(direct.stdout);
    }
  });

  it('fails clearly, without a stack trace, on a fifo or an unknown algorithm', () => {
    const bad = join(sb.root, 'bad');
    buildTree(bad, [{ path: 'd', kind: 'dir' }]);
    spawnSync('mkfifo', [join(bad, 'd', 'p')]);
    const r = runCli(['manifest', bad], { env: sb.env });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`0share: Not a regular file/directory/symlink '${bad}/d/p'\n`);
    const u = runCli(['manifest', src, 'md5'], { env: sb.env });
    expect(u.status).toBe(1);
    expect(u.stderr).toMatch(/Unknown manifest digest algorithm 'md5': use one of sha1, sha1new, sha256, sha256new/);
  });

  it('lists and verifies what 0install added; reports damage with exit 1', () => {
    const digest = zi(sb, ['store', 'manifest', src, 'sha256new']).trim().split('\n').pop()!;
    const noTop = join(sb.root, 'no-top');
    buildTree(noTop, TREE.filter((e) => e.path !== '.manifest'));
    zi(sb, ['store', 'add', digest, noTop]);
    const path = zi(sb, ['store', 'find', digest]).trim();
    const store = path.slice(0, path.lastIndexOf('/'));

    const list = runCli(['list'], { env: sb.env });
    expect(list.status).toBe(0);
    expect(list.stdout).toBe(`${digest}\t${store}\t5\t5 B\n`);
    const json = JSON.parse(runCli(['list', '--json'], { env: sb.env }).stdout);
    expect(json).toEqual([{ digest, store, path, bytes: 5 }]);
    expect(runCli(['list', '--store', join(sb.root, 'empty')], { env: sb.env }).stdout).toBe('');

    const ok = runCli(['verify', digest.replace('sha256new_', 'sha256new=')], { env: sb.env });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`OK ${digest} ${path}\n`);
    expect(runCli(['verify', path], { env: sb.env }).status).toBe(0);

    chmodSync(path, 0o755);
    writeFileSync(join(path, 'intruder'), '');
    const bad = runCli(['verify', digest], { env: sb.env });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('does NOT verify');
    expect(bad.stderr).toContain('extra file intruder');

    const missing = runCli(['verify', 'sha256new_4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ'], { env: sb.env });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/is not in any store\. Searched:\n- /);
  });
});
