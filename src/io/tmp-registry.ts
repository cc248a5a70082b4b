// Every temp dir this process creates while receiving an implementation is registered here,
// so that SIGINT or SIGTERM in the middle of a fetch removes them all before the process dies.
// The signal handlers exist only while a temp dir is live, and re-raise the signal afterwards so
// the process still ends the way it would have.
import { chmodSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
const live = new Set<string>();

/** Removes a tree, read-only (store-form) directories too; throws only if the final rmSync fails. */
export function removeTreeSync(path: string): void {
  const unlock = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    if ((st.mode & 0o700) !== 0o700) {
      try {
        chmodSync(p, (st.mode & 0o777) | 0o700);
      } catch {
        /* removal below reports nothing either: best effort on the way out */
      }
    }
    let names: string[] = [];
    try {
      names = readdirSync(p);
    } catch {
      /* unreadable: rmSync will try anyway */
    }
    for (const n of names) unlock(join(p, n));
  };
  unlock(path);
  rmSync(path, { recursive: true, force: true });
}

function onSignal(signal: NodeJS.Signals): void {
  removeAllTmpDirsSync();
  uninstall();
  // Nobody else handles it: die of the signal as if we had never listened.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Registers a temp dir that must not survive the process. */
export function trackTmpDir(path: string): void {
  live.add(path);
  install();
}

/** The temp dir was committed or removed. */
export function untrackTmpDir(path: string): void {
  live.delete(path);
  if (live.size === 0) uninstall();
}

/** Removes every registered temp dir now (synchronously: used on the way out). */
export function removeAllTmpDirsSync(): void {
  for (const p of live) {
    try {
      removeTreeSync(p);
    } catch {
      /* keep going: the others must still go */
    }
  }
  live.clear();
}
