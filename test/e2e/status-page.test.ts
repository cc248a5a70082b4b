// The status page in a real browser (Debian's headless Chromium through playwright-core): loaded
// while a client holds a download open without reading, it shows that upload's progress; a store
// path and a request target holding <script> are shown as text, never run; a screenshot is kept
// in test-artifacts/status.png. Also /stats as JSON, and 403 for sources outside --allow.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { storeImplementation, tempDir } from '../helpers/trees.js';

const HOST = '127.0.0.1';
const CHROMIUM = '/usr/bin/chromium';
const EVIL = '<script>window.pwned=1</script>';
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`*** ${CHROMIUM} is missing (apt-get install chromium): skipping the browser tests of the status page ***`);

function get(port: number, path: string, localAddress = HOST): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: HOST, port, path, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** Sends a request as written and returns the socket, paused after the first bytes arrive. */
function stalledDownload(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOST, port, localAddress: '127.0.0.2' }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-0share-Encoding: tar\r\n\r\n`));
    s.once('data', () => {
      s.pause();
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The raw request line reaches the peer unencoded, as an attacker would send it. */
function rawRequest(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOST, port }, () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

describe.skipIf(!HAVE_CHROMIUM)('status page in headless Chromium', () => {
  const tmp = tempDir('0share-status-');
  let store: string;
  let digest: string;
  let peer: ServeHandle;
  let browser: BrowserContext;

  beforeAll(async () => {
    store = join(tmp.dir, EVIL, 'store');
    // Large enough that the socket buffers cannot take it all: the upload stays in progress.
    ({ digest } = await storeImplementation(join(tmp.dir, 'src'), store, { big: randomBytes(48 * 1024 * 1024) }));
    peer = await serve({ port: 0, bind: HOST, stores: [store], allow: ['127.0.0.1/32', '127.0.0.2/32'] });
    browser = await chromium.launchPersistentContext(join(tmp.dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await peer?.close();
    await tmp.cleanup();
  });

  it('shows an upload in progress with its progress, and names holding <script> as text', async () => {
    expect(await rawRequest(peer.address.port, `/${EVIL}`)).toMatch(/^HTTP\/1\.1 404/);
    const client = await stalledDownload(peer.address.port, `/implementation/${digest}`);
    try {
      // Wait until the peer has counted bytes for it (progress is reported every 200 ms).
      for (let i = 0; i < 100 && (peer.stats.uploads()[0]?.bytes ?? 0) < 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 50));
      const page = await browser.newPage();
      const scripts: string[] = [];
      page.on('console', (m) => scripts.push(m.text()));
      const res = await page.goto(`http://${HOST}:${peer.address.port}/`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toMatch(/^default-src 'none'/);
      const row = page.locator('tr.upload', { hasText: digest });
      await expect(row.count()).resolves.toBe(1);
      expect(await row.innerText()).toContain('127.0.0.2');
      const bar = row.locator('progress');
      const value = Number(await bar.getAttribute('value'));
      const max = Number(await bar.getAttribute('max'));
      expect(max).toBe(48 * 1024 * 1024);
      expect(value).toBeGreaterThan(0);
      expect(value).toBeLessThan(max);
      expect(await row.innerText()).toMatch(/of 48\.0 MiB \(\d+%\)/);

      // The store path and the request target are text: no script element, nothing ran.
      expect(await page.locator('script').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
      expect(await page.locator('ul.stores').innerText()).toContain(`${EVIL}/store`);
      expect(await page.locator('tr.request', { hasText: EVIL }).count()).toBe(1);
      expect(await page.locator('ul.implementations').innerText()).toContain(digest);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'status.png'), fullPage: true });
      expect(scripts).toEqual([]);
      await page.close();
    } finally {
      client.destroy();
    }
  });

  it('shows a local fetch in progress; a name holding <script> reported for it is shown as text', async () => {
    const record = { id: 'f1', digest, name: `http://example.com/${EVIL}.xml`, startedAt: Date.now(), updatedAt: Date.now(), state: 'transferring', asked: ['10.0.0.255:38339 (broadcast)'], answered: [], attempts: [{ peer: `10.0.0.7:38339`, outcome: 'transferring', bytes: 1024 * 1024, expected: 4 * 1024 * 1024 }], bytes: 1024 * 1024 };
    const posted = await new Promise<number>((resolve, reject) => {
      const req = request({ host: HOST, port: peer.address.port, method: 'POST', path: '/local/fetches', headers: { 'Content-Type': 'application/json' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end(JSON.stringify(record));
    });
    expect(posted).toBe(204);
    const page = await browser.newPage();
    await page.goto(`http://${HOST}:${peer.address.port}/`);
    const row = page.locator('tr.fetch', { hasText: digest });
    expect(await row.innerText()).toContain(`http://example.com/${EVIL}.xml`);
    expect(await row.innerText()).toMatch(/transferring\s+10\.0\.0\.7:38339\s+1\.0 MiB of 4\.0 MiB \(25%\)/);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
    await page.screenshot({ path: join(ARTIFACTS, 'status-fetch.png'), fullPage: true });
    await page.close();
  });

  it('/stats is the same as JSON, with version, implementation count and uptime', async () => {
    const r = await get(peer.address.port, '/stats');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    const doc = JSON.parse(r.body) as Record<string, unknown>;
    expect(doc).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), implementations: 1, stores: [store] });
    expect(typeof doc.uptimeSeconds).toBe('number');
    expect(doc.requests).toBeGreaterThan(0);
    // The recent list has the other requests, not the page's own loads (/ twice and /stats by now).
    const recent = doc.recent as Array<{ target: string; status: number }>;
    expect(recent).toContainEqual(expect.objectContaining({ target: `/${EVIL}`, status: 404 }));
    expect(recent.filter((q) => q.target === '/' || q.target === '/stats')).toEqual([]);
  });

  it('sources outside --allow get 403 for the page and the stats', async () => {
    for (const path of ['/', '/stats']) expect((await get(peer.address.port, path, '127.0.0.3')).status).toBe(403);
  });
});
