// Address ranges for `--allow`: parses IPv4 and IPv6 addresses and CIDRs and matches source
// addresses against them. Every address is held as 16 bytes of IPv6 (IPv4 as ::ffff:a.b.c.d), so
// an IPv4 range also matches the IPv4-mapped form a dual-stack socket reports.

export class CidrError extends Error {
  override name = 'CidrError';
}

export interface Cidr {
  /** The network address, 16 bytes (IPv4 is mapped into ::ffff:0:0/96); host bits are zero. */
  readonly bytes: Uint8Array;
  /** Prefix length in the 128-bit space (an IPv4 /8 is 104). */
  readonly prefix: number;
  /** The range as the user would write it, for logs. */
  readonly text: string;
}

/** Who may query and download when no --allow is given: private, link-local and loopback. */
export const DEFAULT_ALLOW: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '127.0.0.0/8',
  '::1/128',
  'fe80::/10',
  'fc00::/7',
];

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    // Decimal only, no leading zeros (a leading zero means octal to some resolvers).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseGroups(s: string): number[] | undefined {
  if (s === '') return [];
  const out: number[] = [];
  for (const g of s.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

function parseIPv6(input: string): Uint8Array | undefined {
  let s = input;
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  if (s.includes('.')) {
    const lastColon = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!);
    const rest = parseGroups(halves[1]!);
    if (!head || !rest) return undefined;
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    const all = parseGroups(s);
    if (!all) return undefined;
    groups = all;
  }
  if (groups.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * An address as 16 bytes, or undefined when it is not an IPv4 or IPv6 address. A zone index
 * (`fe80::1%eth0`, as sockets report link-local sources) is ignored.
 */
export function parseAddress(s: string): Uint8Array | undefined {
  const v4 = parseIPv4(s);
  if (v4) return Uint8Array.from([...V4_MAPPED_PREFIX, ...v4]);
  if (!s.includes(':')) return undefined;
  const zone = s.indexOf('%');
  return parseIPv6(zone >= 0 ? s.slice(0, zone) : s);
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i]! &= (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/** Parses `a.b.c.d/n`, `x:y::z/n` or a bare address (a single host). Host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const isV4 = parseIPv4(addrText) !== undefined;
  const addr = addrText.includes('%') ? undefined : parseAddress(addrText);
  if (!addr) {
    throw new CidrError(`'${text}' is not an address range: expected an IPv4 or IPv6 CIDR such as 192.168.1.0/24 or fd00::/8`);
  }
  const max = isV4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
      throw new CidrError(`'${text}' has a bad prefix length: expected /0 to /${max}`);
    }
    bits = Number(p);
  }
  const prefix = isV4 ? 96 + bits : bits;
  return { bytes: mask(addr, prefix), prefix, text };
}

/** True when the address (16-byte form) lies inside the range. */
export function cidrContains(cidr: Cidr, addr: Uint8Array): boolean {
  const m = mask(addr, cidr.prefix);
  for (let i = 0; i < 16; i++) if (m[i] !== cidr.bytes[i]) return false;
  return true;
}

/** Answers an allow list remembers (a LAN's hosts ask again and again; spoofed sources are bounded by it). */
const REMEMBERED = 1024;

/**
 * A predicate for source addresses as sockets report them; unparsable addresses are refused. It
 * remembers its last answers by address text (forgetting them all once it holds REMEMBERED): every
 * datagram and connection asks it.
 */
export function allowList(ranges: readonly Cidr[]): (address: string) => boolean {
  const answers = new Map<string, boolean>();
  return (address) => {
    const known = answers.get(address);
    if (known !== undefined) return known;
    const addr = parseAddress(address);
    const ok = addr !== undefined && ranges.some((r) => cidrContains(r, addr));
    if (answers.size >= REMEMBERED) answers.clear();
    answers.set(address, ok);
    return ok;
  };
}

/** A loopback source: 127.0.0.0/8, ::1, or 127.x as an IPv4-mapped IPv6 address. */
export function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || address === '::1';
}
