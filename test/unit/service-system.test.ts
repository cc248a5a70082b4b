// The system facts of `0share service`: whether another user can reach a file (the service user
// must read node and the CLI), and the shipped unit template being found from the code.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unitTemplate, unreadableByOthers } from '../../src/io/service-system.js';

const root = mkdtempSync(join(tmpdir(), '0share-svc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('unreadableByOthers', () => {
  it('names the first directory others cannot enter, or the file they cannot read', () => {
    chmodSync(root, 0o755);
    const open = join(root, 'open');
    mkdirSync(join(open, 'deep'), { recursive: true, mode: 0o755 });
    const file = join(open, 'deep', 'cli.js');
    writeFileSync(file, '', { mode: 0o644 });
    expect(unreadableByOthers(file)).toBeUndefined();

    chmodSync(file, 0o600);
    expect(unreadableByOthers(file)).toBe(file);
    chmodSync(file, 0o644);
    chmodSync(join(open, 'deep'), 0o750);
    expect(unreadableByOthers(file)).toBe(join(open, 'deep'));
    chmodSync(join(open, 'deep'), 0o755);
    chmodSync(root, 0o700);
    expect(unreadableByOthers(file)).toBe(root);
  });
});

describe('unitTemplate', () => {
  it('is the shipped systemd/0share.service', () => {
    expect(unitTemplate()).toMatch(/^ExecStart=0share serve$/m);
  });
});
