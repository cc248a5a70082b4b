// The fetching side's partial dir (src/io/partial-dir.ts): takePartial says whether this fetch
// created the dir (nothing in it to keep, so keepVerified is skipped) or found one an earlier
// fetch left (its verified files are sorted and kept); a live owner's dir is not taken.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/core/digest.js';
import { takePartial } from '../../src/io/partial-dir.js';
import { tempDir } from '../helpers/trees.js';

const digest: Digest = { alg: 'sha256new', value: 'A'.repeat(52) };
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('takePartial', () => {
  it('is fresh when it creates the dir, not when an earlier fetch left one (its lock released or its owner dead)', async () => {
    const store = join(dir, 'store');
    const first = await takePartial(store, digest);
    expect(first).toMatchObject({ fresh: true });
    expect(await takePartial(store, digest)).toBeUndefined();
    await first!.release();
    const second = await takePartial(store, digest);
    expect(second).toMatchObject({ fresh: false });
    await second!.release();
    // A lock whose process is gone is taken over: the dir is the dead fetch's, not fresh.
    writeFileSync(`${first!.dir}.lock`, '999999999');
    const again = await takePartial(store, digest);
    expect(again).toMatchObject({ fresh: false });
    await again!.release();
    expect(existsSync(`${first!.dir}.lock`)).toBe(false);
  });
});
