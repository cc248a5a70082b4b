// realDirs (io/real-dirs.ts): every directory on a path's way must be a real one; a symlink to a
// directory, a file, or a missing name on the way is reported with its prefix's length.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realDirs } from '../../src/io/real-dirs.js';

const root = mkdtempSync(join(tmpdir(), 'zs-realdirs-'));
mkdirSync(join(root, 'a/b'), { recursive: true });
mkdirSync(join(root, 'elsewhere'));
symlinkSync(join(root, 'elsewhere'), join(root, 'a/link'));
writeFileSync(join(root, 'a/file'), 'x');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const at = (p: string) => realDirs(root)(Buffer.from(p));

describe('realDirs', () => {
  it('passes paths whose every directory is real, and top-level names', () => {
    expect(at('a/b/c')).toBe(-1);
    expect(at('a/x')).toBe(-1);
    expect(at('top')).toBe(-1);
  });

  it('names the first prefix that is a symlink, a file or missing', () => {
    expect(at('a/link/x')).toBe('a/link'.length);
    expect(at('a/file/x')).toBe('a/file'.length);
    expect(at('a/nope/deeper/x')).toBe('a/nope'.length);
  });

  it('remembers what passed, but still refuses a bad path after a good one in the same directory', () => {
    const check = realDirs(`${root}/`);
    expect(check(Buffer.from('a/b/one'))).toBe(-1);
    expect(check(Buffer.from('a/b/two'))).toBe(-1);
    expect(check(Buffer.from('a/link/three'))).toBe('a/link'.length);
    expect(check(new Uint8Array(Buffer.from('a/b/four')))).toBe(-1);
  });
});
