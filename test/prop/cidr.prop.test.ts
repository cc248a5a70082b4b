// Properties of address parsing and range matching, cross-checked against node:net.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowList, cidrContains, DEFAULT_ALLOW, parseAddress, parseCidr } from '../../src/core/cidr.js';

const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const fullForm = (b: Uint8Array) => Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');

describe('address parsing', () => {
  it('accepts exactly what node:net accepts', () => {
    const candidates = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4Extended(),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%'), maxLength: 45 }),
    );
    fc.assert(fc.property(candidates, (s) => {
      if (s.includes('%')) return; // zones: node checks their syntax, we drop them
      expect(parseAddress(s) !== undefined, s).toBe(isIP(s) !== 0);
    }), { numRuns: 3000 });
  });

  it('round-trips the full IPv6 form and agrees between IPv4 and IPv4-mapped forms', () => {
    fc.assert(fc.property(bytes16, (b) => {
      expect(parseAddress(fullForm(b))).toEqual(b);
    }));
    fc.assert(fc.property(fc.ipV4(), (v4) => {
      expect(parseAddress(`::ffff:${v4}`)).toEqual(parseAddress(v4));
    }));
  });
});

describe('range matching', () => {
  it('a range contains its base and exactly the addresses agreeing on the prefix', () => {
    fc.assert(fc.property(bytes16, fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 127 }), (b, prefix, bit) => {
      const cidr = parseCidr(`${fullForm(b)}/${prefix}`);
      expect(cidrContains(cidr, b)).toBe(true);
      const flipped = Uint8Array.from(b);
      flipped[bit >> 3]! ^= 0x80 >> (bit & 7);
      expect(cidrContains(cidr, flipped)).toBe(bit >= prefix);
    }));
  });

  it('an IPv4 range behaves like the same range on the mapped IPv6 form', () => {
    fc.assert(fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (net, addr, p) => {
      const v4 = cidrContains(parseCidr(`${net}/${p}`), parseAddress(addr)!);
      const v6 = cidrContains(parseCidr(`::ffff:${net}/${96 + p}`), parseAddress(addr)!);
      expect(v4).toBe(v6);
    }));
  });
});

describe('allowList', () => {
  it('answers a repeated address as it did the first time, past the number of answers it remembers', () => {
    const ranges = DEFAULT_ALLOW.map(parseCidr);
    const allowed = allowList(ranges);
    const fresh = (a: string) => {
      const addr = parseAddress(a);
      return addr !== undefined && ranges.some((r) => cidrContains(r, addr));
    };
    const addresses = fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('10.0.0.1', 'fe80::1%eth0', '8.8.8.8', 'nonsense')), { minLength: 1, maxLength: 3000 });
    fc.assert(fc.property(addresses, (list) => {
      for (const a of [...list, ...list]) expect(allowed(a), a).toBe(fresh(a));
    }), { numRuns: 20 });
  });
});
