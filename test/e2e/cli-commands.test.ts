// The built CLI's command word: `0share bogus` is refused as no command (exit 2) instead of
// being taken as `serve bogus`, while bare `0share [serve options]` still runs the peer and
// `0share -f DIGEST` still fetches; a `-H` host that never answers is named when the window
// ends, by fetch and by query. Loopback only; the silent host is a UDP socket of this test.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/io/store-add.js';
import { runCli, spawnCli } from '../helpers/cli.js';

const DIGEST = 'sha256new_' + 'A'.repeat(52);

describe('0share command words', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  let silent: Socket;
  let silentPort: number;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), '0share-cli-'));
    env = { ...process.env, XDG_CACHE_HOME: join(root, 'cache'), XDG_CACHE_DIRS: join(root, 'syscache'), XDG_CONFIG_HOME: join(root, 'config') };
    // Receives the queries and never answers.
    silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    silentPort = silent.address().port;
  });
  afterAll(async () => {
    silent.close();
    await removeTree(root);
  });

  it.each([[['bogus']], [['--debug', 'bogus', 'x']]])('%j: not a command, exit 2, with the commands listed', (args) => {
    const r = runCli(args, { env });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^0share: 'bogus' is not a 0share command; the commands are serve, fetch, query, .*0share --help/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('serve [options]');
  });

  it('bare `0share` with serve options still runs the peer', async () => {
    const p = spawnCli(['--port', '0', '--bind', '127.0.0.1', '--store', join(root, 'store')], { env });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    const until = Date.now() + 20_000;
    while (!/port \d+ \(UDP/.test(err) && p.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(err).toMatch(/port \d+ \(UDP/);
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('`0share -f DIGEST -H silent-host` fetches, and names the host that did not answer', () => {
    const r = runCli(['-f', DIGEST, '-H', `127.0.0.1:${silentPort}`, '--store', join(root, 'store')], { env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`could not fetch ${DIGEST}: 127.0.0.1 did not answer (UDP ${silentPort}) within 250 ms`);
  });

  it('`0share query` names the host that did not answer too', () => {
    const r = runCli(['query', DIGEST, '-H', `127.0.0.1:${silentPort}`], { env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`no peer offered ${DIGEST} within 250 ms: 127.0.0.1 did not answer (UDP ${silentPort})`);
  });
});
