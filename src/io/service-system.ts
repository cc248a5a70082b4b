// The system side of `0share service`: which init system runs this machine, whether a user
// exists, where the running 0share really is and whether another user can read it, and carrying
// out the steps of a plan (src/core/service-unit.ts): commands, the unit file, its check.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { type InitSystem, type Step, UNIT_NAME } from '../core/service-unit.js';

/** systemd runs this machine when /run/systemd/system exists (sd_booted(3)); otherwise cron starts the peer. */
export function detectInit(): InitSystem {
  return existsSync('/run/systemd/system') ? 'systemd' : 'cron';
}

export function userExists(user: string): boolean {
  const r = spawnSync('getent', ['passwd', user], { stdio: 'ignore' });
  if (!r.error) return r.status === 0;
  // No getent: the local passwd file.
  return readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith(`${user}:`));
}

export function onPath(cmd: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)));
}

/** The real paths of the running node and of the CLI it runs (npm's bin link, 0install's store: followed). */
export function runningCli(): { node: string; cli: string } {
  return { node: realpathSync(process.execPath), cli: realpathSync(process.argv[1]!) };
}

/** The first of `path` and its parent directories that other users can't read or enter, if any. */
export function unreadableByOthers(path: string): string | undefined {
  const file = statSync(path);
  if ((file.mode & 0o004) === 0) return path;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The unit shipped with the package (systemd/0share.service), the template of the installed one. */
export function unitTemplate(): string {
  return readFileSync(new URL('../../systemd/0share.service', import.meta.url), 'utf8');
}

export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function run(argv: readonly string[]): string | undefined {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  if (r.error) return `\`${argv.join(' ')}\` could not run: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${argv[0]} is not installed` : r.error.message}`;
  return r.status === 0 ? undefined : `\`${argv.join(' ')}\` failed (exit status ${r.status ?? r.signal})`;
}

/** `systemd-analyze verify` of a unit text, written as 0share.service in a temp dir of its own. */
export function verifyUnit(unit: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), '0share-unit-'));
  try {
    const file = join(dir, UNIT_NAME);
    writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    if (r.error) return { ok: false, output: r.error.message };
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Carries out one step; returns what went wrong, or undefined. */
export function carryOut(step: Step): string | undefined {
  switch (step.kind) {
    case 'run':
      return run(step.argv);
    case 'verify': {
      const v = verifyUnit(step.unit);
      if (v.output.trim() !== '') process.stderr.write(v.output.endsWith('\n') ? v.output : `${v.output}\n`);
      return v.ok ? undefined : '`systemd-analyze verify` rejects the unit (its messages are above); nothing was installed';
    }
    case 'write': {
      // Whole or not at all: a temp file next to it, then a rename.
      const tmp = `${step.path}.tmp-${process.pid}`;
      try {
        writeFileSync(tmp, step.text, { mode: 0o644 });
        renameSync(tmp, step.path);
        return undefined;
      } catch (err) {
        rmSync(tmp, { force: true });
        return `cannot write ${step.path}: ${(err as Error).message}`;
      }
    }
    case 'remove':
      try {
        rmSync(step.path, { force: true });
        return undefined;
      } catch (err) {
        return `cannot remove ${step.path}: ${(err as Error).message}`;
      }
    case 'tell':
      process.stdout.write(`${step.text}\n`);
      return undefined;
  }
}
