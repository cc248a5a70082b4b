// The have bitmap (core/have-bitmap.ts): any set of indexes round-trips, the layout is the
// documented one (file 0 in the high bit of byte 0), setBit/hasBit edit it as a set, and wrong
// lengths or spare bits are refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeHave, encodeHave, hasBit, haveBytes, setBit } from '../../src/core/have-bitmap.js';

describe('have bitmap', () => {
  it('round-trips any set of files', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }).chain((n) => fc.tuple(fc.constant(n), fc.uniqueArray(fc.nat({ max: Math.max(0, n - 1) }), { maxLength: n }))), ([n, set]) => {
        const has = new Set(n ? set : []);
        const body = encodeHave(n, (i) => has.has(i));
        expect(body.length).toBe(haveBytes(n));
        expect(decodeHave(body, n)).toEqual(has);
      }),
    );
  });

  it('setBit and hasBit edit a bitmap in place as a set: the result decodes to the set', () => {
    const ops = fc.array(fc.tuple(fc.nat({ max: 99 }), fc.boolean()), { maxLength: 300 });
    fc.assert(
      fc.property(ops, (list) => {
        const bits = Buffer.alloc(haveBytes(100));
        const model = new Set<number>();
        for (const [i, on] of list) {
          setBit(bits, i, on);
          if (on) model.add(i);
          else model.delete(i);
          expect(hasBit(bits, i)).toBe(on);
        }
        expect(decodeHave(bits, 100)).toEqual(model);
      }),
    );
  });

  it('puts file 0 in the high bit of the first byte', () => {
    expect([...encodeHave(10, (i) => i === 0 || i === 9)]).toEqual([0x80, 0x40]);
    expect(encodeHave(0, () => true).length).toBe(0);
  });

  it('refuses a body of the wrong length or with spare bits set', () => {
    expect(decodeHave(Buffer.alloc(1), 9)).toBeInstanceOf(Error);
    expect(String(decodeHave(Buffer.alloc(3), 9))).toContain('3 bytes, where 9 files need 2');
    expect(String(decodeHave(Buffer.from([0, 0x01]), 9))).toContain('past the last file');
    expect(decodeHave(Buffer.from([0, 0x80]), 9)).toEqual(new Set([8]));
  });
});
