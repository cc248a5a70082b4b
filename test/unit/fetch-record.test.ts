// The fetch record behind `0share why`: built from fetch events (who was asked, who answered,
// each transfer and why it failed, where the bytes came from), checked when posted, explained.
import { describe, expect, it } from 'vitest';
import { explainFetch, newRecord, parseFetchRecord, RECORD_LIMITS, RecordError, recordEvent, type RecordEvent } from '../../src/core/fetch-record.js';

const D = `sha256new_${'A'.repeat(52)}`;

function replay(events: RecordEvent[]) {
  let r = newRecord('id1', D, 1000, 'http://example.com/prog.xml');
  events.forEach((e, i) => (r = recordEvent(r, e, 1001 + i)));
  return r;
}

const LIAR_THEN_HONEST: RecordEvent[] = [
  { type: 'asked', targets: ['10.0.0.255:38339 (broadcast)'] },
  { type: 'reply', peer: '10.0.0.6:38339', via: 'broadcast' },
  { type: 'reply', peer: '10.0.0.5:38339', via: 'broadcast' },
  { type: 'reply', peer: '10.0.0.6:38339', via: 'broadcast' },
  { type: 'connecting', peer: '10.0.0.6:38339' },
  { type: 'progress', peer: '10.0.0.6:38339', bytes: 300, expected: 1000 },
  { type: 'peer-failed', peer: '10.0.0.6:38339', reason: '10.0.0.6 sent data that does not match the digest' },
  { type: 'connecting', peer: '10.0.0.5:38339' },
  { type: 'progress', peer: '10.0.0.5:38339', bytes: 600, expected: 1000 },
  { type: 'done', status: 'committed', peer: '10.0.0.5:38339', bytes: 1100, path: '/store/x' },
];

describe('recordEvent', () => {
  it('keeps who was asked, who answered (once each), each transfer and where the bytes came from', () => {
    const r = replay(LIAR_THEN_HONEST);
    expect(r.state).toBe('committed');
    expect(r.asked).toEqual(['10.0.0.255:38339 (broadcast)']);
    expect(r.answered.map((a) => a.peer)).toEqual(['10.0.0.6:38339', '10.0.0.5:38339']);
    expect(r.attempts).toEqual([
      { peer: '10.0.0.6:38339', outcome: 'failed', reason: '10.0.0.6 sent data that does not match the digest', bytes: 300, expected: 1000 },
      { peer: '10.0.0.5:38339', outcome: 'succeeded', bytes: 1100, expected: 1000 },
    ]);
    expect(r.source).toBe('10.0.0.5:38339');
    expect(r.bytes).toBe(1400);
    expect(r.updatedAt).toBe(1000 + LIAR_THEN_HONEST.length);
  });

  it("lists a machine once: its other addresses that answered go under the address it answered from first", () => {
    const r = replay([
      { type: 'reply', peer: '10.0.0.6:38339', via: 'broadcast' },
      { type: 'reply', peer: '[fe80::6%eth0]:38339', via: 'multicast', sameAs: '10.0.0.6:38339' },
      { type: 'reply', peer: '[fe80::6%eth0]:38339', via: 'multicast', sameAs: '10.0.0.6:38339' },
      { type: 'reply', peer: '10.0.0.5:38339', via: 'broadcast' },
      { type: 'reply', peer: '[fe80::7%eth0]:38339', via: 'multicast', sameAs: '10.0.0.7:38339' }, // its first address unknown here: listed on its own
    ]);
    expect(r.answered.map((a) => [a.peer, a.also])).toEqual([
      ['10.0.0.6:38339', ['[fe80::6%eth0]:38339']],
      ['10.0.0.5:38339', undefined],
      ['[fe80::7%eth0]:38339', undefined],
    ]);
    expect(parseFetchRecord(JSON.parse(JSON.stringify(r)))).toEqual(JSON.parse(JSON.stringify(r)));
    expect(explainFetch(r).join('\n')).toContain('answered: 10.0.0.6:38339 (found by broadcast; also at [fe80::6%eth0]:38339)');
    expect(() => parseFetchRecord({ ...JSON.parse(JSON.stringify(r)), answered: [{ peer: 'p', at: 1, also: 'q' }] })).toThrow(RecordError);
  });

  it('a fetch in progress, and one where every peer failed', () => {
    expect(replay(LIAR_THEN_HONEST.slice(0, 9))).toMatchObject({ state: 'transferring', bytes: 900 });
    const failed = replay([...LIAR_THEN_HONEST.slice(0, 7), { type: 'done', status: 'failed', bytes: 300, failure: 'every peer that offered it failed' }]);
    expect(failed).toMatchObject({ state: 'failed', failure: 'every peer that offered it failed', source: undefined });
  });
});

describe('parseFetchRecord', () => {
  it('accepts what recordEvent builds, through JSON', () => {
    const r = replay(LIAR_THEN_HONEST);
    expect(parseFetchRecord(JSON.parse(JSON.stringify(r)))).toEqual(JSON.parse(JSON.stringify(r)));
  });

  it('drops unknown fields, refuses wrong types, bad digests, long texts and long lists', () => {
    const good = JSON.parse(JSON.stringify(replay(LIAR_THEN_HONEST))) as Record<string, unknown>;
    expect(parseFetchRecord({ ...good, extra: '<script>' })).not.toHaveProperty('extra');
    const bad: Record<string, unknown>[] = [
      { ...good, digest: '../etc' },
      { ...good, state: 'hacked' },
      { ...good, bytes: -1 },
      { ...good, bytes: '12' },
      { ...good, name: 'x'.repeat(RECORD_LIMITS.text + 1) },
      { ...good, asked: Array(RECORD_LIMITS.list + 1).fill('a') },
      { ...good, attempts: [{ peer: 'p', outcome: 'succeeded' }] },
      { ...good, answered: 'nobody' },
    ];
    for (const b of bad) expect(() => parseFetchRecord(b), JSON.stringify(b).slice(0, 80)).toThrow(RecordError);
    for (const b of [null, [], 'x', 1]) expect(() => parseFetchRecord(b)).toThrow(RecordError);
  });
});

describe('explainFetch', () => {
  it('names the liar and the reason, and where the bytes came from', () => {
    const text = explainFetch(replay(LIAR_THEN_HONEST)).join('\n');
    expect(text).toContain(`${D} (http://example.com/prog.xml): fetched at 1970-01-01 00:00:01 UTC; fetched and verified`);
    expect(text).toContain('asked: 10.0.0.255:38339 (broadcast)');
    expect(text).toContain('answered: 10.0.0.6:38339 (found by broadcast)');
    expect(text).toContain('transfer from 10.0.0.6:38339: failed: 10.0.0.6 sent data that does not match the digest (300 of 1000 bytes)');
    expect(text).toContain('transfer from 10.0.0.5:38339: sent it (1100 of 1000 bytes)');
    expect(text).toContain('the bytes came from 10.0.0.5:38339; stored in /store/x');
  });
  it('says when nobody answered', () => {
    const text = explainFetch(replay([{ type: 'asked', targets: ['10.0.0.9:38339'] }, { type: 'done', status: 'failed', bytes: 0, failure: 'no peer answered' }])).join('\n');
    expect(text).toContain('failed (no peer answered)');
    expect(text).toContain('answered: nobody');
  });
});
