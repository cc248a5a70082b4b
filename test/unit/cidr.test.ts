// --allow ranges: parsing, the default allow list, IPv4-mapped IPv6 sources.
import { describe, expect, it } from 'vitest';
import { allowList, CidrError, DEFAULT_ALLOW, isLoopback, parseAddress, parseCidr } from '../../src/core/cidr.js';

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);

describe('parseAddress', () => {
  it('maps IPv4 into ::ffff:0:0/96', () => {
    expect(hex(parseAddress('192.168.1.2'))).toBe('00000000000000000000ffffc0a80102');
    expect(hex(parseAddress('::ffff:192.168.1.2'))).toBe(hex(parseAddress('192.168.1.2')));
    expect(hex(parseAddress('::ffff:c0a8:102'))).toBe(hex(parseAddress('192.168.1.2')));
  });
  it('parses IPv6 forms and ignores a zone index', () => {
    expect(hex(parseAddress('::1'))).toBe('00000000000000000000000000000001');
    expect(hex(parseAddress('::'))).toBe('00000000000000000000000000000000');
    expect(hex(parseAddress('fe80::1%eth0'))).toBe('fe800000000000000000000000000001');
    expect(hex(parseAddress('1:2:3:4:5:6:7:8'))).toBe('00010002000300040005000600070008');
    expect(hex(parseAddress('1::'))).toBe('00010000000000000000000000000000');
    expect(hex(parseAddress('64:ff9b::10.0.0.1'))).toBe('0064ff9b00000000000000000a000001');
  });
  it('refuses what is not an address', () => {
    for (const s of ['', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '1:2:3:4:5:6:7::8', '::1.2.3']) {
      expect(parseAddress(s), s).toBeUndefined();
    }
  });
});

describe('parseCidr', () => {
  it('accepts ranges and single hosts', () => {
    expect(parseCidr('10.0.0.0/8').prefix).toBe(104);
    expect(parseCidr('10.1.2.3').prefix).toBe(128);
    expect(parseCidr('fd00::/8').prefix).toBe(8);
    expect(parseCidr('0.0.0.0/0').prefix).toBe(96);
    expect(parseCidr('::/0').prefix).toBe(0);
  });
  it('clears host bits', () => {
    expect(hex(parseCidr('192.168.1.77/24').bytes)).toBe(hex(parseAddress('192.168.1.0')));
  });
  it('says what is wrong', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/bad prefix length: expected \/0 to \/32/);
    expect(() => parseCidr('fd00::/129')).toThrow(/\/0 to \/128/);
    expect(() => parseCidr('10.0.0.0/')).toThrow(CidrError);
    expect(() => parseCidr('10.0.0.0/08')).toThrow(CidrError);
    expect(() => parseCidr('lan')).toThrow(/'lan' is not an address range/);
    expect(() => parseCidr('fe80::1%eth0/64')).toThrow(CidrError);
  });
});

describe('allowList', () => {
  const allowed = allowList(DEFAULT_ALLOW.map(parseCidr));
  it('admits private, link-local and loopback sources by default', () => {
    for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.9', '169.254.3.4', '127.0.0.1', '127.9.9.9', '::1', 'fe80::1%eth0', 'febf::1', 'fd12:3456::1', 'fc00::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1']) {
      expect(allowed(a), a).toBe(true);
    }
  });
  it('refuses public and unparsable sources by default', () => {
    for (const a of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '192.169.0.1', '11.0.0.1', '2001:db8::1', '::ffff:8.8.8.8', 'fec0::1', '::', '', 'nonsense']) {
      expect(allowed(a), a).toBe(false);
    }
  });
  it('an IPv4 range matches the IPv4-mapped form and an explicit list replaces the default', () => {
    const only = allowList([parseCidr('203.0.113.0/24')]);
    expect(only('203.0.113.5')).toBe(true);
    expect(only('::ffff:203.0.113.5')).toBe(true);
    expect(only('10.0.0.1')).toBe(false);
    expect(allowList([parseCidr('0.0.0.0/0')])('2001:db8::1')).toBe(false);
    expect(allowList([parseCidr('::/0')])('8.8.8.8')).toBe(true);
  });
});

describe('isLoopback', () => {
  it('127/8, ::1 and IPv4-mapped 127/8 only', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '::2', '0.0.0.0', '::ffff:10.0.0.1', '127.0.0.1.evil', 'fe80::1', ''].some(isLoopback)).toBe(false);
  });
});
