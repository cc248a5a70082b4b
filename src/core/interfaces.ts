// Which network interfaces discovery uses, as pure logic over an interface table shaped like
// os.networkInterfaces(): up, non-loopback interfaces that are not virtual (container bridges,
// veth pairs, VPN tunnels, or a user-given list), with the directed broadcast address of each
// IPv4 subnet and whether the interface has IPv6 (for the link-local multicast query).

/** One address of an interface (the fields of os.NetworkInterfaceInfo that discovery reads). */
export interface InterfaceAddress {
  readonly address: string;
  readonly netmask: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly internal: boolean;
  readonly scopeid?: number;
}

export type InterfaceTable = Readonly<Record<string, readonly InterfaceAddress[] | undefined>>;

/** Interface names skipped by default: container and VM bridges, veth pairs, VPN tunnels. */
export const DEFAULT_SKIP_IFACES: readonly string[] = ['docker*', 'br-*', 'veth*', 'virbr*', 'cni*', 'tun*', 'wg*', 'vEthernet*'];

export interface Ipv4Subnet {
  readonly address: string;
  readonly netmask: string;
  /** The directed broadcast address; undefined for /31 and /32 (point-to-point). */
  readonly broadcast?: string;
}

export interface DiscoveryInterface {
  readonly name: string;
  readonly ipv4: readonly Ipv4Subnet[];
  /** IPv6 addresses (link-local ones carry their zone in `scopeid`). */
  readonly ipv6: readonly { address: string; netmask: string }[];
}

/** `docker*`-style patterns (only `*` is special) → a test for interface names. */
export function ifaceMatcher(patterns: readonly string[]): (name: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  return (name) => res.some((r) => r.test(name));
}

export function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** address | ~netmask, or undefined for /31 and /32, which have no broadcast address. */
export function directedBroadcast(address: string, netmask: string): string | undefined {
  const mask = ipv4ToInt(netmask);
  if (mask >>> 0 >= 0xfffffffe) return undefined;
  return intToIpv4((ipv4ToInt(address) | ~mask) >>> 0);
}

/**
 * The interfaces discovery uses: not internal (loopback), not matching `skip` (default
 * DEFAULT_SKIP_IFACES), with at least one address. os.networkInterfaces() lists only interfaces
 * that are up and running, so down ones never appear.
 */
export function discoveryInterfaces(table: InterfaceTable, skip: readonly string[] = DEFAULT_SKIP_IFACES): DiscoveryInterface[] {
  const skipped = ifaceMatcher(skip);
  const out: DiscoveryInterface[] = [];
  for (const [name, infos] of Object.entries(table)) {
    if (skipped(name)) continue;
    const usable = (infos ?? []).filter((i) => !i.internal);
    const ipv4 = usable
      .filter((i) => i.family === 'IPv4')
      .map((i) => ({ address: i.address, netmask: i.netmask, broadcast: directedBroadcast(i.address, i.netmask) }));
    const ipv6 = usable.filter((i) => i.family === 'IPv6').map((i) => ({ address: i.address, netmask: i.netmask }));
    if (ipv4.length || ipv6.length) out.push({ name, ipv4, ipv6 });
  }
  return out;
}

/** The directed broadcast addresses of these interfaces, each once, plus 255.255.255.255. */
export function broadcastTargets(ifaces: readonly DiscoveryInterface[]): string[] {
  const out = new Set<string>();
  for (const i of ifaces) for (const s of i.ipv4) if (s.broadcast) out.add(s.broadcast);
  out.add('255.255.255.255');
  return [...out];
}

/** Interfaces with an IPv6 address: where the link-local multicast query goes. */
export function ipv6Interfaces(ifaces: readonly DiscoveryInterface[]): string[] {
  return ifaces.filter((i) => i.ipv6.length > 0).map((i) => i.name);
}

/** The IPv4 address of ours that is on the same subnet as `source`, and its interface (undefined when none is). */
export function localAddressFor(ifaces: readonly DiscoveryInterface[], source: string): { iface: string; address: string } | undefined {
  const plain = source.startsWith('::ffff:') ? source.slice(7) : source;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(plain)) return undefined;
  const src = ipv4ToInt(plain);
  for (const i of ifaces)
    for (const s of i.ipv4) {
      const mask = ipv4ToInt(s.netmask);
      if (((src ^ ipv4ToInt(s.address)) & mask) >>> 0 === 0) return { iface: i.name, address: s.address };
    }
  return undefined;
}

/** A short stable text of which interfaces and addresses there are, to notice changes. */
export function interfacesSignature(ifaces: readonly DiscoveryInterface[]): string {
  return ifaces
    .map((i) => `${i.name}=${[...i.ipv4.map((s) => `${s.address}/${s.netmask}`), ...i.ipv6.map((a) => a.address)].sort().join(',')}`)
    .sort()
    .join(' ');
}
