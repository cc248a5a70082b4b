// Runs the real 0install: `0install select --xml` to learn what a program needs, and
// `0install run|download` to hand over, with the terminal, the exit status and signals passed
// through. Only the `0install` binary found on PATH is ever executed.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const osSignals = constants.signals as Partial<Record<NodeJS.Signals, number>>;

const ZEROINSTALL = '0install';

export type SelectResult =
  | { ok: true; xml: string }
  | { ok: false; code: number | null; signal: NodeJS.Signals | null; spawnError?: Error };

/** `0install select --xml [options] URI`: stdout is captured, stdin and stderr stay the user's
 * (0install may ask to trust a key, and its messages appear exactly as it prints them). */
export function selectXml(options: readonly string[], uri: string, env: NodeJS.ProcessEnv = process.env): Promise<SelectResult> {
  return new Promise((resolve) => {
    const child = spawn(ZEROINSTALL, ['select', '--xml', ...options, '--', uri], { env, stdio: ['inherit', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', (spawnError) => resolve({ ok: false, code: null, signal: null, spawnError }));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ ok: true, xml: Buffer.concat(chunks).toString('utf8') });
      else resolve({ ok: false, code, signal });
    });
  });
}

export type ExitStatus = { code: number; signal?: undefined } | { code?: undefined; signal: NodeJS.Signals };

const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
/** Delivered by the terminal to the whole foreground group, so the child gets them itself. */
const TERMINAL: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

/** `0install VERB [args…]` with the user's stdio, like a shell running it: terminal signals are
 * left to the child, SIGTERM/SIGHUP sent to us are forwarded. Resolves with how it ended. */
export function handOver(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    const child = spawn(ZEROINSTALL, args, { env, stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    const ignore = () => {};
    for (const s of FORWARDED) process.on(s, forward);
    for (const s of TERMINAL) process.on(s, ignore);
    const cleanup = () => {
      for (const s of FORWARDED) process.off(s, forward);
      for (const s of TERMINAL) process.off(s, ignore);
    };
    child.on('error', (err) => {
      cleanup();
      reject(err);
    });
    child.on('exit', (code, signal) => {
      cleanup();
      resolve(signal ? { signal } : { code: code ?? 1 });
    });
  });
}

/** Ends this process the way the child ended: same exit code, or killed by the same signal. */
export function exitLike(status: ExitStatus): void {
  if (status.signal) {
    process.removeAllListeners(status.signal);
    process.kill(process.pid, status.signal);
    // Should the signal not end us (it does by default), end with the shell's code for it.
    setTimeout(() => process.exit(128 + (osSignals[status.signal] ?? 0)), 1000);
    return;
  }
  process.exit(status.code);
}
