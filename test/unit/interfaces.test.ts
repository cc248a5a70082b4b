// Which interfaces discovery uses: skip patterns, loopback and virtual interfaces left out,
// directed broadcasts, IPv6 interfaces, the local address on a source's subnet, change signatures.
import { describe, expect, it } from 'vitest';
import {
  broadcastTargets,
  DEFAULT_SKIP_IFACES,
  directedBroadcast,
  discoveryInterfaces,
  ifaceMatcher,
  type InterfaceAddress,
  interfacesSignature,
  ipv6Interfaces,
  localAddressFor,
} from '../../src/core/interfaces.js';

const v4 = (address: string, netmask: string, internal = false): InterfaceAddress => ({ address, netmask, family: 'IPv4', internal });
const v6 = (address: string, scopeid = 2): InterfaceAddress => ({ address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', internal: false, scopeid });

const TABLE = {
  lo: [v4('127.0.0.1', '255.0.0.0', true), { ...v6('::1', 0), internal: true }],
  eth0: [v4('10.77.1.2', '255.255.255.0'), v6('fe80::1')],
  docker0: [v4('172.17.0.1', '255.255.0.0'), v6('fe80::42')],
  'br-1a2b': [v4('172.18.0.1', '255.255.0.0')],
  veth9: [v6('fe80::9')],
  wlan0: [v6('fe80::5'), v6('fd00::5')],
  tun0: [v4('10.8.0.2', '255.255.255.255')],
  vEthernet1: [v4('172.30.0.1', '255.255.240.0')],
};

describe('ifaceMatcher', () => {
  it('matches whole names, * standing for anything, other characters literally', () => {
    const m = ifaceMatcher(['docker*', 'eth1', 'a.b']);
    expect(['docker0', 'docker', 'eth1', 'a.b'].map(m)).toEqual([true, true, true, true]);
    expect(['xdocker0', 'eth10', 'aXb', 'eth0'].map(m)).toEqual([false, false, false, false]);
    expect(ifaceMatcher(['*'])('anything')).toBe(true);
  });
});

describe('discoveryInterfaces', () => {
  it('leaves out loopback and the default virtual interfaces', () => {
    expect(discoveryInterfaces(TABLE).map((i) => i.name)).toEqual(['eth0', 'wlan0']);
  });

  it('leaves out extra patterns too, and keeps what the defaults would skip when given a list without them', () => {
    expect(discoveryInterfaces(TABLE, [...DEFAULT_SKIP_IFACES, 'wlan*']).map((i) => i.name)).toEqual(['eth0']);
    expect(discoveryInterfaces(TABLE, []).map((i) => i.name)).toEqual(['eth0', 'docker0', 'br-1a2b', 'veth9', 'wlan0', 'tun0', 'vEthernet1']);
  });

  it('gives each IPv4 subnet its directed broadcast (none for /31 and /32)', () => {
    const [eth0] = discoveryInterfaces(TABLE);
    expect(eth0!.ipv4).toEqual([{ address: '10.77.1.2', netmask: '255.255.255.0', broadcast: '10.77.1.255' }]);
    expect(directedBroadcast('10.8.0.2', '255.255.255.255')).toBeUndefined();
    expect(directedBroadcast('10.9.0.0', '255.255.255.254')).toBeUndefined();
    expect(directedBroadcast('192.168.3.7', '255.255.252.0')).toBe('192.168.3.255');
  });

  it('yields the broadcast targets and the interfaces with IPv6 (an IPv6-only one included)', () => {
    const ifaces = discoveryInterfaces(TABLE);
    expect(broadcastTargets(ifaces)).toEqual(['10.77.1.255', '255.255.255.255']);
    expect(ipv6Interfaces(ifaces)).toEqual(['eth0', 'wlan0']);
  });
});

describe('localAddressFor', () => {
  const ifaces = discoveryInterfaces({ ...TABLE, eth1: [v4('192.168.5.9', '255.255.255.0')] });
  it('finds our address on the source’s subnet, IPv4-mapped sources too', () => {
    expect(localAddressFor(ifaces, '10.77.1.40')).toEqual({ iface: 'eth0', address: '10.77.1.2' });
    expect(localAddressFor(ifaces, '::ffff:192.168.5.1')).toEqual({ iface: 'eth1', address: '192.168.5.9' });
  });
  it('finds nothing for sources on skipped or no links', () => {
    expect(localAddressFor(ifaces, '172.17.0.2')).toBeUndefined();
    expect(localAddressFor(ifaces, '8.8.8.8')).toBeUndefined();
    expect(localAddressFor(ifaces, 'fe80::1%eth0')).toBeUndefined();
  });
});

describe('interfacesSignature', () => {
  it('changes when an address or interface comes or goes, not with the order', () => {
    const a = discoveryInterfaces(TABLE);
    const reordered = discoveryInterfaces({ wlan0: TABLE.wlan0, eth0: TABLE.eth0 });
    expect(interfacesSignature(reordered)).toBe(interfacesSignature(a));
    const more = discoveryInterfaces({ ...TABLE, eth0: [...TABLE.eth0, v4('10.77.2.2', '255.255.255.0')] });
    expect(interfacesSignature(more)).not.toBe(interfacesSignature(a));
    expect(interfacesSignature(discoveryInterfaces({ ...TABLE, wlan0: [] }))).not.toBe(interfacesSignature(a));
  });
});
