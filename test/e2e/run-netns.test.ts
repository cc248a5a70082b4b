// Issue 5 acceptance with the real 0install on two network-namespace hosts: a local feed whose
// archive URL is unreachable; host A holds the implementation (added by `0install store add`) and
// serves it; on host B `0share run FEED` gets it from A and 0install runs it, `0share download`
// stores it, and `0install store verify` accepts it. With no peer holding it, `0share run FEED`
// fails exactly as `0install run FEED` does (same exit code, same message).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { feedXml } from '../helpers/feed.mjs';
import { addWith0install, run0share, scratch, startPeer, storeEntries, storeProblems } from '../helpers/lan-fixture.js';
import { canUseNetns, createLan, type HostProcess, type Lan, type NetHost } from '../helpers/netns.js';
import { need0install } from '../helpers/zeroinstall.js';

const LINE = 'hello from a LAN peer';
/** Nothing listens on port 1 of the loopback interface: the archive can never be downloaded. */
const ARCHIVE = 'http://127.0.0.1:1/hello-1.0.tar.gz';

/** 0install's curl messages include how long a refused connection took; that alone may differ. */
const normalize = (s: string) => s.replace(/after \d+ ms/g, 'after N ms');

describe.skipIf(!canUseNetns() || !need0install())('0share run/download with stock 0install between namespace hosts', () => {
  let lan: Lan;
  let A: NetHost, B: NetHost;
  let feed: string;
  let digest: string;
  let peer: HostProcess;
  const tmp = scratch('0share-run-');
  const { fresh } = tmp;

  beforeAll(async () => {
    lan = createLan(2, { subnet: 55 });
    [A, B] = lan.hosts as [NetHost, NetHost];
    const impl = join(tmp.work, 'impl');
    mkdirSync(impl);
    writeFileSync(join(impl, 'run.sh'), `#!/bin/sh\necho "${LINE}: $*"\nexit 3\n`);
    chmodSync(join(impl, 'run.sh'), 0o755);
    const sbA = fresh();
    digest = addWith0install(sbA, impl);
    feed = join(tmp.work, 'hello.xml');
    writeFileSync(feed, feedXml({ name: 'hello', summary: 'prints a known line', digest, path: 'run.sh', archive: ARCHIVE, size: 180 }));
    // As root, `0install store add` put the implementation in the sandbox's system store.
    peer = await startPeer(A, B, sbA, digest);
  }, 120_000);

  afterAll(() => {
    lan?.destroy();
    tmp.remove();
  });

  it('runs the program fetched from the peer, passing its arguments and exit status through', () => {
    const sbB = fresh();
    const r = B.exec(process.execPath, [CLI, 'run', feed, 'one', '--two'], { env: { ...sbB.env, ZSHARE_LOG_LEVEL: 'info' } });
    expect(r.stdout, r.stderr).toBe(`${LINE}: one --two\n`);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('fetched from a peer');
    // Named by whichever of its addresses answered first (IPv4 broadcast or IPv6 multicast).
    expect(r.stderr.includes(A.ip) || r.stderr.includes(A.ip6), r.stderr).toBe(true);
    expect(storeEntries(sbB.userStore)).toEqual([digest]);
    expect(storeProblems(sbB, sbB.userStore)).toEqual([]);
  });

  it('downloads with `0share download`, and 0install store verify accepts the result', () => {
    const sbB = fresh();
    const r = run0share(B, sbB, ['download', '-H', A.ip, feed]);
    expect(r.status, r.stderr).toBe(0);
    expect(storeEntries(sbB.userStore)).toEqual([digest]);
    expect(storeProblems(sbB, sbB.userStore)).toEqual([]);
  });

  it('with no peer holding it, fails exactly as `0install run` does', () => {
    peer.kill('SIGTERM');
    const sbB = fresh();
    const t0 = performance.now();
    const ours = run0share(B, sbB, ['run', feed]);
    const t1 = performance.now();
    const theirs = B.exec('0install', ['run', feed], { env: sbB.env });
    const t2 = performance.now();
    process.stderr.write(
      `[run-netns] no peer: 0share run ${Math.round(t1 - t0)} ms, 0install run ${Math.round(t2 - t1)} ms, ` +
        `overhead ${Math.round(t1 - t0 - (t2 - t1))} ms (includes node start-up)\n`,
    );
    expect(theirs.status).not.toBe(0);
    expect(ours.status).toBe(theirs.status);
    expect(normalize(ours.stderr)).toBe(normalize(theirs.stderr));
    expect(ours.stdout).toBe(theirs.stdout);
    expect(ours.stderr).toContain(ARCHIVE);
    expect(storeEntries(sbB.userStore)).toEqual([]);
  });
});
