// Token buckets per source: burst, refill, independence of sources, bounded memory.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/core/rate-limit.js';

describe('createRateLimiter', () => {
  it('allows a burst, then refills at the given rate', () => {
    const rl = createRateLimiter({ burst: 3, perSecond: 2, maxKeys: 10 });
    expect([1, 2, 3, 4].map(() => rl.take('a', 0))).toEqual([true, true, true, false]);
    expect(rl.take('a', 400)).toBe(false);
    expect(rl.take('a', 500)).toBe(true);
    expect(rl.take('a', 500)).toBe(false);
    expect(rl.take('a', 10_000, 3)).toBe(true);
    expect(rl.take('a', 10_000)).toBe(false);
  });

  it('keeps sources apart', () => {
    const rl = createRateLimiter({ burst: 1, perSecond: 1, maxKeys: 10 });
    expect(rl.take('a', 0)).toBe(true);
    expect(rl.take('a', 0)).toBe(false);
    expect(rl.take('b', 0)).toBe(true);
  });

  it('a cost above the burst never passes and spends nothing', () => {
    const rl = createRateLimiter({ burst: 2, perSecond: 1, maxKeys: 10 });
    expect(rl.take('a', 0, 3)).toBe(false);
    expect(rl.take('a', 0, 2)).toBe(true);
  });

  it('time going backwards does not mint tokens', () => {
    const rl = createRateLimiter({ burst: 1, perSecond: 1, maxKeys: 10 });
    expect(rl.take('a', 5000)).toBe(true);
    expect(rl.take('a', 0)).toBe(false);
    expect(rl.take('a', 5500)).toBe(false);
    expect(rl.take('a', 6000)).toBe(true);
  });

  it('rejects nonsense options', () => {
    expect(() => createRateLimiter({ burst: 0, perSecond: 1, maxKeys: 1 })).toThrow(RangeError);
  });

  it('never grants more than burst + rate × time to one source, and remembers at most maxKeys', () => {
    const op = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), dt: fc.integer({ min: 0, max: 700 }), cost: fc.integer({ min: 1, max: 3 }) });
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 20 }), fc.array(op, { maxLength: 200 }), (burst, perSecond, ops) => {
      const rl = createRateLimiter({ burst, perSecond, maxKeys: 1000 });
      let now = 0;
      const spent = new Map<string, number>();
      for (const o of ops) {
        now += o.dt;
        if (rl.take(o.key, now, o.cost)) spent.set(o.key, (spent.get(o.key) ?? 0) + o.cost);
      }
      for (const s of spent.values()) expect(s).toBeLessThanOrEqual(burst + (perSecond * now) / 1000 + 1e-9);
    }));
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 100 }), (maxKeys, keys) => {
      const rl = createRateLimiter({ burst: 1, perSecond: 1, maxKeys });
      for (const k of keys) {
        rl.take(k, 0);
        expect(rl.size).toBeLessThanOrEqual(maxKeys);
      }
    }));
  });
});
