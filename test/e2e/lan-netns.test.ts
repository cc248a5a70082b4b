// Issue 3 acceptance with real processes on three network-namespace hosts on one bridge:
// A (and C) hold implementations added by the real `0install store add` and run `0share serve`;
// B fetches by broadcast and with -H, and `0install store verify` accepts what it got; a digest
// nobody has fails with a clear message; killing the first holder mid-transfer still succeeds
// from the second.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addWith0install,
  fetchKillingTheSender,
  makeBigTree,
  makeSmallTree,
  run0share,
  saysHas,
  scratch,
  startPeer,
  storeEntries,
  storeProblems,
} from '../helpers/lan-fixture.js';
import { canUseNetns, createLan, type HostProcess, type Lan, type NetHost } from '../helpers/netns.js';
import { need0install, type ZeroSandbox, ziResult } from '../helpers/zeroinstall.js';

const NOBODY = 'sha256new_2CVLJ3ROTXBBCS5CRIUBVQUSFBB6RHXRRPY4AJHPKDD4W4UJDW5A';

describe.skipIf(!canUseNetns() || !need0install())('LAN sharing between namespace hosts', () => {
  let lan: Lan;
  let A: NetHost, B: NetHost, C: NetHost;
  let sbA: ZeroSandbox, sbC: ZeroSandbox;
  let work: string;
  let small: string;
  let big: string;
  const tmp = scratch('0share-lan-');
  const { fresh } = tmp;
  let peerA: HostProcess, peerC: HostProcess;

  beforeAll(async () => {
    lan = createLan(3, { subnet: 31 });
    [A, B, C] = lan.hosts as [NetHost, NetHost, NetHost];
    work = tmp.work;
    sbA = fresh();
    sbC = fresh();
    makeSmallTree(join(work, 'small'), 'small');
    small = addWith0install(sbA, join(work, 'small'));
    // Big enough that a rate-limited transfer takes seconds, so it can be killed mid-way.
    makeBigTree(join(work, 'big'), 5, 8);
    big = addWith0install(sbA, join(work, 'big'));
    expect(addWith0install(sbC, join(work, 'big'))).toBe(big);
    peerA = await startPeer(A!, B!, sbA, small);
    peerC = await startPeer(C!, B!, sbC, big);
  }, 120_000);

  afterAll(() => {
    lan?.destroy();
    tmp.remove();
  });

  it('fetches by broadcast with `0share -f DIGEST`, and 0install verifies the result', () => {
    const sbB = fresh();
    const r = run0share(B, sbB, ['-f', small]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Success/);
    expect(saysHas(r.stdout + r.stderr, A, B, small), r.stdout + r.stderr).toBe(true);
    expect(storeEntries(sbB.userStore)).toEqual([small]);
    const v = ziResult(sbB, ['store', 'verify', join(sbB.userStore, small)]);
    expect(v.status, v.stderr).toBe(0);
  });

  it('fetches from a given host with -H', () => {
    const sbB = fresh();
    const r = run0share(B, sbB, ['fetch', small, '-H', A.ip]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Success/);
    expect(storeProblems(sbB)).toEqual([]);
    expect(storeEntries(sbB.userStore)).toEqual([small]);
    // Fetching again reports the cached copy and succeeds.
    const again = run0share(B, sbB, ['fetch', small, '-H', A.ip]);
    expect(again.status, again.stderr).toBe(0);
  });

  it('fails with a clear message for a digest nobody has', () => {
    const sbB = fresh();
    const t0 = Date.now();
    const r = run0share(B, sbB, ['-f', NOBODY], 30_000);
    const elapsed = Date.now() - t0;
    process.stderr.write(`[lan-netns] unknown digest: exit ${r.status} after ${elapsed} ms: ${(r.stdout + r.stderr).trim()}\n`);
    expect(r.status).not.toBe(0);
    expect(r.signal).toBeNull();
    const msg = r.stdout + r.stderr;
    expect(msg).toContain(NOBODY);
    expect(msg).toMatch(/no peer|nobody|no one|not found|no reply|no answer/i);
    expect(msg).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
    expect(elapsed).toBeLessThan(10_000);
    expect(storeEntries(sbB.userStore).filter((n) => n.startsWith('tmp-'))).toEqual([]);
  });

  it('reports a host with nothing to offer given by -H and fails cleanly', () => {
    const sbB = fresh();
    const r = run0share(B, sbB, ['fetch', NOBODY, '-H', C.ip], 30_000);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(NOBODY);
  });

  for (const [mode, modeArgs] of [['swarm mode (the default)', []], ['the whole tar', ['--whole-tar']]] as const) it(`${mode}: survives the first holder being killed mid-transfer and gets it from the second`, async () => {
    const sbB = fresh();
    // Both holders of the big implementation: A (already serving) and C.
    const { killed, code, stdout, out } = await fetchKillingTheSender(B, sbB.env, big, [
      [A, peerA],
      [C, peerC],
    ], modeArgs);
    const said = out.split('\n').filter((l) => l.includes(killed.ip) && !l.includes(' has '));
    process.stderr.write(`[lan-netns] ${mode}: killed the peer on ${killed.ip} mid-transfer; the client said: ${said.join(' | ')}\n`);
    expect(code, out).toBe(0);
    expect(stdout).toMatch(/Success/);
    expect(out).toContain(killed.ip); // the client says which peer failed
    expect(storeEntries(sbB.userStore)).toEqual([big]);
    expect(storeProblems(sbB)).toEqual([]);
    // Back up for the next mode's run.
    if (killed === A) peerA = await startPeer(A, B, sbA, small);
    else peerC = await startPeer(C, B, sbC, big);
  }, 120_000);
});
