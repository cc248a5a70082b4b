// Checks the network-namespace harness itself: hosts reach each other, directed and limited
// broadcast reach every host, and destroy() removes every namespace it made.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE } from '../helpers/lan-fixture.js';
import { canUseNetns, createLan, type Lan } from '../helpers/netns.js';

// A tiny UDP echo-ish responder: answers every datagram with "pong <own address>".
const RESPONDER = `
const d = require('node:dgram'); const s = d.createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => s.send('pong ' + process.argv[1], r.port, r.address));
s.bind(38339, () => console.log('ready'));`;

describe.skipIf(!canUseNetns())('netns harness', () => {
  let lan: Lan;
  beforeAll(() => {
    lan = createLan(3, { subnet: 10 });
  });
  afterAll(() => lan?.destroy());

  it('gives each host its address on one bridge', () => {
    const [a, b] = lan.hosts;
    const r = a!.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', a!.iface]);
    expect(r.stdout).toContain('10.77.10.2/24 brd 10.77.10.255');
    expect(b!.ip).toBe('10.77.10.3');
  });

  it('delivers unicast, directed broadcast and 255.255.255.255 to the other hosts', async () => {
    const [a, b, c] = lan.hosts;
    const ra = b!.spawn(process.execPath, ['-e', RESPONDER, b!.ip]);
    const rc = c!.spawn(process.execPath, ['-e', RESPONDER, c!.ip]);
    await ra.waitFor(/ready/);
    await rc.waitFor(/ready/);
    for (const target of [b!.ip, lan.broadcast, '255.255.255.255']) {
      const r = a!.exec(process.execPath, [PROBE, 'udp-query', target, '38339', '600', 'x']);
      const from = new Set(r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { from: string }).from));
      if (target === b!.ip) expect([...from]).toEqual([b!.ip]);
      else expect([...from].sort()).toEqual([b!.ip, c!.ip].sort());
    }
    ra.kill();
    rc.kill();
  });

  it('removes its namespaces and kills its processes on destroy()', async () => {
    const other = createLan(2, { subnet: 11 });
    const p = other.hosts[0]!.spawn('sleep', ['600']);
    other.destroy();
    const ex = await p.exited;
    expect(ex.signal).toBe('SIGKILL');
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const h of [...other.hosts.map((x) => x.name), other.switchNs]) expect(list).not.toContain(h);
  });
});
