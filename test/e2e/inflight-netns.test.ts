// In-flight sharing with real processes on four namespace hosts: a seed holds a ~24 MiB tree
// (added by the real `0install store add`); three machines each run `0share serve` over the
// stores their own `0share fetch --swarm` writes to, every link limited with tc tbf (40 Mbit/s
// out of each host) so that a fetch lasts seconds, and all three fetches start at once with
// broadcast discovery (no -H). Each machine is then a partial holder for the others while it
// fetches. Every tree must pass `0install store verify`, the seed must have served well under
// three trees' bytes (its /stats), and some client must have got bytes from another client (the
// fetch's per-source bytes in its --json output). Each machine answers over IPv4 and over its IPv6
// link-local address, and must be one peer of each swarm: no fetch's sources name two addresses
// of one host (unless the first was dropped). Bytes are asserted, never times.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { addWith0install, makeBigTree, PROBE, scratch, startPeer, storeProblems } from '../helpers/lan-fixture.js';
import { canUseNetns, createLan, type HostProcess, type Lan, type NetHost } from '../helpers/netns.js';
import { need0install, type ZeroSandbox } from '../helpers/zeroinstall.js';

const RATE = '40mbit';

describe.skipIf(!canUseNetns() || !need0install())('in-flight sharing between namespace hosts', () => {
  let lan: Lan;
  let seed: NetHost;
  let clients: NetHost[];
  let boxes: ZeroSandbox[];
  let digest: string;
  let treeBytes = 0;
  const tmp = scratch('0share-inflight-');
  const peers: HostProcess[] = [];

  /** GETs `path` of host `to`'s peer from host `from`; the body, or undefined. */
  const get = (from: NetHost, to: NetHost, path: string, name: string): string | undefined => {
    const out = join(tmp.work, `${name}-${Math.random().toString(36).slice(2)}`);
    const r = from.exec(process.execPath, [PROBE, 'http-get', `http://${to.ip}:38339${path}`, out]);
    if (r.status !== 0 || JSON.parse(r.stdout).status !== 200) return undefined;
    return readFileSync(out, 'utf8');
  };

  beforeAll(async () => {
    lan = createLan(4, { subnet: 62 });
    [seed, ...clients] = lan.hosts as [NetHost, ...NetHost[]];
    const sbS = tmp.fresh();
    const dir = join(tmp.work, 'tree');
    makeBigTree(dir, 3, 8);
    digest = addWith0install(sbS, dir);
    for (const f of ['blobs/blob-0.bin', 'blobs/blob-1.bin', 'blobs/blob-2.bin', 'lib/data.bin']) treeBytes += statSync(join(dir, f)).size;
    peers.push(await startPeer(seed, clients[0]!, sbS, digest));
    boxes = clients.map(() => tmp.fresh());
    clients.forEach((c, k) => peers.push(c.spawn(process.execPath, [CLI, 'serve', '--store', boxes[k]!.userStore, '--store', boxes[k]!.systemStore], { env: boxes[k]!.env })));
    for (const c of clients) {
      let up = false;
      for (let t = 0; t < 100 && !up; t++) {
        up = get(seed, c, '/stats', 'probe') !== undefined;
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      if (!up) throw new Error(`0share serve on ${c.ip} did not answer`);
    }
    for (const h of lan.hosts) h.limitRate(RATE);
  }, 120_000);

  afterAll(() => {
    for (const p of peers) p.kill();
    lan?.destroy();
    tmp.remove();
  });

  it('three machines fetching at once take much of the tree from each other, and every tree verifies', async () => {
    const runs = clients.map((c, k) =>
      c.spawn(process.execPath, [CLI, 'fetch', '--swarm', '--json', '--no-mdns', '--timeout', '2000', digest], { env: boxes[k]!.env }),
    );
    const exits = await Promise.all(runs.map((r) => r.exited));
    const results = runs.map((r, k) => {
      expect(exits[k]!.code, r.stderr()).toBe(0);
      return JSON.parse(r.stdout()).results[0] as { status: string; sources?: Record<string, number> };
    });
    for (const [k, r] of results.entries()) {
      expect(r.status).toBe('committed');
      expect(storeProblems(boxes[k]!)).toEqual([]);
    }
    const stats = JSON.parse(get(clients[0]!, seed, '/stats', 'stats')!) as { bytesServed: number };
    // A client is heard over IPv4 and over its IPv6 link-local address (ff02::95c3): both count.
    const clientKeys = clients.flatMap((c) => [`${c.ip}:`, `[${c.ip6}%`]);
    const fromClients = results.map((r) => Object.entries(r.sources ?? {}).filter(([k, n]) => clientKeys.some((p) => k.startsWith(p)) && n > 0));
    process.stdout.write(
      `in-flight: seed served ${stats.bytesServed} B for 3 trees of ${treeBytes} B (${(stats.bytesServed / treeBytes).toFixed(2)} trees); sources ${JSON.stringify(results.map((r) => r.sources))}\n`,
    );
    expect(fromClients.some((l) => l.length > 0)).toBe(true);
    // One machine, one peer: the sources of a fetch never name two addresses of one host, unless
    // the swarm dropped the first (its warning names it) and the other took its place.
    const ofHost = (h: NetHost) => (k: string) => k.startsWith(`${h.ip}:`) || k.startsWith(`[${h.ip6}%`);
    results.forEach((r, k) => {
      const warned = runs[k]!.stderr();
      for (const h of lan.hosts) {
        const dropped = warned.includes(`${h.ip} `) || warned.includes(`[${h.ip6}%`);
        expect(Object.keys(r.sources ?? {}).filter(ofHost(h)).length, `${JSON.stringify(r.sources)}\n${warned}`).toBeLessThanOrEqual(dropped ? 2 : 1);
      }
    });
    // Without sharing the seed serves 3 trees (and 3 manifests); with it, less (2.5 when quiet,
    // 2.83 once with the whole suite running on 2 cores: how much depends on timing, so only
    // "less than one tree per machine" is asserted, with what was taken from clients above).
    expect(stats.bytesServed).toBeLessThan(2.95 * treeBytes);
  }, 240_000);
});
