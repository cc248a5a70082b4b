// Property: for random trees, 0share's manifest and digest equal what the real
// `0install store manifest DIR ALG` prints, byte for byte, for all four algorithms.
// Trees mix nested dirs, exec and plain files, empty files, symlinks (dangling and absolute),
// odd and non-ASCII names (also non-UTF-8 bytes), and mtimes that are zero, fractional,
// negative or large.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS, formatDigest } from '../../src/core/digest.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { need0install } from '../helpers/zeroinstall.js';
import { tempDir } from '../helpers/trees.js';

type Node =
  | { kind: 'file'; content: Uint8Array; mode: number; mtime: number }
  | { kind: 'symlink'; target: Uint8Array }
  | { kind: 'dir'; mtime: number; children: Array<[Buffer, Node]> };

const ODD_NAMES = ['a', 'B', '_', 'Z', 'z', '~', '#x', '-n', '.hidden', '.manifest', 'a b', ' lead', 'trail ', 'é', 'e\u0308', 'Ω', '😀', '日本', 'x.y.z'];

const validName = (b: Buffer) =>
  b.length > 0 && b.length <= 255 && !b.includes(0) && !b.includes(0x2f) && !b.includes(0x0a) && !(b.equals(Buffer.from('.')) || b.equals(Buffer.from('..')));

const nameArb = fc
  .oneof(
    fc.constantFrom(...ODD_NAMES).map((s) => Buffer.from(s)),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map((s) => Buffer.from(s)),
    fc.uint8Array({ minLength: 1, maxLength: 5 }).map((u) => Buffer.from(u)),
  )
  .filter(validName);

const mtimeArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 2_000_000_000 }),
  fc.integer({ min: 1, max: 2_000_000_000 }).map((s) => s + 0.75),
  fc.integer({ min: 2 ** 31, max: 2 ** 33 }),
  fc.constant(-1.5),
);

const fileArb = fc.record({
  kind: fc.constant('file' as const),
  content: fc.oneof(fc.constant(new Uint8Array()), fc.uint8Array({ maxLength: 300 })),
  mode: fc.constantFrom(0o644, 0o755, 0o700, 0o601, 0o610, 0o400, 0o444),
  mtime: mtimeArb,
});

const symlinkArb = fc.record({
  kind: fc.constant('symlink' as const),
  target: fc.oneof(
    fc.constantFrom('a', '../up', 'does/not/exist', '/etc/passwd', '/the/symlink/target', 'sp ace', 'é').map((s) => Buffer.from(s)),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => Buffer.from(u)).filter((b) => !b.includes(0)),
  ),
});

const { dir: treeArb } = fc.letrec<{ node: Node; dir: Node }>((tie) => ({
  node: fc.oneof({ maxDepth: 3, depthIdentifier: 'tree' }, fileArb, symlinkArb, tie('dir')),
  dir: fc.record({
    kind: fc.constant('dir' as const),
    mtime: mtimeArb,
    children: fc.uniqueArray(fc.tuple(nameArb, tie('node')), { maxLength: 6, selector: ([n]) => n.toString('latin1') }),
  }),
}));

function materialize(path: Buffer, node: Node): void {
  if (node.kind === 'file') {
    writeFileSync(path, node.content);
    chmodSync(path, node.mode);
    utimesSync(path, node.mtime, node.mtime);
  } else if (node.kind === 'symlink') {
    symlinkSync(Buffer.from(node.target), path);
  } else {
    mkdirSync(path, { recursive: true });
    for (const [name, child] of node.children) materialize(Buffer.concat([path, Buffer.from('/'), name]), child);
    utimesSync(path, node.mtime, node.mtime);
  }
}

describe.runIf(need0install())('manifest vs 0install store manifest (property)', () => {
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(() => ({ dir: base, cleanup } = tempDir('0share-prop-')));
  afterAll(() => cleanup());

  it('matches for every algorithm on random trees', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(treeArb, async (tree) => {
        const root = `${base}/t${n++}`;
        try {
          materialize(Buffer.from(root), tree);
          for (const alg of ALGORITHMS) {
            const theirs = execFileSync('0install', ['store', 'manifest', root, alg], { stdio: ['ignore', 'pipe', 'pipe'] });
            const ours = await manifestOfTree(root, alg);
            const printed = Buffer.concat([ours.manifest, Buffer.from(`${formatDigest(ours.digest)}\n`)]);
            expect(printed.toString('latin1'), alg).toBe(theirs.toString('latin1'));
          }
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 120 },
    );
  });
});
