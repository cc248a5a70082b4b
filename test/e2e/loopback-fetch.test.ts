// Real processes on loopback: `0share serve` holding implementations added by the real
// `0install store add`, and `0share fetch` / `0share -f` / `0share query` clients with sandboxed
// stores; `0install store verify` is the judge. Also broadcast (to 127.255.255.255), concurrency,
// fallback from a stalled peer, SIGINT in the middle of a transfer leaving no temp dir, and the
// progress bar on a terminal.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeQuery, encodeReply } from '../../src/core/protocol.js';
import { parseDigest } from '../../src/core/digest.js';
import { CLI } from '../helpers/cli.js';
import { need0install, type ZeroSandbox, zeroSandbox, zi, ziResult } from '../helpers/zeroinstall.js';

const run = need0install();

interface Proc {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env: NodeJS.ProcessEnv): Proc {
  const proc = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return { proc, out: () => out, err: () => err, exited };
}

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const p = start(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.out(), stderr: p.err() };
}

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface ServeProc extends Proc {
  port: number;
}

/** Serves both stores of a sandbox (`0install store add` as root writes to the system store). */
async function startServe(sb: ZeroSandbox, bind = '127.0.0.1', extra: string[] = []): Promise<ServeProc> {
  const p = start(['serve', '--port', '0', '--bind', bind, '--store', sb.userStore, '--store', sb.systemStore, ...extra], sb.env);
  let port = 0;
  await waitFor(() => {
    const m = /port (\d+) \(UDP/.exec(p.err());
    if (m) port = Number(m[1]);
    return port > 0 || p.proc.exitCode !== null;
  }, '0share serve to listen');
  if (!port) throw new Error(`0share serve did not start:\n${p.err()}`);
  return { ...p, port };
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill('SIGTERM');
  await p.exited;
}

function tmpLeft(store: string): string[] {
  try {
    return readdirSync(store).filter((n) => n.startsWith('tmp-'));
  } catch {
    return [];
  }
}

/** A tree with an executable, a symlink, a subdirectory and a 2 MiB file, added by `0install store add`. */
function addImplementation(sb: ZeroSandbox, name: string): string {
  const dir = join(sb.root, name);
  mkdirSync(join(dir, 'lib', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'README'), `implementation ${name}\n`);
  writeFileSync(join(dir, 'lib', 'deep', 'data.bin'), Buffer.alloc(2 * 1024 * 1024, name.charCodeAt(0)));
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  const digest = zi(sb, ['store', 'manifest', dir, 'sha256new']).trim().split('\n').at(-1)!;
  zi(sb, ['store', 'add', digest, dir]);
  return digest;
}

/** A peer that offers every digest it is asked about, answers the download with a valid start of a tar, then goes silent. */
class StallingPeer {
  udp!: Socket;
  http!: Server;
  port = 0;
  requests = 0;

  async start(): Promise<void> {
    this.http = createServer((_req, res) => {
      this.requests++;
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      const pack = tar.pack();
      // The client hanging up is the expected end of this conversation.
      pack.on('error', () => undefined);
      res.on('error', () => undefined);
      pack.pipe(res, () => undefined);
      const entry = pack.entry({ name: 'big', size: 64 * 1024 * 1024 });
      entry.on('error', () => undefined);
      entry.write(Buffer.alloc(256 * 1024, 1));
      // …and nothing more: the entry never completes.
    });
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', () => r()));
    this.port = (this.http.address() as AddressInfo).port;
    this.udp = createSocket('udp4');
    await new Promise<void>((r) => this.udp.bind(this.port, '127.0.0.1', () => r()));
    this.udp.on('message', (msg, rinfo) => {
      const q = decodeQuery(msg);
      if (q.ok) for (const b of encodeReply(q.digests)) this.udp.send(b, rinfo.port, rinfo.address);
    });
  }

  async stop(): Promise<void> {
    this.udp.close();
    this.http.closeAllConnections();
    await new Promise((r) => this.http.close(r));
  }
}

describe.skipIf(!run)('0share fetch against 0share serve on loopback (real processes, real 0install)', () => {
  let a: ZeroSandbox;
  let digest: string;
  let digest2: string;
  let peer: ServeProc;
  const sandboxes: ZeroSandbox[] = [];

  function client(): ZeroSandbox {
    const sb = zeroSandbox();
    sandboxes.push(sb);
    return sb;
  }

  beforeAll(async () => {
    a = zeroSandbox();
    digest = addImplementation(a, 'alpha');
    digest2 = addImplementation(a, 'beta');
    peer = await startServe(a);
  });

  afterAll(async () => {
    await stop(peer);
    for (const sb of [a, ...sandboxes]) if (sb) rmSync(sb.root, { recursive: true, force: true });
  });

  it('0share -f DIGEST -H fetches into the user store, and 0install store verify accepts it', async () => {
    const b = client();
    const r = await cli(['-f', digest, '-H', `127.0.0.1:${peer.port}`], b.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`127.0.0.1:${peer.port} has ${digest}`);
    expect(r.stdout).toMatch(/\nSuccess\n$/);
    expect(r.stderr).toContain(`Connecting to 127.0.0.1:${peer.port} to request ${digest}`);
    const path = join(b.userStore, digest);
    const v = ziResult(b, ['store', 'verify', path]);
    expect(v.status, v.stderr).toBe(0);
    // 0install itself now finds it.
    expect(ziResult(b, ['store', 'find', digest]).stdout.trim()).toBe(path);
    expect(tmpLeft(b.userStore)).toEqual([]);
  });

  it('on a terminal (script(1)), shows a progress bar that reaches 100%', () => {
    const b = client();
    const line = [process.execPath, CLI, 'fetch', '-H', `127.0.0.1:${peer.port}`, digest].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', line, '/dev/null'], { env: b.env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toContain(digest.slice(0, 24));
    expect(r.stdout).toMatch(/\[#+\] 100% \| /);
    expect(r.stdout).toContain('Success');
  });

  it('fetches several digests at once; a second run reports them cached without fetching', async () => {
    const b = client();
    const r = await cli(['fetch', digest, digest2, '-H', `127.0.0.1:${peer.port}`], b.env);
    expect(r.code, r.stderr).toBe(0);
    for (const d of [digest, digest2]) expect(ziResult(b, ['store', 'verify', join(b.userStore, d)]).status).toBe(0);
    const again = await cli(['fetch', digest, digest2, '-H', `127.0.0.1:${peer.port}`, '--json'], b.env);
    expect(again.code).toBe(0);
    const json = JSON.parse(again.stdout) as { ok: boolean; results: Array<{ digest: string; status: string; bytes: number }> };
    expect(json.ok).toBe(true);
    expect(json.results.map((x) => [x.digest, x.status, x.bytes])).toEqual([
      [digest, 'cached', 0],
      [digest2, 'cached', 0],
    ]);
  });

  it('finds the peer by broadcast (127.255.255.255) and fetches with --store', async () => {
    const wide = await startServe(a, '0.0.0.0', ['--allow', '127.0.0.0/8', '--no-mdns', '--skip-iface', '*']);
    try {
      const b = client();
      const store = join(b.root, 'explicit-store');
      const r = await cli(['fetch', digest, '--port', String(wide.port), '--store', store, '--broadcast', '127.255.255.255', '--timeout', '1000'], b.env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`127\\.0\\.0\\.1:${wide.port} has ${digest}`));
      expect(ziResult(b, ['store', 'verify', join(store, digest)]).status).toBe(0);
    } finally {
      await stop(wide);
    }
  });

  it('ZSHARE_BROADCAST overrides the broadcast targets for query', async () => {
    const wide = await startServe(a, '0.0.0.0', ['--allow', '127.0.0.0/8', '--no-mdns', '--skip-iface', '*']);
    try {
      const r = await cli(['query', digest, '--port', String(wide.port), '--json', '--timeout', '1000'], { ...a.env, ZSHARE_BROADCAST: '127.255.255.255' });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ [digest]: [{ host: '127.0.0.1', port: wide.port }] });
    } finally {
      await stop(wide);
    }
  });

  it('a digest nobody has fails quickly with a message saying what to try', async () => {
    const b = client();
    const missing = 'sha256new_' + 'Q'.repeat(52);
    const began = Date.now();
    const r = await cli(['fetch', missing, '-H', `127.0.0.1:${peer.port}`], b.env);
    expect(r.code).toBe(1);
    expect(Date.now() - began).toBeLessThan(15_000);
    // A peer holding none of the digests asked for stays silent: named as a host that did not answer.
    expect(r.stderr).toContain(`0share: could not fetch ${missing}: 127.0.0.1 did not answer (UDP ${peer.port}) within 250 ms`);
    expect(r.stderr).toContain('UDP and TCP');
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(r.stdout).not.toContain('Success');
  });

  it('query reports who has what and fails for what nobody has', async () => {
    const missing = 'sha1new=' + 'a'.repeat(40);
    const r = await cli(['query', digest, missing, '-H', `127.0.0.1:${peer.port}`], a.env);
    expect(r.stdout).toBe(`127.0.0.1:${peer.port} has ${digest}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no peer offered ${missing}`);
  });

  it('rejects a malformed digest and a bad -H with a clear message', async () => {
    const bad = await cli(['fetch', 'sha256new_nope'], a.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("'sha256new_nope' is not a valid sha256new digest");
    const host = await cli(['fetch', digest, '-H', 'no-such-host.invalid'], client().env);
    expect(host.code).toBe(1);
    expect(host.stderr).toContain('-H no-such-host.invalid: cannot resolve that host name');
  });

  it('two fetches of the same digest at once both succeed and leave one good entry', async () => {
    const b = client();
    const args = ['fetch', digest, '-H', `127.0.0.1:${peer.port}`];
    const [r1, r2] = await Promise.all([cli(args, b.env), cli(args, b.env)]);
    expect([r1.code, r2.code], r1.stderr + r2.stderr).toEqual([0, 0]);
    expect(readdirSync(b.userStore)).toEqual([digest]);
    expect(ziResult(b, ['store', 'verify', join(b.userStore, digest)]).status).toBe(0);
  });

  describe('with a peer that stalls mid-transfer', () => {
    const staller = new StallingPeer();
    beforeAll(() => staller.start());
    afterAll(() => staller.stop());

    it('drops it after --stall-timeout, says so, and gets the implementation from the next peer', async () => {
      const b = client();
      // The staller is asked first, so it is usually the first to answer.
      const r = await cli(['fetch', digest, '-H', `127.0.0.1:${staller.port}`, '-H', `127.0.0.1:${peer.port}`, '--stall-timeout', '500', '--timeout', '400'], b.env);
      expect(r.code, r.stderr).toBe(0);
      expect(ziResult(b, ['store', 'verify', join(b.userStore, digest)]).status).toBe(0);
      if (r.stderr.includes(`127.0.0.1:${staller.port} stalled`)) expect(r.stderr).toMatch(/stalled: (no data for 500 ms after|less than \d+ bytes in 500 ms)/);
      expect(tmpLeft(b.userStore)).toEqual([]);
    });

    it('alone, it fails the fetch with a message naming the peer; nothing is left in the store', async () => {
      const b = client();
      const r = await cli(['fetch', digest, '-H', `127.0.0.1:${staller.port}`, '--stall-timeout', '300', '--timeout', '100'], b.env);
      expect(r.code).toBe(1);
      expect(r.stderr, r.stderr).toMatch(new RegExp(`every peer that offered it failed:\\n    127\\.0\\.0\\.1:${staller.port} stalled: (no data for 300 ms after \\d+ bytes|less than \\d+ bytes in 300 ms)`));
      expect(readdirSync(b.userStore)).toEqual([]);
    });

    it('SIGINT in the middle of the transfer removes the temp dir', async () => {
      const b = client();
      const p = start(['fetch', digest, '-H', `127.0.0.1:${staller.port}`, '--stall-timeout', '60000'], b.env);
      await waitFor(() => tmpLeft(b.userStore).length > 0 && readdirSync(join(b.userStore, tmpLeft(b.userStore)[0]!)).length > 0, 'the download to start writing');
      p.proc.kill('SIGINT');
      const { code } = await p.exited;
      expect(code).toBe(130);
      expect(p.err()).toContain('interrupted');
      expect(readdirSync(b.userStore)).toEqual([]);
    });
  });

  it('--selections fetches what no store has (by best digest), reports what is cached, skips packages and local paths', async () => {
    const b = client();
    // B already holds digest2; digest is missing.
    const pre = await cli(['fetch', digest2, '-H', `127.0.0.1:${peer.port}`], b.env);
    expect(pre.code, pre.stderr).toBe(0);
    const NS = 'http://zero-install.sourceforge.net/2004/injector/interface';
    const sha1 = 'sha1new=' + 'f'.repeat(40);
    const xml = `<?xml version="1.0" ?>
<selections command="run" interface="http://example.com/prog.xml" xmlns="${NS}">
  <selection id="${sha1}" interface="http://example.com/prog.xml" version="1.0">
    <manifest-digest ${digest.replace('sha256new_', 'sha256new="')}"/>
  </selection>
  <selection id="lib-2" interface="http://example.com/lib.xml" version="2">
    <manifest-digest ${digest2.replace('sha256new_', 'sha256new="')}"/>
  </selection>
  <selection id="package:deb:python3:3.11" interface="http://example.com/python.xml" version="3.11"/>
  <selection id="." local-path="/opt/thing" interface="http://example.com/local.xml"/>
</selections>`;
    const file = join(b.root, 'selections.xml');
    writeFileSync(file, xml);
    const r = await cli(['fetch', '--selections', file, '-H', `127.0.0.1:${peer.port}`, '--json'], b.env);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout) as { ok: boolean; results: Array<{ interface: string; digest: string; status: string }> };
    expect(json.results.map((x) => [x.interface, x.digest, x.status])).toEqual([
      ['http://example.com/prog.xml', digest, 'committed'],
      ['http://example.com/lib.xml', digest2, 'cached'],
    ]);
    expect(ziResult(b, ['store', 'verify', join(b.userStore, digest)]).status).toBe(0);
    const bad = await cli(['fetch', '--selections', join(b.root, 'nope.xml')], b.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('cannot read the selections document');
  });

  it('--system adds to the system store (here writable: the sandbox runs as this user)', async () => {
    const b = client();
    const r = await cli(['fetch', digest, '-H', `127.0.0.1:${peer.port}`, '--system'], b.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`into ${join(b.systemStore, digest)}`);
    expect(ziResult(b, ['store', 'verify', join(b.systemStore, digest)]).status).toBe(0);
    expect(tmpLeft(b.userStore)).toEqual([]);
  });

  for (const [mode, modeArgs] of [['swarm mode (the default)', []], ['the whole tar', ['--whole-tar']]] as const) it(`${mode}: a full disk fails cleanly: one clear message, no other peer blamed, nothing left`, async (ctx) => {
    if (process.getuid?.() !== 0) {
      process.stderr.write('\n*** SKIPPING the full-disk test: mounting a small tmpfs needs root ***\n\n');
      ctx.skip();
    }
    const b = client();
    const small = join(b.root, 'small-disk');
    mkdirSync(small);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    if (mount.status !== 0) {
      process.stderr.write(`\n*** SKIPPING the full-disk test: mount failed: ${mount.stderr}***\n\n`);
      ctx.skip();
    }
    try {
      const store = join(small, 'store');
      const r = await cli(['fetch', digest, '-H', `127.0.0.1:${peer.port}`, '--store', store, ...modeArgs], b.env);
      expect(r.code).toBe(1);
      expect(r.stderr, r.stderr).toMatch(/could not store it: could not write it here: .*(ENOSPC|no space)/i);
      expect(r.stderr).toContain('Free some space');
      expect(r.stderr).not.toContain('every peer that offered it failed');
      expect(readdirSync(store)).toEqual([]);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('a sha1new digest works too', async () => {
    const dir = join(a.root, 'old');
    mkdirSync(dir);
    writeFileSync(join(dir, 'file'), 'old style\n');
    const d = zi(a, ['store', 'manifest', dir, 'sha1new']).trim().split('\n').at(-1)!;
    expect(parseDigest(d).alg).toBe('sha1new');
    zi(a, ['store', 'add', d, dir]);
    const b = client();
    const r = await cli(['-f', d, '-H', `127.0.0.1:${peer.port}`], b.env);
    expect(r.code, r.stderr).toBe(0);
    expect(ziResult(b, ['store', 'verify', join(b.userStore, d)]).status).toBe(0);
  });
});
