// Issue 9 discovery acceptance, with real processes on network-namespace hosts (root):
// - a client with a fake docker0 bridge beside its LAN finds the peer and sends nothing into the
//   bridge (a listener on the bridge's far side counts every query, IPv6 and mDNS datagram);
// - a peer that only DNS-SD can find (bound to its unicast address, so broadcasts miss it);
// - a static peers file naming a host on another subnet, behind a router;
// - an interface added to a running peer is joined to the IPv6 group without a restart;
// - on an IPv6-only link (no IPv4 at all), fetch works by multicast and by -H with a literal;
// - `0share peers` lists the other hosts' peers with their versions and counts, each machine once
//   with the IPv6 link-local address it also answered from.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addWith0install, makeSmallTree, PROBE, run0share, saysHas, scratch, sleep, startPeer, storeEntries, storeProblems } from '../helpers/lan-fixture.js';
import { CLI } from '../helpers/cli.js';
import { canUseNetns, createLan, type HostProcess, type Lan, type NetHost } from '../helpers/netns.js';
import { need0install, type ZeroSandbox } from '../helpers/zeroinstall.js';

const K = 61;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Waits until `probe` (a UDP query from `client` to `target`) is answered with `digest`. */
async function answered(client: NetHost, target: string, digest: string, tries = 60): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = client.exec(process.execPath, [PROBE, 'udp-query', target, '38339', '300', digest]);
    if (r.status === 0 && r.stdout.includes(digest)) return true;
    await sleep(100);
  }
  return false;
}

describe.skipIf(!canUseNetns() || !need0install())('discovery on real networks (netns)', () => {
  let lan: Lan;
  let A: NetHost, B: NetHost, C: NetHost;
  let sbA: ZeroSandbox, sbC: ZeroSandbox;
  let small: string, other: string;
  const tmp = scratch('0share-disc-');
  const { fresh } = tmp;
  let peerA: HostProcess;

  beforeAll(async () => {
    lan = createLan(3, { subnet: K });
    [A, B, C] = lan.hosts as [NetHost, NetHost, NetHost];
    sbA = fresh();
    sbC = fresh();
    makeSmallTree(join(tmp.work, 'small'), 'small');
    small = addWith0install(sbA, join(tmp.work, 'small'));
    makeSmallTree(join(tmp.work, 'other'), 'other');
    other = addWith0install(sbC, join(tmp.work, 'other'));
    // A has a docker0 of its own too: its answers must still name its LAN address.
    lan.addStub(A, 'docker0', `172.31.${K}.1/24`, `172.31.${K}.2/24`);
    peerA = await startPeer(A, B, sbA, small);
  }, 120_000);

  afterAll(() => {
    lan?.destroy();
    tmp.remove();
  });

  it('a client with a docker0 bridge finds the peer on the LAN and sends nothing into the bridge', async () => {
    const container = lan.addStub(B, 'docker0', `172.30.${K}.1/24`, `172.30.${K}.2/24`);
    const listener = container.spawn(process.execPath, [PROBE, 'listen', container.iface]);
    await listener.waitFor(/ready/);
    const sbB = fresh();
    const r = run0share(B, sbB, ['-f', small]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(saysHas(r.stdout + r.stderr, A, B, small), r.stdout + r.stderr).toBe(true);
    expect(storeEntries(sbB.userStore)).toEqual([small]);
    const q = run0share(B, fresh(), ['query', small, '--json', '--timeout', '600']);
    expect(q.status, q.stderr).toBe(0);
    const hosts = (JSON.parse(q.stdout) as Record<string, Array<{ host: string }>>)[small]!.map((p) => p.host);
    // Found by broadcast, IPv6 multicast and DNS-SD; the IPv4 answers all name A's LAN address.
    expect(hosts.filter((h) => !h.includes(':'))).toEqual([A.ip]);
    await sleep(300);
    const seen = () => listener.stdout().split('\n').filter((l) => l.startsWith('{'));
    process.stderr.write(`[discovery-netns] datagrams seen behind B's docker0: ${seen().length}\n`);
    expect(seen()).toEqual([]);
    // The listener does hear what is sent into the bridge: a query to its broadcast and IPv6 group.
    B.exec(process.execPath, [PROBE, 'udp-query', `172.30.${K}.255`, '38339', '250', small]);
    B.exec(process.execPath, [PROBE, 'udp-query', 'ff02::95c3%docker0', '38339', '250', small]);
    await sleep(200);
    listener.kill();
    await listener.exited;
    expect(seen().map((l) => (JSON.parse(l) as { from: string }).from.includes(':'))).toEqual(expect.arrayContaining([true, false]));
  });

  it('finds a peer that only DNS-SD can find (bound to its own address, so no broadcast reaches it)', async () => {
    const p = C.spawn(process.execPath, [CLI, 'serve', '--bind', C.ip, '--store', sbC.userStore, '--store', sbC.systemStore], { env: sbC.env });
    try {
      await p.waitFor(/Advertising _0share._tcp over DNS-SD/);
      expect(await answered(B, C.ip, other)).toBe(true);
      // Broadcast alone does not reach it…
      const none = run0share(B, fresh(), ['query', other, '--no-mdns', '--timeout', '400']);
      expect(none.status).toBe(1);
      expect(none.stderr).toContain(`no peer offered ${other}`);
      // …DNS-SD does, and the fetch then asks it by unicast.
      const sbB = fresh();
      const r = run0share(B, sbB, ['-f', other, '--timeout', '600']);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain(`${C.ip} has ${other}`);
      expect(storeProblems(sbB)).toEqual([]);
      expect(storeEntries(sbB.userStore)).toEqual([other]);
    } finally {
      p.kill();
      await p.exited;
    }
  });

  it('asks the hosts of a static peers file, also on another subnet behind a router', async () => {
    const D = lan.addRoutedHost();
    const sbD = fresh();
    makeSmallTree(join(tmp.work, 'far'), 'far');
    const far = addWith0install(sbD, join(tmp.work, 'far'));
    const p = D.spawn(process.execPath, [CLI, 'serve', '--store', sbD.userStore, '--store', sbD.systemStore], { env: sbD.env });
    try {
      expect(await answered(B, D.ip, far)).toBe(true);
      // Without the file, nobody on the LAN has it.
      const without = run0share(B, fresh(), ['query', far, '--timeout', '400']);
      expect(without.status).toBe(1);
      expect(without.stderr).toContain(`no peer offered ${far}`);
      const sbB = fresh();
      mkdirSync(join(sbB.env.XDG_CONFIG_HOME!, '0share'), { recursive: true });
      writeFileSync(join(sbB.env.XDG_CONFIG_HOME!, '0share', 'peers'), `# the far office\n${D.ip}   # D\n`);
      const r = run0share(B, sbB, ['-f', far]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain(`${D.ip} has ${far}`);
      expect(storeEntries(sbB.userStore)).toEqual([far]);
    } finally {
      p.kill();
      await p.exited;
    }
  });

  it('`0share peers` lists the other hosts with their versions, counts and how they were found', async () => {
    const p = C.spawn(process.execPath, [CLI, 'serve', '--store', sbC.userStore, '--store', sbC.systemStore], { env: sbC.env });
    try {
      expect(await answered(B, C.ip, other)).toBe(true);
      const r = run0share(B, fresh(), ['peers', '--json', '--timeout', '600']);
      expect(r.status, r.stderr).toBe(0);
      const list = JSON.parse(r.stdout) as Array<{ host: string; version: string; implementations: number; foundBy: string[]; lastSeen: string; alsoAt?: { host: string }[] }>;
      // One entry per machine, under its IPv4 address.
      const byHost = Object.fromEntries(list.map((x) => [x.host, x]));
      expect(Object.keys(byHost).sort()).toEqual([A.ip, C.ip].sort());
      for (const h of [A, C]) {
        expect(byHost[h.ip]).toMatchObject({ version: VERSION, implementations: 1 });
        // Its IPv6 link-local address answers the multicast hello too: the same machine, listed with it.
        expect(byHost[h.ip]!.foundBy).toEqual(expect.arrayContaining(['broadcast', 'mdns', 'multicast']));
        expect(byHost[h.ip]!.alsoAt?.map((a) => a.host.replace(/%.*$/, ''))).toEqual([h.ip6]);
      }
      const table = run0share(B, fresh(), ['peers', '--timeout', '600']);
      expect(table.status, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/^ADDRESS +VERSION +IMPLEMENTATIONS +FOUND BY +LAST SEEN/);
      expect(table.stdout).toContain(`${A.ip} [${A.ip6}%`);
      expect(table.stdout).toContain(`${C.ip} [${C.ip6}%`);
    } finally {
      p.kill();
      await p.exited;
    }
  });

  it('joins the IPv6 group on an interface added after the peer started', async () => {
    const S = lan.addStub(A, 'eth7', `10.79.${K}.1/24`, `10.79.${K}.2/24`);
    await peerA.waitFor(/Listening for IPv6 queries on ff02::95c3%eth7/, 20_000);
    expect(await answered(S, `ff02::95c3%${S.iface}`, small)).toBe(true);
    const sbS = fresh();
    const r = run0share(S, sbS, ['-f', small]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(storeEntries(sbS.userStore)).toEqual([small]);
  });
});

describe.skipIf(!canUseNetns() || !need0install())('an IPv6-only link (netns)', () => {
  let lan: Lan;
  let A: NetHost, B: NetHost;
  let sbA: ZeroSandbox;
  let small: string;
  const tmp = scratch('0share-v6-');
  const { fresh } = tmp;

  beforeAll(async () => {
    lan = createLan(2, { subnet: K + 1, ipv4: false });
    [A, B] = lan.hosts as [NetHost, NetHost];
    sbA = fresh();
    makeSmallTree(join(tmp.work, 'small'), 'small');
    small = addWith0install(sbA, join(tmp.work, 'small'));
    A.spawn(process.execPath, [CLI, 'serve', '--store', sbA.userStore, '--store', sbA.systemStore], { env: sbA.env });
    expect(await answered(B, `${A.ip6}%${B.iface}`, small)).toBe(true);
  }, 120_000);

  afterAll(() => {
    lan?.destroy();
    tmp.remove();
  });

  it('has no IPv4 address at all', () => {
    expect(B.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', B.iface]).stdout.trim()).toBe('');
  });

  it('fetches by multicast', () => {
    const sbB = fresh();
    const r = run0share(B, sbB, ['-f', small]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain(`[${A.ip6}%${B.iface}] has ${small}`);
    expect(storeProblems(sbB)).toEqual([]);
    expect(storeEntries(sbB.userStore)).toEqual([small]);
  });

  it('fetches with -H [fe80::…%eth0]:38339 and with a bare literal', () => {
    for (const h of [`[${A.ip6}%${B.iface}]:38339`, `${A.ip6}%${B.iface}`]) {
      const sbB = fresh();
      const r = run0share(B, sbB, ['fetch', small, '-H', h]);
      expect(r.status, `${h}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(storeEntries(sbB.userStore)).toEqual([small]);
    }
  });
});
