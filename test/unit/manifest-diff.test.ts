// What `0share verify` reports when a tree differs from its stored manifest.
import { describe, expect, it } from 'vitest';
import { diffManifests } from '../../src/core/manifest-diff.js';

const m = (...lines: string[]) => Buffer.from(lines.map((l) => `${l}\n`).join(''));
const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);

describe('diffManifests', () => {
  it('is empty for equal manifests', () => {
    expect(diffManifests(m(`F ${H1} 1 2 x`), m(`F ${H1} 1 2 x`), 'sha256new')).toEqual([]);
  });

  it('names missing, extra and changed entries in path order', () => {
    const expected = m(`F ${H1} 10 3 a`, `X ${H1} 10 3 run`, `S ${H1} 4 link`, 'D /bin', `X ${H1} 10 3 tool`, 'D /gone', `F ${H1} 1 1 f`);
    const actual = m(`F ${H2} 10 3 a`, `F ${H1} 11 3 run`, `S ${H2} 5 link`, `F ${H1} 1 1 new`, 'D /bin', `F ${H1} 10 4 tool`);
    expect(diffManifests(expected, actual, 'sha256')).toEqual([
      'file a: content differs',
      'file bin/tool: size differs (expected 3, found 4 bytes)',
      'file bin/tool: should be executable but is not',
      'missing directory gone',
      'missing file gone/f',
      'symlink link: target differs',
      'extra file new',
      'file run: should be executable but is not',
      'file run: mtime differs (expected 10, found 11)',
    ]);
  });

  it('reports a kind change', () => {
    expect(diffManifests(m(`F ${H1} 1 1 x`), m(`S ${H1} 1 x`), 'sha1new')).toEqual(['x: expected a file, found a symlink']);
  });

  it('falls back to lines for the old sha1 format', () => {
    expect(diffManifests(m('D 5 /d', `F ${H1} 1 1 x`), m('D 6 /d', `F ${H1} 1 1 x`), 'sha1')).toEqual(['missing: D 5 /d', 'unexpected: D 6 /d']);
  });

  it('says when the stored manifest is unreadable', () => {
    const out = diffManifests(Buffer.from('garbage\n'), m(`F ${H1} 1 1 x`), 'sha256new');
    expect(out[0]).toMatch(/stored manifest is unreadable/);
  });
});
