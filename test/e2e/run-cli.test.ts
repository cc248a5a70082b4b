// `0share run|download` as real processes with the real 0install, on this machine only (the few
// peer queries go by unicast to loopback, never to the LAN): arguments, exit status and signals
// pass through; failures look exactly like 0install's own.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { feedXml } from '../helpers/feed.mjs';
import { addWith0install, scratch } from '../helpers/lan-fixture.js';
import { need0install, type ZeroSandbox, ziResult } from '../helpers/zeroinstall.js';

const ARCHIVE = 'http://127.0.0.1:1/prog-1.0.tar.gz';
/** Peers are asked on loopback only, on a port where nothing answers. */
const NO_PEERS = ['-H', '127.0.0.1', '--port', '9', '--timeout', '200'];
const normalize = (s: string) => s.replace(/after \d+ ms/g, 'after N ms');

describe.skipIf(!need0install())('0share run and download (single machine)', () => {
  let work: string;
  let feed: string;
  let digest: string;
  const tmp = scratch('0share-runcli-');
  const { fresh } = tmp;
  let cached: ZeroSandbox;

  beforeAll(() => {
    work = tmp.work;
    const impl = join(work, 'impl');
    mkdirSync(impl);
    // Prints its arguments, one per line; `die` makes it kill itself with SIGTERM.
    writeFileSync(join(impl, 'prog'), '#!/bin/sh\nfor a in "$@"; do echo "arg: $a"; done\ncase " $* " in *" die "*) kill -TERM $$;; esac\nexit 5\n');
    chmodSync(join(impl, 'prog'), 0o755);
    cached = fresh();
    digest = addWith0install(cached, impl);
    feed = join(work, 'prog.xml');
    const commands = ['<command name="run" path="prog"><arg>first</arg></command>', '<command name="other" path="prog"><arg>other</arg></command>'];
    writeFileSync(feed, feedXml({ name: 'prog', summary: 'prints its arguments', digest, archive: ARCHIVE, commands: commands.join('\n    ') }));
  });

  afterAll(() => {
    tmp.remove();
  });

  it('runs a cached program with its arguments (options included) and passes its exit status through', () => {
    const r = runCli(['run', feed, 'a b', '--help', '-H', 'x'], { env: cached.env });
    expect(r.stdout).toBe('arg: first\narg: a b\narg: --help\narg: -H\narg: x\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(5);
  });

  it('passes 0install options such as --command to select and run', () => {
    const r = runCli(['run', '--command', 'other', feed], { env: cached.env });
    expect(r.stdout).toBe('arg: other\n');
    expect(r.status).toBe(5);
  });

  it('ends by the same signal as the program', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', feed, 'die'], { env: cached.env, encoding: 'utf8' });
    expect(r.stdout).toBe('arg: first\narg: die\n');
    expect(r.signal).toBe('SIGTERM');
  });

  it('downloads: nothing to do when everything is cached', () => {
    const r = runCli(['download', feed], { env: cached.env });
    expect(r.status, r.stderr).toBe(0);
  });

  it('fails exactly like `0install run` when 0install select fails', () => {
    const sb = fresh();
    const bad = join(work, 'no-such-feed.xml');
    const ours = runCli(['run', bad], { env: sb.env });
    const theirs = ziResult(sb, ['run', bad]);
    expect(ours.status).toBe(theirs.status);
    expect(ours.stderr).toBe(theirs.stderr);
    expect(ours.stderr).toMatch(/Bad interface name/);
  });

  it('when no peer has it, hands over and fails exactly like `0install run`', () => {
    const sb = fresh();
    const ours = runCli(['run', ...NO_PEERS, feed], { env: sb.env });
    const theirs = ziResult(sb, ['run', feed]);
    expect(theirs.status).not.toBe(0);
    expect(ours.status).toBe(theirs.status);
    expect(normalize(ours.stderr)).toBe(normalize(theirs.stderr));
    expect(ours.stderr).toContain(ARCHIVE);
  });

  it('with --offline asks no peer and behaves like `0install download --offline`', () => {
    const sb = fresh();
    const ours = runCli(['download', '--offline', ...NO_PEERS, feed], { env: sb.env });
    const theirs = ziResult(sb, ['download', '--offline', feed]);
    expect(ours.status).toBe(theirs.status);
    expect(ours.stderr).toBe(theirs.stderr);
  });

  it('downloads from a loopback peer into the system store with --system', async () => {
    const port = 38000 + (process.pid % 1000);
    const peer = spawn(process.execPath, [CLI, 'serve', '--bind', '127.0.0.1', '--port', String(port)], { env: cached.env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let log = '';
      peer.stderr.on('data', (d: Buffer) => (log += d.toString()));
      for (let i = 0; i < 100 && !/Listening/.test(log); i++) await new Promise((r) => setTimeout(r, 50));
      expect(log).toMatch(/Listening/);
      const sb = fresh();
      const r = runCli(['download', '--system', '-H', '127.0.0.1', '--port', String(port), feed], { env: sb.env });
      expect(r.status, r.stderr).toBe(0);
      expect(readdirSync(sb.systemStore)).toEqual([digest]);
      expect(existsSync(sb.userStore) ? readdirSync(sb.userStore) : []).toEqual([]);
      expect(ziResult(sb, ['store', 'verify', join(sb.systemStore, digest)]).status).toBe(0);
    } finally {
      peer.kill('SIGTERM');
    }
  });

  it('prints help, and usage errors name the option', () => {
    const h = runCli(['run', '--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('Usage: 0share run [options] URI [ARGS...]');
    expect(h.stdout).toContain('--system');
    const bad = runCli(['run', '--timeout', 'soon', feed]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--timeout must be a whole number from 1 to 600000, not 'soon'");
    const none = runCli(['download']);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('Usage: 0share download');
  });
});
