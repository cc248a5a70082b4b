// The hash worker: a thread that reads and hashes files for the tree walker, so a big tree hashes
// on two cores. The walker and the worker share one block of memory (`JobRing`): the walker puts
// a file's path in a slot and marks it queued; the worker claims slots in order, checks, opens,
// reads and hashes the file with the walker's own steps (file-steps.ts) and writes back its stat
// fields and hex hash, or the problem. A slot's state changes by compare-and-swap, so the walker
// can take back, newest first, the jobs the worker has not started.
//
// The worker runs `hashWorkerMain` from its source text (`eval`), which works the same from src/
// under the test runner and from dist/; so that function uses nothing from outside itself.
import type { FileProblem, ReaderIds, hashStep as HashStep, openRegular as OpenRegular } from './file-steps.js';

/** Offsets in `ctl` and in a slot, sizes, slot states and results: passed to the worker too. */
export const LAYOUT = {
  slots: 128,
  /**
   * ctl: jobs queued so far (job i is in slot i % slots), jobs the worker has reached, jobs it
   * finished, the stop flag, and whether it is waiting for jobs (so the walker wakes it only
   * when that pays).
   */
  SUBMITTED: 0,
  REACHED: 1,
  FINISHED: 2,
  STOP: 3,
  WAITING: 4,
  ctlWords: 5,
  /** A slot's words: state, result, exec bit, length of its path, length of its text. */
  STATE: 0,
  RESULT: 1,
  EXEC: 2,
  PATH_LEN: 3,
  TEXT_LEN: 4,
  slotWords: 5,
  /** A slot's path (longer ones the walker reads itself), and its text: the hex hash, or `code\nmessage`. */
  pathBytes: 4096,
  textBytes: 256,
  chunk: 1 << 20,
  /** Slot states. */
  FREE: 0,
  QUEUED: 1,
  CLAIMED: 2,
  DONE: 3,
  STOLEN: 4,
  /** Results. */
  OK: 0,
  CHANGED: 1,
  NOT_REGULAR: 2,
  FAILED: 3,
} as const;

export type Layout = typeof LAYOUT;

/** The shared memory of one walk and its worker. */
export interface JobRing {
  ctl: Int32Array;
  slots: Int32Array;
  paths: Uint8Array;
  sizes: Float64Array;
  /** Whole seconds. */
  mtimes: BigInt64Array;
  text: Uint8Array;
  /** Bytes the worker has read so far. */
  progress: BigInt64Array;
}

export function newJobRing(): JobRing {
  const L = LAYOUT;
  const sab = (bytes: number) => new SharedArrayBuffer(bytes);
  return {
    ctl: new Int32Array(sab(4 * L.ctlWords)),
    slots: new Int32Array(sab(4 * L.slotWords * L.slots)),
    paths: new Uint8Array(sab(L.pathBytes * L.slots)),
    sizes: new Float64Array(sab(8 * L.slots)),
    mtimes: new BigInt64Array(sab(8 * L.slots)),
    text: new Uint8Array(sab(L.textBytes * L.slots)),
    progress: new BigInt64Array(sab(8)),
  };
}

export interface WorkerData {
  ring: JobRing;
  layout: Layout;
  name: 'sha1' | 'sha256';
  openFlags: number;
  ids: ReaderIds;
}

/** The worker's whole program; `require` and the steps are given to it by its source text. */
export function hashWorkerMain(require: NodeJS.Require, openRegular: typeof OpenRegular, hashStep: typeof HashStep): void {
  const fs = require('node:fs') as typeof import('node:fs');
  const { createHash, hash } = require('node:crypto') as typeof import('node:crypto');
  const { workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { ring, layout: L, name, openFlags, ids } = workerData as WorkerData;
  const { ctl, slots } = ring;
  const paths = Buffer.from(ring.paths.buffer);
  const text = Buffer.from(ring.text.buffer);
  const buf = Buffer.allocUnsafe(L.chunk);
  const io = { openSync: fs.openSync, lstatSync: fs.lstatSync, closeSync: fs.closeSync, readSync: fs.readSync, createHash, hash, ids };
  const codes = { changed: L.CHANGED, notRegular: L.NOT_REGULAR, failed: L.FAILED };

  for (let next = 0; ; next++) {
    for (;;) {
      const submitted = Atomics.load(ctl, L.SUBMITTED);
      if (submitted > next) break;
      if (Atomics.load(ctl, L.STOP) !== 0) return;
      Atomics.store(ctl, L.WAITING, 1);
      Atomics.wait(ctl, L.SUBMITTED, submitted); // returns at once if a job came meanwhile
      Atomics.store(ctl, L.WAITING, 0);
    }
    Atomics.store(ctl, L.REACHED, next + 1);
    const slot = next % L.slots;
    const at = slot * L.slotWords;
    if (Atomics.compareExchange(slots, at + L.STATE, L.QUEUED, L.CLAIMED) !== L.QUEUED) continue; // taken back

    const path = paths.subarray(slot * L.pathBytes, slot * L.pathBytes + slots[at + L.PATH_LEN]!);
    let problem: FileProblem | undefined;
    let out = '';
    try {
      const file = openRegular(path, openFlags, io);
      if ('problem' in file) problem = file;
      else {
        try {
          for (let done = false; !done; ) {
            const before = file.total;
            done = hashStep(file, buf, name, io);
            Atomics.add(ring.progress, 0, BigInt(file.total - before));
          }
        } finally {
          if (file.fd >= 0) fs.closeSync(file.fd);
        }
        if (file.total === file.size) out = file.hex!;
        else problem = { problem: 'changed' };
        slots[at + L.EXEC] = (file.st.mode & 0o111n) !== 0n ? 1 : 0;
        ring.mtimes[slot] = file.st.mtimeNs / 1_000_000_000n;
        ring.sizes[slot] = file.size;
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      problem = { problem: 'failed', code: e.code ?? '', message: e.message };
    }
    if (problem?.problem === 'failed') out = `${problem.code}\n${problem.message}`;
    slots[at + L.RESULT] = problem === undefined ? L.OK : codes[problem.problem];
    slots[at + L.TEXT_LEN] = text.write(out, slot * L.textBytes, L.textBytes);
    Atomics.store(slots, at + L.STATE, L.DONE);
    Atomics.add(ctl, L.FINISHED, 1);
    Atomics.notify(ctl, L.FINISHED);
  }
}
