// Issue 4 fault tests with real processes in network namespaces: a peer killed mid-transfer, a
// lying peer beside an honest one, 500 concurrent connections, a slowloris and 10,000 random
// datagrams. After each: the server still answers a valid query and download, the stores hold
// only verified entries, no tmp-* dir remains, and nothing outside the stores' new entries
// changed (snapshots of every sandbox and of a sentinel dir that hostile archives aim at).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ABUSE,
  addWith0install,
  fetchKillingTheSender,
  FAKE_PEER,
  makeBigTree,
  makeSmallTree,
  PROBE,
  run0share,
  scratch,
  sleep,
  snapshot,
  snapshotDiff,
  startPeer,
  storeEntries,
  storeProblems,
} from '../helpers/lan-fixture.js';
import { canUseNetns, createLan, type HostProcess, type Lan, type NetHost } from '../helpers/netns.js';
import { need0install, type ZeroSandbox } from '../helpers/zeroinstall.js';

const log = (s: string) => process.stderr.write(`[faults-netns] ${s}\n`);

describe.skipIf(!canUseNetns() || !need0install())('faults and abuse between namespace hosts', () => {
  let lan: Lan;
  // A and C: honest peers holding both implementations; B: client and abuser; L: the liar;
  // D: the checker that fetches after each fault.
  let A: NetHost, B: NetHost, C: NetHost, L: NetHost, D: NetHost;
  let sbA: ZeroSandbox, sbC: ZeroSandbox;
  let work: string, sentinel: string;
  let small: string, big: string;
  let peerA: HostProcess, peerC: HostProcess;
  const tmp = scratch('0share-faults-');
  const { fresh } = tmp;
  let serverSnaps: Array<[string, Map<string, string>]>;

  /** A fresh client sandbox and a check that only `allowed` digests appeared in its store. */
  function client() {
    const sb = fresh();
    const before = snapshot(sb.root);
    return {
      sb,
      changesOutside(allowed: string[]): string[] {
        const storeRel = relative(sb.root, sb.userStore);
        const parents = new Set<string>();
        for (let p = storeRel; p !== '.' && p !== ''; p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') parents.add(p);
        return snapshotDiff(before, snapshot(sb.root)).filter((d) => {
          const path = d.replace(/^(added|removed|changed) /, '').replace(/: .*$/, '');
          if (parents.has(path)) return d.startsWith('removed');
          return !allowed.some((dig) => path === `${storeRel}/${dig}` || path.startsWith(`${storeRel}/${dig}/`));
        });
      },
    };
  }

  /** The checks of issue 4 after each fault. */
  function afterFault(label: string, clients: ZeroSandbox[] = []): void {
    // The server still answers a valid query …
    const q = D.exec(process.execPath, [PROBE, 'udp-query', A.ip, '38339', '1000', small]);
    expect(q.stdout, `${label}: UDP query to the server`).toContain(`0share-reply\\n${small}`);
    // … and a download, which 0install accepts.
    const c = client();
    const r = run0share(D, c.sb, ['fetch', small, '-H', A.ip]);
    expect(r.status, `${label}: download after the fault\n${r.stdout}${r.stderr}`).toBe(0);
    expect(c.changesOutside([small]), `${label}: checker sandbox`).toEqual([]);
    // Nothing changed on the servers or in the sentinel; every store holds only verified entries.
    for (const [root, snap] of serverSnaps) expect(snapshotDiff(snap, snapshot(root)), `${label}: ${root} changed`).toEqual([]);
    for (const sb of [sbA, sbC, c.sb, ...clients]) expect(storeProblems(sb), `${label}: store problems`).toEqual([]);
  }

  beforeAll(async () => {
    lan = createLan(5, { subnet: 41 });
    [A, B, C, L, D] = lan.hosts as [NetHost, NetHost, NetHost, NetHost, NetHost];
    work = tmp.work;
    sentinel = join(work, 'sentinel');
    mkdirSync(sentinel);
    writeFileSync(join(sentinel, 'precious'), 'do not touch\n');
    sbA = fresh();
    sbC = fresh();
    makeSmallTree(join(work, 'small'), 'small');
    small = addWith0install(sbA, join(work, 'small'));
    expect(addWith0install(sbC, join(work, 'small'))).toBe(small);
    makeBigTree(join(work, 'big'), 5, 8);
    big = addWith0install(sbA, join(work, 'big'));
    expect(addWith0install(sbC, join(work, 'big'))).toBe(big);
    serverSnaps = [sbA.root, sbC.root, sentinel].map((r) => [r, snapshot(r)]);
    peerA = await startPeer(A, D, sbA, small);
    peerC = await startPeer(C, D, sbC, small);
  }, 120_000);

  afterAll(() => {
    lan?.destroy();
    tmp.remove();
  });

  for (const [mode, modeArgs] of [['swarm mode (the default)', []], ['the whole tar', ['--whole-tar']]] as const) it(`${mode}: a peer killed mid-transfer: the client moves to the other holder`, async () => {
    const c = client();
    const { killed, code, out } = await fetchKillingTheSender(B, c.sb.env, big, [
      [A, peerA],
      [C, peerC],
    ], modeArgs);
    log(`${mode}: killed the peer on ${killed.ip} mid-transfer; fetch exit ${code}`);
    expect(code, out).toBe(0);
    expect(out).toContain(killed.ip);
    expect(storeEntries(c.sb.userStore)).toEqual([big]);
    expect(c.changesOutside([big])).toEqual([]);
    // Bring the killed peer back so the remaining checks have both honest peers.
    if (killed === A) peerA = await startPeer(A, D, sbA, small);
    else peerC = await startPeer(C, D, sbC, small);
    afterFault('peer killed mid-transfer', [c.sb]);
  }, 180_000);

  it('the fake peer in honest mode serves a tar the client accepts (so each lie below is what fails)', async () => {
    const peer = L.spawn(process.execPath, [FAKE_PEER, '--mode', 'honest', '--tree', join(work, 'small')]);
    await peer.waitFor(/ready/);
    try {
      const c = client();
      const r = run0share(B, c.sb, ['fetch', small, '-H', L.ip]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(peer.stdout()).toMatch(/^GET \/implementation\//m);
      expect(storeEntries(c.sb.userStore)).toEqual([small]);
      expect(storeProblems(c.sb)).toEqual([]);
    } finally {
      peer.kill('SIGKILL');
      await peer.exited;
    }
  });

  // Each lie, the extra fake-peer arguments, and client options that keep the test short. The
  // fake peer knows only the 2008 routes (it answers the manifest route 404), so a client in its
  // default mode (the swarm) falls back to the whole tar: these are the whole tar's lies. The
  // swarm's (a file that does not match, beside honest peers) are in swarm-loopback.test.ts.
  const LIES: Array<[string, string[], string[]]> = [
    ['wrong', [], []],
    ['traversal', [], []],
    ['absolute', [], []],
    ['hardlink', [], []],
    ['symlink', [], []],
    ['truncated', [], []],
    ['dropped', [], []],
    ['refuse', [], []],
    ['endless', [], ['--max-bytes', '10M']],
    ['drip', ['--drip-ms', '100'], ['--stall-timeout', '2000']],
  ];
  for (const [lie, peerArgs, fetchArgs] of LIES) {
    it(`a lying peer (${lie}) is dropped with a message naming it; beside honest ones the fetch succeeds`, async () => {
      const liar = L.spawn(process.execPath, [FAKE_PEER, '--mode', lie, '--tree', join(work, 'small'), '--sentinel', sentinel, ...peerArgs]);
      await liar.waitFor(/ready/);
      const gets = () => (liar.stdout().match(/^GET /gm) ?? []).length;
      try {
        // Alone: the fetch fails, names the liar, and leaves nothing behind.
        const alone = client();
        const t0 = Date.now();
        const r1 = run0share(B, alone.sb, ['fetch', small, '-H', L.ip, ...fetchArgs], 90_000);
        const msg = r1.stdout + r1.stderr;
        log(`${lie} alone: exit ${r1.status} after ${Date.now() - t0} ms: ${msg.trim().split('\n').slice(-3).join(' | ')}`);
        expect(r1.status, msg).not.toBe(0);
        expect(msg).toContain(L.ip);
        expect(msg).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/); // no stack trace
        expect(storeEntries(alone.sb.userStore)).toEqual([]);
        expect(alone.changesOutside([])).toEqual([]);
        await liar.waitFor(/GET \/implementation\//); // the liar was really asked
        // Beside an honest peer: the fetch succeeds with the right content.
        const both = client();
        const before = gets();
        const r2 = run0share(B, both.sb, ['fetch', small, '-H', L.ip, '-H', A.ip, ...fetchArgs], 90_000);
        await sleep(200); // let the liar's log arrive
        log(`${lie} beside an honest peer: exit ${r2.status}; the liar was tried: ${gets() > before}`);
        expect(r2.status, r2.stdout + r2.stderr).toBe(0);
        expect(storeEntries(both.sb.userStore)).toEqual([small]);
        expect(both.changesOutside([small])).toEqual([]);
        // By broadcast, with the liar and both honest peers answering: it succeeds too.
        const bc = client();
        const r3 = run0share(B, bc.sb, ['-f', small, ...fetchArgs], 90_000);
        expect(r3.status, r3.stdout + r3.stderr).toBe(0);
        expect(storeEntries(bc.sb.userStore)).toEqual([small]);
        expect(bc.changesOutside([small])).toEqual([]);
        afterFault(`lying peer (${lie})`, [alone.sb, both.sb, bc.sb]);
      } finally {
        liar.kill('SIGKILL');
        await liar.exited;
      }
    }, 180_000);
  }

  it('500 concurrent connections: each gets the implementation or 503 with Retry-After', () => {
    // Ten source addresses on B, 50 connections each: under the per-source cap, over the upload cap.
    const sources = Array.from({ length: 10 }, (_, i) => `10.77.41.${100 + i}`);
    for (const a of sources) B.exec('ip', ['addr', 'add', `${a}/24`, 'dev', B.iface]);
    // The 40 MB implementation keeps uploads busy long enough for the cap to matter.
    const url = `http://${A.ip}:38339/implementation/${big}`;
    const r = B.exec(process.execPath, [ABUSE, 'conns', url, '500', sources.join(',')], { timeout: 170_000 });
    log(`500 connections from 10 addresses: ${r.stdout.trim()} ${r.stderr.trim()}`);
    const res = JSON.parse(r.stdout) as { total: number; statuses: Record<string, number>; errors: Record<string, number>; retryAfter: number };
    expect(Object.keys(res.statuses).filter((s) => s !== '200' && s !== '503')).toEqual([]);
    expect(res.statuses['200'] ?? 0).toBeGreaterThan(0);
    expect(res.statuses['503'] ?? 0).toBeGreaterThan(0);
    if (Object.keys(res.errors).length > 0) {
      const odd = (peerA.stdout() + peerA.stderr()).split('\n').filter((l) => l && !/ 200 \d+ bytes/.test(l));
      log(`server log without the 200 lines (last 20):\n${odd.slice(-20).join('\n')}`);
      log(`server sockets: ${A.exec('ss', ['-tan', '( sport = :38339 )']).stdout.split('\n').length - 2}`);
    }
    expect(res.errors).toEqual({});
    expect(res.retryAfter).toBe(res.statuses['503']);
    // 500 from one address: beyond the per-source cap the server drops connections at once.
    const one = B.exec(process.execPath, [ABUSE, 'conns', url, '500'], { timeout: 170_000 });
    log(`500 connections from one address: ${one.stdout.trim()} ${one.stderr.trim()}`);
    const res1 = JSON.parse(one.stdout) as typeof res;
    expect(Object.keys(res1.statuses).filter((s) => s !== '200' && s !== '503')).toEqual([]);
    expect(Object.keys(res1.errors).filter((e) => e !== 'ECONNRESET')).toEqual([]);
    const rss = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${peerA.pid}/status`, 'utf8'));
    log(`server peak RSS (VmHWM) after the connection floods: ${rss ? Math.round(Number(rss[1]) / 1024) : '?'} MB`);
    afterFault('500 concurrent connections');
  }, 180_000);

  it('a slowloris does not stop the server from serving others', async () => {
    const loris = B.spawn(process.execPath, [ABUSE, 'slowloris', A.ip, '38339', '300', '20000']);
    await sleep(3000); // let the connections open and start trickling
    const c = client();
    const r = run0share(D, c.sb, ['fetch', small, '-H', A.ip], 60_000);
    expect(r.status, `fetch during a slowloris\n${r.stdout}${r.stderr}`).toBe(0);
    expect(storeEntries(c.sb.userStore)).toEqual([small]);
    await loris.exited;
    log(`slowloris: ${loris.stdout().trim()}`);
    const res = JSON.parse(loris.stdout()) as { opened: number; closedByServer: number; stillOpen: number };
    expect(res.opened).toBeGreaterThan(0);
    // Header timeouts (well under the 20 s the slowloris lasts) closed every trickling connection.
    expect(res.stillOpen).toBe(0);
    afterFault('slowloris', [c.sb]);
  }, 180_000);

  it('10,000 random datagrams are ignored, and replies are rate-limited', () => {
    const r = B.exec(process.execPath, [ABUSE, 'datagrams', A.ip, '38339', '10000', small], { timeout: 120_000 });
    log(`10,000 datagrams: ${r.stdout.trim()} ${r.stderr.trim()}`);
    const res = JSON.parse(r.stdout) as { sent: number; validQueries: number; replies: number; replyBytes: number };
    expect(res.sent).toBe(10_000);
    expect(res.replies).toBeLessThan(res.validQueries); // no amplification: rate-limited per source
    expect(res.replyBytes).toBeLessThanOrEqual(res.replies * 1400);
    // The flood to the broadcast address reaches every peer; they all keep serving.
    const b = B.exec(process.execPath, [ABUSE, 'datagrams', lan.broadcast, '38339', '2000', small], { timeout: 120_000 });
    log(`2,000 broadcast datagrams: ${b.stdout.trim()}`);
    const resB = JSON.parse(b.stdout) as typeof res;
    expect(resB.sent).toBe(2000);
    expect(resB.replies).toBeLessThan(resB.validQueries);
    const qc = D.exec(process.execPath, [PROBE, 'udp-query', C.ip, '38339', '1000', small]);
    expect(qc.stdout, 'C still answers after the broadcast flood').toContain(`0share-reply\\n${small}`);
    afterFault('random datagrams');
  }, 180_000);
});
