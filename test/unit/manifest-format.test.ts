import { describe, expect, it } from 'vitest';
import { formatDigest } from '../../src/core/digest.js';
import { contentHash, type ManifestEntry, manifestDigest, renderManifest } from '../../src/core/manifest-format.js';
import { parseManifest } from '../../src/core/manifest-table.js';
import type { Algorithm } from '../../src/core/digest.js';

const b = (s: string) => Buffer.from(s);
function v2(alg: Algorithm): ManifestEntry[] {
  return [
    { path: b('MyDir'), kind: 'dir', mtime: 20n },
    { path: b('MyDir/Hello'), kind: 'file', mtime: 30n, size: 11, hash: contentHash(b('Hello World'), alg) },
    { path: b('MyDir/Run me'), kind: 'file', exec: true, mtime: 40n, size: 5, hash: contentHash(b('Bang!'), alg) },
    { path: b('MyDir/Sym link'), kind: 'symlink', size: 5, hash: contentHash(b('Hello'), alg) },
  ];
}

describe('manifest from entries (reference §1.10 vectors)', () => {
  it('V1: empty tree', () => {
    const m = renderManifest([], 'sha256new');
    expect(m.length).toBe(0);
    expect(formatDigest(manifestDigest(m, 'sha256new'))).toBe('sha256new_4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ');
    expect(formatDigest(manifestDigest(m, 'sha1new'))).toBe('sha1new=da39a3ee5e6b4b0d3255bfef95601890afd80709');
  });

  it.each([
    ['sha1', 'sha1=b42c511f26fad15b00085a55ee357807a175b71f'],
    ['sha1new', 'sha1new=0499b09c24872ee3c9eba525428a796359b9ddfa'],
    ['sha256', 'sha256=443e258781bcb5f5616f9535df4503af824343960d2dd4315b0b3a1c56281be3'],
    ['sha256new', 'sha256new_IQ7CLB4BXS27KYLPSU256RIDV6BEGQ4WBUW5IMK3BM5BYVRIDPRQ'],
  ] as const)('V2 %s', (alg, want) => {
    const m = renderManifest(v2(alg), alg);
    expect(formatDigest(manifestDigest(m, alg))).toBe(want);
  });

  it('V2 sha1 text', () => {
    expect(renderManifest(v2('sha1'), 'sha1').toString()).toBe(
      'D 20 /MyDir\nF 0a4d55a8d778e5022fab701977c5d840bbc486d0 30 11 Hello\nX 4001b8c42ddfb61c453d04930e8ce78fb3a40bc8 40 5 Run me\nS f7ff9e8b7bb2e09b70935a5d785e0cc5d9d0abf0 5 Sym link\n',
    );
  });

  it('V4: files before subdirectories, symlink to an absolute target', () => {
    const v4 = (alg: Algorithm): ManifestEntry[] => [
      { path: b('My Dir'), kind: 'dir' },
      { path: b('My Dir/!a file!.exe'), kind: 'file', exec: true, mtime: 2n, size: 10, hash: contentHash(b('Some code.'), alg) },
      { path: b('My Dir/!a file!'), kind: 'file', mtime: 2n, size: 10, hash: contentHash(b('Some data.'), alg) },
      { path: b('a symlink'), kind: 'symlink', size: 19, hash: contentHash(b('/the/symlink/target'), alg) },
      { path: b('MyFile'), kind: 'file', mtime: 2n, size: 5, hash: contentHash(b('Hello'), alg) },
    ];
    expect(formatDigest(manifestDigest(renderManifest(v4('sha1new'), 'sha1new'), 'sha1new'))).toBe('sha1new=7e3eb25a072988f164bae24d33af69c1814eb99a');
    expect(formatDigest(manifestDigest(renderManifest(v4('sha256new'), 'sha256new'), 'sha256new'))).toBe(
      'sha256new_DZVZGHZXIGMK57ADWKPKBSL77H6AEIW4S5HXLGBXKK6VJC5AQEOQ',
    );
  });

  it('skips only a top-level regular .manifest', () => {
    const e: ManifestEntry[] = [
      { path: b('.manifest'), kind: 'file', mtime: 1n, size: 3, hash: 'aa' },
      { path: b('c'), kind: 'dir' },
      { path: b('c/.manifest'), kind: 'file', mtime: 1n, size: 1, hash: 'bb' },
    ];
    expect(renderManifest(e, 'sha1new').toString()).toBe('D /c\nF bb 1 1 .manifest\n');
  });

  it('rejects a name twice in a directory, whatever the entries\' order and kinds', () => {
    const f = (p: string): ManifestEntry => ({ path: b(p), kind: 'file', mtime: 0n, size: 0, hash: 'aa' });
    const d = (p: string): ManifestEntry => ({ path: b(p), kind: 'dir' });
    const s = (p: string): ManifestEntry => ({ path: b(p), kind: 'symlink', size: 1, hash: 'bb' });
    for (const entries of [
      [d('x'), f('x/a'), f('x/b'), f('x/a')],
      [d('x'), f('x/a'), d('y'), s('x/a')],
      [d('x'), d('x/a'), f('x/a')],
      [f('a'), d('a')],
      [f('.manifest'), f('.manifest')],
      [d('.manifest'), f('.manifest')],
    ]) {
      expect(() => renderManifest(entries, 'sha256new')).toThrow(/duplicate/);
    }
    expect(() => renderManifest([d('x'), d('x')], 'sha256new')).toThrow(/duplicate directory/);
    expect(() => renderManifest([d('x'), f('y/a')], 'sha256new')).toThrow(/no parent/);
    expect(() => renderManifest([d('x/y')], 'sha256new')).toThrow(/no parent/);
    for (const bad of ['a//b', './a', 'a/..', '/a', 'a/']) expect(() => renderManifest([f(bad)], 'sha256new')).toThrow(/invalid path/);
    expect(renderManifest([f('.a'), f('..b'), f('...')], 'sha256new').toString()).toBe('F aa 0 0 ...\nF aa 0 0 ..b\nF aa 0 0 .a\n');
  });

  it('orders the old sha1 format by name across files and directories, the new ones files first', () => {
    const e: ManifestEntry[] = [
      { path: b('b'), kind: 'dir', mtime: 5n },
      { path: b('c'), kind: 'file', mtime: 1n, size: 0, hash: 'cc' },
      { path: b('a'), kind: 'file', mtime: 2n, size: 0, hash: 'aa' },
      { path: b('b/z'), kind: 'file', mtime: 3n, size: 0, hash: 'zz' },
    ];
    expect(renderManifest(e, 'sha1').toString()).toBe('F aa 2 0 a\nD 5 /b\nF zz 3 0 z\nF cc 1 0 c\n');
    expect(renderManifest(e, 'sha1new').toString()).toBe('F aa 2 0 a\nF cc 1 0 c\nD /b\nF zz 3 0 z\n');
  });

  it('rejects newlines in names', () => {
    expect(() => renderManifest([{ path: b('a\nb'), kind: 'file', mtime: 0n, size: 0, hash: 'aa' }], 'sha1new')).toThrow(/newline/);
  });

  it('parses what it renders', () => {
    const m = renderManifest(v2('sha256new'), 'sha256new');
    expect(renderManifest(parseManifest(m), 'sha256new').equals(m)).toBe(true);
  });
});
