// Whether a CPU core is idle right now, so that a second thread would run beside this one rather
// than compete on a busy machine: Linux's count of runnable tasks (the fourth field of
// /proc/loadavg, this thread included) below the cores this process may use. Where that file
// is missing the answer is yes.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export function idleCore(): boolean {
  let loadavg: string;
  try {
    loadavg = readFileSync('/proc/loadavg', 'latin1');
  } catch {
    return true;
  }
  const running = Number.parseInt(loadavg.split(' ')[3] ?? '', 10);
  return Number.isNaN(running) || running < availableParallelism();
}
