// The extractor's header rules as pure functions: path normalisation, types, modes, sizes, mtimes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TarRuleError, checkMode, checkSize, entryKind, entryMtime, normalizePath } from '../../src/core/tar-rules.js';

const norm = (s: string, dir = false) => normalizePath(Buffer.from(s, 'latin1'), dir).toString('latin1');

describe('normalizePath', () => {
  it('strips leading ./ and a directory slash, and maps the root to ""', () => {
    expect(norm('./a/b')).toBe('a/b');
    expect(norm('././a')).toBe('a');
    expect(norm('a/', true)).toBe('a');
    expect(norm('./', true)).toBe('');
    expect(norm('.', true)).toBe('');
    expect(norm('sub/.manifest')).toBe('sub/.manifest');
    expect(norm('\xff\xfe')).toBe('\xff\xfe');
  });

  it('refuses unsafe names', () => {
    for (const bad of ['/a', '../a', 'a/..', 'a//b', 'a/./b', 'a\0b', 'a\nb', '', '.manifest', './.manifest', 'f/']) {
      expect(() => norm(bad), bad).toThrow(TarRuleError);
    }
    expect(() => norm('a//', true)).toThrow(/empty path component/);
    expect(() => norm('x'.repeat(256))).toThrow(/255/);
    expect(() => norm('a/'.repeat(2100) + 'b')).toThrow(/4095/);
  });

  it('never returns a path that leaves the root, whatever the bytes', () => {
    const part = fc.constantFrom('a', '.', '..', '', '.manifest', 'b\0', 'c\n', '\xff');
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), (parts, lead, dir) => {
        const raw = (lead ? '/' : '') + parts.join('/');
        let out: string;
        try {
          out = norm(raw, dir);
        } catch (e) {
          expect(e).toBeInstanceOf(TarRuleError);
          return;
        }
        if (out === '') return;
        expect(out.startsWith('/')).toBe(false);
        expect(out).not.toMatch(/\0|\n/);
        for (const c of out.split('/')) expect(['', '.', '..']).not.toContain(c);
        expect(out).not.toBe('.manifest');
      }),
    );
  });
});

describe('header checks', () => {
  it('maps types', () => {
    expect(entryKind('file')).toBe('file');
    expect(entryKind('contiguous-file')).toBe('file');
    expect(entryKind('directory')).toBe('dir');
    expect(entryKind('symlink')).toBe('symlink');
    for (const t of ['link', 'character-device', 'block-device', 'fifo', null, 'pax-header']) expect(() => entryKind(t)).toThrow(TarRuleError);
  });

  it('refuses special bits and bad sizes', () => {
    expect(() => checkMode(0o755)).not.toThrow();
    expect(() => checkMode(0o100755)).not.toThrow();
    for (const m of [0o4755, 0o2755, 0o1755]) expect(() => checkMode(m)).toThrow(/special mode bits/);
    expect(checkSize(10, 'file')).toBe(10);
    expect(() => checkSize(-1, 'file')).toThrow();
    expect(() => checkSize(2 ** 60, 'file')).toThrow();
    expect(() => checkSize(1, 'dir')).toThrow();
  });

  it('takes whole seconds, truncating pax fractions toward zero', () => {
    expect(entryMtime(undefined, 1234)).toBe(1234n);
    expect(entryMtime('1795301940.999999999', 0)).toBe(1795301940n);
    expect(entryMtime('-5.5', 0)).toBe(-5n);
    expect(entryMtime('4102444800', 0)).toBe(4102444800n);
    expect(() => entryMtime('12abc', 0)).toThrow(/pax mtime/);
    expect(() => entryMtime(undefined, NaN)).toThrow(/mtime/);
  });
});
