// Starts the real `0share serve` on 127.0.0.1 with --port 0 (debug logs captured) and finds the
// port it logs; stop() sends SIGTERM and waits for the exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './cli.js';

export interface CliPeer {
  proc: ChildProcess;
  port: number;
  log: () => string;
  stop: () => Promise<void>;
}

export async function startCliPeer(store: string, extra: string[] = [], opts: { env?: NodeJS.ProcessEnv; asNobody?: boolean } = {}): Promise<CliPeer> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--bind', '127.0.0.1', '--store', store, ...extra], {
    env: { ...(opts.env ?? process.env), ZSHARE_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.asNobody ? { uid: 65534, gid: 65534 } : {}),
  });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const m = /Listening on 127\.0\.0\.1 port (\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    };
    proc.stderr!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`0share serve exited (${code}):\n${log}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  return { proc, port, log: () => log, stop };
}
