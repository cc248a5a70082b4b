// Errors that quote the network stay short: a fake peer (test/helpers/fake-peer.mjs, on loopback)
// serves a tar whose entry name is 1 MiB long, with an escape character in it. The fetch is
// refused with a message under 400 bytes that names the problem, shows the control character
// escaped, and stderr as a whole stays small; nothing reaches the store.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/io/store-add.js';
import { runCli } from '../helpers/cli.js';

const FAKE_PEER = fileURLToPath(new URL('../helpers/fake-peer.mjs', import.meta.url));
const DIGEST = 'sha256new_' + 'B'.repeat(52);

/** A port free for both TCP and UDP on loopback just now. */
async function freePort(): Promise<number> {
  for (;;) {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    udp.close();
    if (ok) return port;
  }
}

describe('an error quoting a hostile entry name', () => {
  let root: string;
  let port: number;
  let peer: ReturnType<typeof spawn>;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), '0share-names-'));
    port = await freePort();
    peer = spawn(process.execPath, [FAKE_PEER, '--mode', 'longname', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      peer.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      peer.once('exit', () => reject(new Error('the fake peer exited')));
    });
  });
  afterAll(async () => {
    peer?.kill('SIGTERM');
    await removeTree(root);
  });

  it('fails with a message under 400 bytes that names the problem; stderr stays small', () => {
    const store = join(root, 'store');
    const env = { ...process.env, XDG_CACHE_HOME: join(root, 'cache'), XDG_CACHE_DIRS: join(root, 'syscache'), XDG_CONFIG_HOME: join(root, 'config') };
    const r = runCli(['fetch', DIGEST, '-H', `127.0.0.1:${port}`, '--store', store], { env });
    expect(r.status).toBe(1);
    const at = r.stderr.indexOf('0share: ');
    expect(at).toBeGreaterThanOrEqual(0);
    const message = r.stderr.slice(at);
    expect(Buffer.byteLength(message)).toBeLessThan(400);
    expect(message).toContain(`could not fetch ${DIGEST}`);
    expect(message).toMatch(/sent too much: entry "x\\u001b\[31ma+…" \(1048582 bytes\) has a path longer than 4095 bytes/);
    expect(r.stderr).not.toContain('\u001b');
    expect(Buffer.byteLength(r.stderr)).toBeLessThan(2000);
    expect(existsSync(store) ? readdirSync(store) : []).toEqual([]);
  });
});
