// MachineIds: which answering addresses are one machine, from the instance ids they claimed.
// An IPv4 and an IPv6 address claiming one id are one machine; an address that claims a second id
// has none; a second address of one family claiming an id (a copied id, or two interfaces) makes
// every claimant its own machine again, so a lie can split what was joined but never hide a host.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MachineIds } from '../../src/core/same-machine.js';

const V4 = '10.0.0.2:38339';
const V6 = '[fe80::2%eth0]:38339';
const X = '0123456789abcdef';
const Y = 'fedcba9876543210';

describe('MachineIds', () => {
  it('an address with no id is its own machine', () => {
    const m = new MachineIds();
    expect(m.known(V4)).toBe(false);
    expect(m.machineOf(V4)).toBe(V4);
    expect(m.same(V4, V6)).toBe(false);
    expect(m.same(V4, V4)).toBe(true);
  });

  it('joins the IPv4 and IPv6 address that claim one id; a repeated claim changes nothing', () => {
    const m = new MachineIds();
    expect(m.claim(V4, X)).toBe(true);
    expect(m.claim(V6, X)).toBe(true);
    expect(m.claim(V6, X)).toBe(false);
    expect(m.same(V4, V6)).toBe(true);
    expect(m.machineOf(V4)).toBe(`#${X}`);
  });

  it('an address that claims a second id has none, for good', () => {
    const m = new MachineIds();
    m.claim(V4, X);
    m.claim(V6, X);
    expect(m.claim(V6, Y)).toBe(true);
    expect(m.same(V4, V6)).toBe(false);
    expect(m.machineOf(V6)).toBe(V6);
    expect(m.claim(V6, X)).toBe(false);
    expect(m.same(V4, V6)).toBe(false);
    expect(m.known(V6)).toBe(true);
  });

  it('a second address of one family claiming the id makes each claimant its own machine', () => {
    const m = new MachineIds();
    m.claim(V4, X);
    m.claim(V6, X);
    m.claim('10.0.0.66:38339', X); // a liar copying the id, or a second interface
    expect(m.same(V4, V6)).toBe(false);
    expect(m.same(V4, '10.0.0.66:38339')).toBe(false);
    const n = new MachineIds();
    n.claim(V4, X);
    n.claim(V6, X);
    n.claim('[fe80::66%eth0]:38339', X);
    expect(n.same(V4, V6)).toBe(false);
  });

  it('another port of the same address is another claimant', () => {
    const m = new MachineIds();
    m.claim(V4, X);
    m.claim('10.0.0.2:4000', X);
    expect(m.same(V4, '10.0.0.2:4000')).toBe(false);
  });

  // Whatever anyone claims, in any order, an address never shares its machine with another
  // address of its own family: so a host with an IPv4 address always keeps that one in the swarm.
  it('never joins two addresses of one family (property)', () => {
    const address = fc.oneof(
      fc.integer({ min: 1, max: 4 }).map((i) => `10.0.0.${i}:38339`),
      fc.integer({ min: 1, max: 4 }).map((i) => `[fe80::${i}%eth0]:38339`),
    );
    const id = fc.constantFrom(X, Y, '00000000000000aa');
    fc.assert(
      fc.property(fc.array(fc.tuple(address, id), { maxLength: 20 }), fc.array(address, { minLength: 2, maxLength: 2 }), (claims, [a, b]) => {
        const m = new MachineIds();
        for (const [addr, i] of claims) m.claim(addr, i);
        if (a !== b && a!.startsWith('[') === b!.startsWith('[')) expect(m.same(a!, b!)).toBe(false);
      }),
    );
  });
});
