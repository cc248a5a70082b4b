// The local peer's memory of this machine's fetches: one record per fetch id, the latest per
// digest, the fetches in progress for the status page, and the bytes received since start.
import { describe, expect, it } from 'vitest';
import { newRecord, recordEvent } from '../../src/core/fetch-record.js';
import { LocalFetches } from '../../src/io/local-fetches.js';

const D = `sha1new=${'a'.repeat(40)}`;

describe('LocalFetches', () => {
  it('keeps the latest record of each fetch, finds the latest fetch of a digest, counts received bytes once', () => {
    const f = new LocalFetches();
    const a = newRecord('a', D, 1000);
    const a1 = recordEvent(recordEvent(a, { type: 'connecting', peer: 'p:1' }, 1001), { type: 'progress', peer: 'p:1', bytes: 500, expected: 2000 }, 1002);
    f.put(a1);
    expect(f.inProgress(2000)).toEqual([{ digest: D, name: undefined, state: 'transferring', peer: 'p:1', bytes: 500, expected: 2000, updatedAt: 1002 }]);
    const a2 = recordEvent(a1, { type: 'done', status: 'committed', peer: 'p:1', bytes: 2100 }, 1003);
    f.put(a2);
    expect(f.bytesReceived).toBe(2100);
    expect(f.inProgress(2000)).toEqual([]);
    f.put(newRecord('b', D, 5000));
    expect(f.latest(D)?.id).toBe('b');
    expect(f.latest(`sha1new=${'b'.repeat(40)}`)).toBeUndefined();
    // A fetch whose process went quiet for a minute is no longer shown as in progress.
    expect(f.inProgress(5000 + 59_999)).toHaveLength(1);
    expect(f.inProgress(5000 + 60_000)).toHaveLength(0);
  });

  it('an id stays with its digest', () => {
    const f = new LocalFetches();
    f.put(newRecord('a', D, 1));
    f.put({ ...newRecord('a', `sha1new=${'c'.repeat(40)}`, 2), bytes: 99 });
    expect(f.latest(`sha1new=${'c'.repeat(40)}`)).toBeUndefined();
    expect(f.bytesReceived).toBe(0);
  });
});
