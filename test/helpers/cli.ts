// Runs the built CLI (dist/bin/0share.js) as a real process. `npm test` builds first.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/bin/0share.js', import.meta.url));

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: opts.env ?? process.env, encoding: 'utf8', input: opts.input, timeout: opts.timeout ?? 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function spawnCli(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) {
  return spawn(process.execPath, [CLI, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
}
