// Discovery targets: directed broadcast addresses from interface tables, -H HOST[:PORT]
// parsing and resolution, the test override, and the send-error messages with their advice;
// replies and partial replies from a fake peer on loopback, each on its own stream; the
// who-request sent before the query, and the instance ids heard making two addresses one machine.
import { describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import type { NetworkInterfaceInfo } from 'node:os';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { encodeIdAnswer, encodePartialReply, encodeReply, isWho } from '../../src/core/protocol.js';
import { DEFAULT_SKIP_IFACES } from '../../src/core/interfaces.js';
import { broadcastAddresses, discoveryTargets, DiscoveryError, openDiscovery, parseHostPort, sendErrorMessage } from '../../src/io/udp-discovery.js';
import { peerKey } from '../../src/machines/types.js';

function v4(address: string, netmask: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask, family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: null };
}

describe('broadcastAddresses', () => {
  it('computes each interface’s directed broadcast and adds 255.255.255.255', () => {
    const table = {
      lo: [v4('127.0.0.1', '255.0.0.0', true)],
      eth0: [v4('192.168.2.17', '255.255.255.0')],
      wlan0: [v4('10.1.2.3', '255.255.0.0'), { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: null, scopeid: 2 } as NetworkInterfaceInfo],
      v0a: [v4('10.77.0.2', '255.255.255.0')],
    };
    expect(broadcastAddresses(table)).toEqual(['192.168.2.255', '10.1.255.255', '10.77.0.255', '255.255.255.255']);
  });

  it('skips container and VM bridges, veth pairs, VPN tunnels, point-to-point addresses and duplicates', () => {
    const table = {
      docker0: [v4('172.17.0.1', '255.255.0.0')],
      virbr0: [v4('192.168.122.1', '255.255.255.0')],
      tun0: [v4('10.8.0.5', '255.255.255.255')],
      ptp: [v4('10.9.0.0', '255.255.255.254')],
      veth12: [v4('10.0.4.1', '255.255.255.0')],
      'br-x': [v4('10.0.5.2', '255.255.255.0')],
      wg0: [v4('10.0.6.2', '255.255.255.0')],
      eth0: [v4('10.0.3.1', '255.255.255.0')],
      eth1: [v4('10.0.3.2', '255.255.255.0')],
    };
    expect(broadcastAddresses(table)).toEqual(['10.0.3.255', '255.255.255.255']);
    expect(broadcastAddresses(table, [...DEFAULT_SKIP_IFACES, 'eth1', 'eth0'])).toEqual(['255.255.255.255']);
  });

  it('with no usable interface still broadcasts on 255.255.255.255', () => {
    expect(broadcastAddresses({ lo: [v4('127.0.0.1', '255.0.0.0', true)] })).toEqual(['255.255.255.255']);
  });
});

describe('parseHostPort', () => {
  it('accepts HOST, HOST:PORT and [V6]:PORT', () => {
    expect(parseHostPort('peer.lan', 38339)).toEqual({ host: 'peer.lan', port: 38339 });
    expect(parseHostPort('10.0.0.1:4000', 38339)).toEqual({ host: '10.0.0.1', port: 4000 });
    expect(parseHostPort('[::1]:4000', 38339)).toEqual({ host: '::1', port: 4000 });
    expect(parseHostPort('[::1]', 5)).toEqual({ host: '::1', port: 5 });
  });

  it('accepts IPv6 literals, bare or in brackets, with a zone', () => {
    expect(parseHostPort('::1', 7)).toEqual({ host: '::1', port: 7 });
    expect(parseHostPort('fe80::1%eth0', 7)).toEqual({ host: 'fe80::1%eth0', port: 7 });
    expect(parseHostPort('[fe80::1%eth0]:38339', 7)).toEqual({ host: 'fe80::1%eth0', port: 38339 });
    expect(() => parseHostPort('[host]:1', 7)).toThrow(/\[host\] is not an IPv6 address/);
  });

  it('rejects bad ports and shapes with a message naming -H', () => {
    expect(() => parseHostPort('h:0', 1)).toThrow(DiscoveryError);
    expect(() => parseHostPort('h:70000', 1)).toThrow(/-H 'h:70000': the port must be 1-65535/);
    expect(() => parseHostPort('a:b:c', 1)).toThrow(/is not HOST, HOST:PORT, an IPv6 address or \[IPV6\]:PORT/);
    expect(() => parseHostPort('', 1)).toThrow(DiscoveryError);
  });
});

describe('discoveryTargets', () => {
  it('uses the -H hosts, resolved, instead of broadcasting', async () => {
    expect(await discoveryTargets({ hosts: ['127.0.0.1:4000', 'localhost'], port: 9 }, {})).toEqual([
      { address: '127.0.0.1', port: 4000 },
      { address: '127.0.0.1', port: 9 },
    ]);
  });

  it('names an unresolvable -H host', async () => {
    await expect(discoveryTargets({ hosts: ['no-such-host.invalid'] }, {})).rejects.toThrow(/-H no-such-host.invalid: cannot resolve that host name/);
  });

  it('takes broadcast addresses from the option, else $ZSHARE_BROADCAST, else the interfaces', async () => {
    expect(await discoveryTargets({ broadcast: ['127.255.255.255'], port: 7 }, { ZSHARE_BROADCAST: '127.1.1.1' })).toEqual([{ address: '127.255.255.255', port: 7 }]);
    expect(await discoveryTargets({}, { ZSHARE_BROADCAST: '127.255.255.255, 127.1.255.255' })).toEqual([
      { address: '127.255.255.255', port: 38339 },
      { address: '127.1.255.255', port: 38339 },
    ]);
    const fromInterfaces = await discoveryTargets({}, {});
    expect(fromInterfaces).toContainEqual({ address: '255.255.255.255', port: 38339 });
    // Each IPv6 target is the link-local group on one interface.
    for (const t of fromInterfaces.filter((x) => x.address.includes(':'))) expect(t.address).toMatch(/^ff02::95c3%\S+$/);
  });
});

describe('Discovery.targets (what `0share why` lists as asked)', () => {
  it('names each target with how it is asked: the broadcast address, or the IPv6 group with the interface as zone', async () => {
    const overridden = await openDiscovery({ broadcast: ['127.255.255.255'], port: 7, mdns: false, env: {} });
    try {
      expect(overridden.targets()).toEqual(['127.255.255.255:7 (broadcast)']);
    } finally {
      overridden.close();
    }
    const real = await openDiscovery({ mdns: false, staticPeers: [], env: {} });
    try {
      const asked = real.targets();
      expect(asked).toContain('255.255.255.255:38339 (broadcast)');
      for (const t of asked.filter((x) => x.includes('(multicast)'))) expect(t).toMatch(/^\[ff02::95c3%\S+\]:38339 \(multicast\)$/);
    } finally {
      real.close();
    }
  });
});

describe('sendErrorMessage', () => {
  const t = { address: '255.255.255.255', port: 38339 };
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });
  it('gives the original advice for an unreachable network', () => {
    expect(sendErrorMessage(t, err('ENETUNREACH'))).toBe(
      'sending the query to 255.255.255.255:38339 failed: Network is unreachable; check the default route (ip route)',
    );
  });
  it('passes other errors through with the target', () => {
    expect(sendErrorMessage(t, err('EPERM', 'send EPERM'))).toBe('sending the query to 255.255.255.255:38339 failed: send EPERM');
  });
});

describe('partial replies', () => {
  const D = parseDigest('sha256new_' + 'B'.repeat(52));
  const OTHER = parseDigest('sha256new_' + 'C'.repeat(52));

  /** A fake peer on 127.0.0.1 answering each query with a reply and two partial replies (one for a digest not asked), and no who-request. */
  async function fakePeer() {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.on('message', (m, rinfo) => {
      if (isWho(m)) return;
      for (const buf of [...encodeReply([D]), ...encodePartialReply([D]), ...encodePartialReply([OTHER])]) s.send(buf, rinfo.port, rinfo.address);
    });
    return { port: s.address().port, close: () => s.close() };
  }

  async function hear(ownAddresses?: readonly string[]) {
    const peer = await fakePeer();
    const d = await openDiscovery({ hosts: [`127.0.0.1:${peer.port}`], mdns: false, env: {}, ...(ownAddresses ? { ownAddresses } : {}) });
    const replies: string[] = [];
    const partials: string[] = [];
    d.replies.subscribe((r) => replies.push(r.digests.map(formatDigest).join()));
    d.partials.subscribe((r) => partials.push(`${r.peer.host}:${r.peer.port} ${r.digests.map(formatDigest).join()}`));
    await d.send([D]);
    for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    d.close();
    peer.close();
    return { replies, partials, port: peer.port };
  }

  it('hears a partial reply on its own stream, only for digests asked', async () => {
    const h = await hear([]);
    expect(h.replies).toEqual([formatDigest(D)]);
    expect(h.partials).toEqual([`127.0.0.1:${h.port} ${formatDigest(D)}`]);
  });

  it("drops partial replies from this machine's own addresses (its own peer describing its own fetch)", async () => {
    const h = await hear();
    expect(h.replies).toEqual([formatDigest(D)]);
    expect(h.partials).toEqual([]);
  });
});

describe('instance ids', () => {
  const D = parseDigest('sha256new_' + 'D'.repeat(52));

  /** A fake peer on 127.0.0.1 and ::1 (one socket each, like the real one), answering who-requests with `id` and queries with a reply. */
  async function fakePeer(id: string) {
    const heard: string[] = [];
    const sockets = await Promise.all(
      (['127.0.0.1', '::1'] as const).map(async (host) => {
        const s = createSocket(host === '::1' ? 'udp6' : 'udp4');
        await new Promise<void>((r, j) => (s.once('error', j), s.bind(0, host, r)));
        s.on('message', (m, rinfo) => {
          heard.push(`${host} ${isWho(m) ? 'who' : m.toString('latin1').split('\n')[0]}`);
          for (const buf of isWho(m) ? [encodeIdAnswer(id)] : encodeReply([D])) s.send(buf, rinfo.port, rinfo.address);
        });
        return s;
      }),
    );
    return { heard, ports: sockets.map((s) => s.address().port), close: () => sockets.forEach((s) => s.close()) };
  }

  it('asks who is there before the query, and takes an IPv4 and an IPv6 address with one id for one machine', async () => {
    const peer = await fakePeer('0123456789abcdef').catch(() => undefined);
    if (!peer) return; // no IPv6 loopback here
    const [p4, p6] = peer.ports;
    const d = await openDiscovery({ hosts: [`127.0.0.1:${p4}`, `[::1]:${p6}`], mdns: false, env: {} });
    const replies: string[] = [];
    d.replies.subscribe((r) => replies.push(r.peer.host));
    await d.send([D]);
    for (let i = 0; i < 100 && replies.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    d.close();
    peer.close();
    expect(peer.heard.filter((h) => h.startsWith('127.'))).toEqual(['127.0.0.1 who', '127.0.0.1 0share']);
    expect(peer.heard.filter((h) => h.startsWith('::1'))).toEqual(['::1 who', '::1 0share']);
    expect(replies.sort()).toEqual(['127.0.0.1', '::1']);
    expect(d.machineOf({ host: '127.0.0.1', port: p4! })).toBe('#0123456789abcdef');
    expect(d.machineOf({ host: '::1', port: p6! })).toBe('#0123456789abcdef');
    expect(d.machineOf({ host: '127.0.0.9', port: p4! })).toBe(`127.0.0.9:${p4}`);
  });

  it('sends the who-request with the first sends, then at most once a second', async () => {
    const peer = await fakePeer('fedcba9876543210').catch(() => undefined);
    if (!peer) return;
    const d = await openDiscovery({ hosts: [`127.0.0.1:${peer.ports[0]}`], mdns: false, env: {} });
    for (let i = 0; i < 6; i++) await d.send([D]);
    await new Promise((r) => setTimeout(r, 100));
    d.close();
    peer.close();
    const v4 = peer.heard.filter((h) => h.startsWith('127.'));
    expect(v4.filter((h) => h.endsWith('who'))).toHaveLength(3);
    expect(v4.filter((h) => h.endsWith('0share'))).toHaveLength(6);
  });

  it('asks an address that replied without giving its id again, by unicast', async () => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    let whos = 0;
    s.on('message', (m, rinfo) => {
      // The first who-request's answer is "lost"; queries are answered.
      if (isWho(m)) return void (++whos > 1 && s.send(encodeIdAnswer('00000000000000a1'), rinfo.port, rinfo.address));
      for (const buf of encodeReply([D])) s.send(buf, rinfo.port, rinfo.address);
    });
    const peer = { host: '127.0.0.1', port: s.address().port };
    const d = await openDiscovery({ hosts: [`127.0.0.1:${peer.port}`], mdns: false, env: {} });
    d.replies.subscribe(() => undefined);
    await d.send([D]);
    for (let i = 0; i < 100 && d.machineOf(peer) === peerKey(peer); i++) await new Promise((r) => setTimeout(r, 10));
    d.close();
    s.close();
    expect(whos).toBe(2);
    expect(d.machineOf(peer)).toBe('#00000000000000a1');
  });
});
