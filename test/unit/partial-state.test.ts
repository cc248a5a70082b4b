// The fetch's state file (src/io/partial-state.ts): written at once with nothing in it, then the
// files verified and those being fetched (a file asked for in two ranges stays "fetching" until
// both attempts end, and stops being so once verified), always the two bitmaps' size; a state
// file that cannot be written is only skipped.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeHave } from '../../src/core/have-bitmap.js';
import { openPartialState } from '../../src/io/partial-state.js';
import { tempDir } from '../helpers/trees.js';

const tmp = tempDir('0share-partial-state-');
afterAll(() => tmp.cleanup());

const FILES = 12;
const read = (dir: string) => {
  const b = readFileSync(`${dir}.have`);
  expect(b.length).toBe(4);
  const sorted = (x: Set<number> | Error) => (x instanceof Error ? x.message : [...x].sort((p, q) => p - q));
  return { verified: sorted(decodeHave(b.subarray(0, 2), FILES)), fetching: sorted(decodeHave(b.subarray(2), FILES)) };
};

describe('openPartialState', () => {
  it('says what is verified and what is being fetched', () => {
    const dir = join(tmp.dir, 'tmp-partial-x');
    const state = openPartialState(dir, FILES);
    expect(read(dir)).toEqual({ verified: [], fetching: [] });
    state.verified(11);
    state.fetching([3, 3, 9], true);
    state.fetching([0], true);
    state.close();
    expect(read(dir)).toEqual({ verified: [11], fetching: [0, 3, 9] });
  });

  it('a file is being fetched until every attempt at it ended, or it is verified', () => {
    const dir = join(tmp.dir, 'tmp-partial-y');
    const state = openPartialState(dir, FILES);
    state.fetching([4], true);
    state.fetching([4, 5], true);
    state.fetching([4], false);
    state.fetching([5], false);
    state.fetching([6], true);
    state.verified(6);
    state.close();
    expect(read(dir)).toEqual({ verified: [6], fetching: [4] });
  });

  it('skips a state file it cannot write (here: its directory is gone), writing nothing', () => {
    const gone = join(tmp.dir, 'gone');
    const state = openPartialState(join(gone, 'tmp-partial-z'), FILES);
    state.verified(1);
    state.fetching([2], true);
    expect(() => state.close()).not.toThrow();
    expect(existsSync(gone)).toBe(false);
  });
});
