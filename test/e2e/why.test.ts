// `0share why` on loopback: fetches report their record to the local peer (a real `0share serve`),
// and `why` explains the last one: a lying peer (test/helpers/fake-peer.mjs --mode wrong) named with
// its reason, the honest peer the bytes came from. Without a local peer, fetch still works and
// `why` says that no local peer runs. The local endpoints refuse what is not a loopback JSON
// record of bounded size.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type CliPeer, startCliPeer } from '../helpers/cli-peer.js';
import { storeImplementation, tempDir } from '../helpers/trees.js';

const HOST = '127.0.0.1';
const FAKE_PEER = fileURLToPath(new URL('../helpers/fake-peer.mjs', import.meta.url));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function post(port: number, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, method: 'POST', path: '/local/fetches', headers: { 'Content-Type': 'application/json', ...headers }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('0share why', () => {
  const tmp = tempDir('0share-why-');
  let digest: string;
  let honest: CliPeer;
  let local: CliPeer;
  let liar: ChildProcess;
  let liarPort: number;

  beforeAll(async () => {
    const store = join(tmp.dir, 'store');
    ({ digest } = await storeImplementation(join(tmp.dir, 'src'), store, { hello: 'hello from the honest peer\n' }));
    honest = await startCliPeer(store);
    mkdirSync(join(tmp.dir, 'empty'));
    local = await startCliPeer(join(tmp.dir, 'empty'));
    liarPort = await freePort();
    liar = spawn(process.execPath, [FAKE_PEER, '--mode', 'wrong', '--port', String(liarPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => liar.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
  });

  afterAll(async () => {
    liar?.kill('SIGTERM');
    await Promise.all([honest?.stop(), local?.stop()]);
    await tmp.cleanup();
  });

  it('after a fetch from a lying peer alone, names the liar and the reason', () => {
    const into = join(tmp.dir, 'client1');
    const f = runCli(['fetch', digest, '--store', into, '--port', String(local.port), '-H', `${HOST}:${liarPort}`]);
    expect(f.status).toBe(1);
    const why = runCli(['why', digest, '--port', String(local.port)]);
    console.log(`[why] after a fetch from a liar:\n${why.stdout}`);
    expect(why.status, why.stderr).toBe(0);
    expect(why.stdout).toContain(`${digest}: fetched at `);
    expect(why.stdout).toMatch(/failed \(/);
    expect(why.stdout).toContain(`asked: ${HOST}:${liarPort}`);
    expect(why.stdout).toContain(`answered: ${HOST}:${liarPort}`);
    expect(why.stdout).toMatch(new RegExp(`transfer from ${HOST}:${liarPort}: failed: sent data that does not match the digest`));
  });

  it('after a fetch beside an honest peer, says where the bytes came from (and why the liar failed, if it was tried)', () => {
    const into = join(tmp.dir, 'client2');
    const f = runCli(['fetch', digest, '--store', into, '--port', String(local.port), '-H', `${HOST}:${liarPort}`, '-H', `${HOST}:${honest.port}`]);
    expect(f.status, f.stderr).toBe(0);
    const why = runCli(['why', digest, '--port', String(local.port)]);
    expect(why.stdout).toContain('fetched and verified');
    expect(why.stdout).toContain(`transfer from ${HOST}:${honest.port}: sent it`);
    expect(why.stdout).toContain(`the bytes came from ${HOST}:${honest.port}; stored in ${join(into, digest)}`);
    if (why.stdout.includes(`transfer from ${HOST}:${liarPort}`)) expect(why.stdout).toContain(`transfer from ${HOST}:${liarPort}: failed: sent data that does not match the digest`);
    const json = JSON.parse(runCli(['why', digest, '--json', '--port', String(local.port)]).stdout) as { state: string; source: string; attempts: unknown[] };
    expect(json).toMatchObject({ state: 'committed', source: `${HOST}:${honest.port}` });
  });

  it('without a local peer, fetch still works and why says no local peer runs', async () => {
    const none = await freePort();
    const into = join(tmp.dir, 'client3');
    const f = runCli(['fetch', digest, '--store', into, '--port', String(none), '-H', `${HOST}:${honest.port}`]);
    expect(f.status, f.stderr).toBe(0);
    const why = runCli(['why', digest, '--port', String(none)]);
    expect(why.status).toBe(1);
    expect(why.stderr).toContain(`no local peer is running on port ${none}`);
  });

  it('why for a digest never fetched says so', () => {
    const why = runCli(['why', `sha1new=${'0'.repeat(40)}`, '--port', String(local.port)]);
    expect(why.status).toBe(1);
    expect(why.stderr).toContain('the local peer knows no fetch of sha1new=');
  });

  it('the local endpoint refuses bad records, large bodies, other content types and foreign Host headers', async () => {
    const good = { id: 'x1', digest, startedAt: 1, updatedAt: 2, state: 'asking', asked: [], answered: [], attempts: [], bytes: 0 };
    expect((await post(local.port, JSON.stringify(good))).status).toBe(204);
    expect((await post(local.port, JSON.stringify({ ...good, state: 'pwned' }))).status).toBe(400);
    expect((await post(local.port, '{not json')).status).toBe(400);
    expect((await post(local.port, JSON.stringify({ ...good, name: 'x'.repeat(200_000) }))).status).toBe(413);
    expect((await post(local.port, JSON.stringify(good), { 'Content-Type': 'text/plain' })).status).toBe(415);
    // DNS rebinding: a page of evil.example resolved to 127.0.0.1 is still not a local client.
    expect((await post(local.port, JSON.stringify(good), { Host: 'evil.example' })).status).toBe(403);
  });
});
