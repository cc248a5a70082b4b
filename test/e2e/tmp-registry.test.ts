// The temp-dir registry: a process killed by SIGTERM/SIGINT while it holds temp dirs removes
// them (read-only ones too) and still dies of the signal; with none registered it leaves no
// handler behind. Runs the built module (dist/) in a child process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../dist/io/tmp-registry.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), '0share-reg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const script = (dirs: string[]) => `
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { trackTmpDir, untrackTmpDir } from ${JSON.stringify(MODULE)};
const dirs = ${JSON.stringify(dirs)};
for (const d of dirs) {
  mkdirSync(d + '/sub', { recursive: true });
  writeFileSync(d + '/sub/file', 'x');
  chmodSync(d + '/sub/file', 0o444);
  chmodSync(d + '/sub', 0o555);
  trackTmpDir(d);
}
trackTmpDir('/nonexistent/0share-test');
untrackTmpDir('/nonexistent/0share-test');
console.log('ready ' + process.listenerCount('SIGINT'));
setInterval(() => {}, 1000);
`;

function runUntilReady(dirs: string[]) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script(dirs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<string>((resolve) => child.stdout!.on('data', (d: Buffer) => resolve(d.toString().trim())));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  return { child, ready, exited };
}

describe('tmp registry', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} removes every registered temp dir, then the process dies of ${signal}`, async () => {
      const dirs = [join(root, `${signal}-a`), join(root, `${signal}-b`)];
      const p = runUntilReady(dirs);
      expect(await p.ready).toBe('ready 1');
      expect(dirs.every((d) => existsSync(d))).toBe(true);
      p.child.kill(signal);
      expect(await p.exited).toBe(signal);
      expect(dirs.some((d) => existsSync(d))).toBe(false);
    });
  }

  it('installs no signal handler while nothing is registered', async () => {
    const p = runUntilReady([]);
    expect(await p.ready).toBe('ready 0');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe('SIGTERM');
  });
});
