// Upload admission: the total cap, a fair share per source while others wait or hold slots, and
// the byte-rate bucket of --max-upload-rate.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteRate } from '../../src/core/byte-rate.js';
import { UploadSlots } from '../../src/core/upload-slots.js';

const WAIT = 5000;

describe('UploadSlots', () => {
  it('a source alone may take every slot; the next is refused as full', () => {
    const s = new UploadSlots({ maxUploads: 4, waitingMs: WAIT });
    expect([1, 2, 3, 4].map(() => s.admit('a', 0).ok)).toEqual([true, true, true, true]);
    expect(s.admit('a', 0)).toEqual({ ok: false, reason: 'full' });
    expect(s.active).toBe(4);
  });

  it('once another source waits, a source at its share gets no more, and the waiting one gets the freed slot', () => {
    const s = new UploadSlots({ maxUploads: 4, waitingMs: WAIT });
    for (let i = 0; i < 4; i++) s.admit('a', 0);
    expect(s.admit('b', 10)).toEqual({ ok: false, reason: 'full' });
    expect(s.share('a', 20)).toBe(2);
    s.release('a');
    s.release('a');
    // a holds 2 = its share while b waits: refused although 2 slots are free.
    expect(s.admit('a', 30)).toEqual({ ok: false, reason: 'share' });
    expect(s.admit('b', 40).ok).toBe(true);
    s.release('a');
    // a is below its share again; b at it (2 of 4, a and b contending).
    expect(s.admit('b', 50).ok).toBe(true);
    expect(s.admit('b', 50)).toEqual({ ok: false, reason: 'share' });
    expect(s.admit('a', 60).ok).toBe(true);
  });

  it('a source holding a slot counts as a contender: a newcomer with eight requests gets its share only', () => {
    const s = new UploadSlots({ maxUploads: 4, waitingMs: WAIT });
    expect(s.admit('b', 0).ok).toBe(true);
    const a = Array.from({ length: 8 }, () => s.admit('a', 1));
    expect(a.filter((r) => r.ok)).toHaveLength(2);
    expect(a.slice(2)).toEqual(Array(6).fill({ ok: false, reason: 'share' }));
    expect(s.admit('b', 2).ok).toBe(true);
  });

  it('a waiting source stops counting after waitingMs', () => {
    const s = new UploadSlots({ maxUploads: 2, waitingMs: WAIT });
    s.admit('a', 0);
    s.admit('a', 0);
    s.admit('b', 0);
    s.release('a');
    expect(s.admit('a', WAIT - 1)).toEqual({ ok: false, reason: 'share' });
    expect(s.admit('a', WAIT).ok).toBe(true);
  });

  it('with --max-uploads 2 a third source is refused as full', () => {
    const s = new UploadSlots({ maxUploads: 2, waitingMs: WAIT });
    expect([s.admit('a', 0).ok, s.admit('b', 0).ok]).toEqual([true, true]);
    expect(s.admit('c', 0)).toEqual({ ok: false, reason: 'full' });
  });

  it('never exceeds the cap, never admits a source at its share, and releases exactly', () => {
    const op = fc.record({ source: fc.constantFrom('a', 'b', 'c', 'd'), release: fc.boolean(), dt: fc.nat(3000) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
        const s = new UploadSlots({ maxUploads: max, waitingMs: WAIT });
        const held = new Map<string, number>();
        let now = 0;
        for (const o of ops) {
          now += o.dt;
          if (o.release && (held.get(o.source) ?? 0) > 0) {
            s.release(o.source);
            held.set(o.source, held.get(o.source)! - 1);
            continue;
          }
          const share = s.share(o.source, now);
          const r = s.admit(o.source, now);
          if (r.ok) {
            expect(held.get(o.source) ?? 0).toBeLessThan(share);
            held.set(o.source, (held.get(o.source) ?? 0) + 1);
          }
          const total = [...held.values()].reduce((x, y) => x + y, 0);
          expect(total).toBe(s.active);
          expect(total).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});

describe('ByteRate', () => {
  it('sends at most burst + rate x elapsed bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 50_000_000 }), fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 100 }), (rate, chunks) => {
        const bucket = new ByteRate(rate, 64 * 1024);
        let t = 0;
        let sent = 0;
        for (const n of chunks) {
          t += bucket.spend(n, t);
          sent += n;
          expect(sent).toBeLessThanOrEqual(64 * 1024 + (rate * t) / 1000 + 1);
        }
      }),
    );
  });

  it('lets a burst through at once, then spaces the rest', () => {
    const bucket = new ByteRate(1024 * 1024, 64 * 1024);
    expect(bucket.spend(64 * 1024, 0)).toBe(0);
    expect(bucket.spend(512 * 1024, 0)).toBe(500);
    // Time that passes pays the debt back.
    expect(bucket.spend(0, 500)).toBe(0);
  });
});
