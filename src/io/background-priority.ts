// Background priority for the serving process, so that a machine stays usable while it serves:
// a CPU nice value (os.setPriority) and the lowest best-effort I/O priority (`ionice -c 2 -n 7`,
// util-linux; skipped quietly where it is missing). Never raises the priority: a process that is
// already nicer keeps its value.
import { execFile } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from './logger.js';

export function lowerPriority(nice: number, log: Logger): void {
  if (nice <= 0) return;
  try {
    if (getPriority() < nice) setPriority(nice);
    log.debug(`CPU priority: nice ${getPriority()}`);
  } catch (err) {
    log.debug(`Could not set nice ${nice}: ${(err as Error).message}`);
  }
  execFile('ionice', ['-c', '2', '-n', '7', '-p', String(process.pid)], (err) => {
    log.debug(err ? `Could not lower the I/O priority: ${err.message}` : 'I/O priority: best-effort, level 7');
  });
}
