// Issue 5 acceptance with the real 0install on two network-namespace hosts: a local feed whose
// archive URL is unreachable; host A holds the implementation (added by `0install store add`) and
// serves it; on host B `0share run FEED` gets it from A and 0install runs it, `0share download`
// stores it, and `0install store verify` accepts it. With no peer holding it, `0share run FEED`
// fails exactly as `0install run FEED` does (same exit code, same message).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { addWith0install, run0share, sleep, storeEntries, storeProblems } from '../helpers/lan-fixture.js';
import { canUseNetns, createLan, type HostProcess, type Lan, type NetHost } from '../helpers/netns.js';
import { need0install, type ZeroSandbox, zeroSandbox } from '../helpers/zeroinstall.js';

const LINE = 'hello from a LAN peer';
/** Nothing listens on port 1 of the loopback interface: the archive can never be downloaded. */
const ARCHIVE = 'http://127.0.0.1:1/hello-1.0.tar.gz';

/** 0install's curl messages include how long a refused connection took; that alone may differ. */
const normalize = (s: string) => s.replace(/after \d+ ms/g, 'after N ms');

/** `0share serve` on `host` with the sandbox's stores (as root, `0install store add` puts the
 * implementation in the sandbox's system store), once `client` sees it offer `digest`. */
async function startPeer(host: NetHost, client: NetHost, sb: ZeroSandbox, digest: string): Promise<HostProcess> {
  const p = host.spawn(process.execPath, [CLI, 'serve'], { env: sb.env });
  for (let i = 0; i < 50; i++) {
    const r = client.exec(process.execPath, [CLI, 'query', '-H', host.ip, '--timeout', '300', digest], { env: sb.env });
    if (r.status === 0 && r.stdout.includes(digest)) return p;
    const ended = await Promise.race([p.exited, sleep(100).then(() => undefined)]);
    if (ended) throw new Error(`0share serve on ${host.ip} exited (${ended.code ?? ended.signal}):\n${p.stdout()}${p.stderr()}`);
  }
  throw new Error(`0share serve on ${host.ip} never offered ${digest}:\n${p.stdout()}${p.stderr()}`);
}

describe.skipIf(!canUseNetns() || !need0install())('0share run/download with stock 0install between namespace hosts', () => {
  let lan: Lan;
  let A: NetHost, B: NetHost;
  let work: string;
  let feed: string;
  let digest: string;
  let peer: HostProcess;
  const sandboxes: ZeroSandbox[] = [];
  const fresh = () => {
    const sb = zeroSandbox();
    sandboxes.push(sb);
    return sb;
  };

  beforeAll(async () => {
    lan = createLan(2, { subnet: 55 });
    [A, B] = lan.hosts as [NetHost, NetHost];
    work = mkdtempSync(join(tmpdir(), '0share-run-'));
    const impl = join(work, 'impl');
    mkdirSync(impl);
    writeFileSync(join(impl, 'run.sh'), `#!/bin/sh\necho "${LINE}: $*"\nexit 3\n`);
    chmodSync(join(impl, 'run.sh'), 0o755);
    const sbA = fresh();
    digest = addWith0install(sbA, impl);
    feed = join(work, 'hello.xml');
    writeFileSync(
      feed,
      `<?xml version="1.0" ?>
<interface xmlns="http://zero-install.sourceforge.net/2004/injector/interface">
  <name>hello</name>
  <summary>prints a known line</summary>
  <implementation id="hello-1.0" version="1.0">
    <manifest-digest sha256new="${digest.slice('sha256new_'.length)}"/>
    <command name="run" path="run.sh"/>
    <archive href="${ARCHIVE}" size="180"/>
  </implementation>
</interface>
`,
    );
    peer = await startPeer(A, B, sbA, digest);
  }, 120_000);

  afterAll(() => {
    lan?.destroy();
    for (const sb of sandboxes) rmSync(sb.root, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs the program fetched from the peer, passing its arguments and exit status through', () => {
    const sbB = fresh();
    const r = B.exec(process.execPath, [CLI, 'run', feed, 'one', '--two'], { env: { ...sbB.env, ZSHARE_LOG_LEVEL: 'info' } });
    expect(r.stdout, r.stderr).toBe(`${LINE}: one --two\n`);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('fetched from a peer');
    expect(r.stderr).toContain(A.ip);
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
