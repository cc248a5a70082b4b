// The tree walker's side of the hash worker (hash-worker.ts): queues the paths of regular files
// for it while the walk goes on and collects their manifest fields. The worker starts only once
// the walk has met enough work to pay for its start-up (about 60 ms of CPU, and as long before it
// reads its first file), and when `mayStart` allows (by default: a core is idle). The walker
// reads a file itself whenever the queue is full, and at the end takes back queued files newest
// first while the worker goes on from the oldest, so both finish together.
import { Worker } from 'node:worker_threads';
import { hashStep, openRegular, readerIds } from './file-steps.js';
import { type JobRing, LAYOUT as L, hashWorkerMain, newJobRing } from './hash-worker.js';
import { problemError } from './tree-error.js';

/** About what one non-empty file's system calls (lstat, open, read, close) cost, in bytes of hashing. */
export const FILE_COST = 32 * 1024;
/** By default the worker starts once the walk has met this much work (bytes, FILE_COST per non-empty file). */
export const START_AFTER = 8 * 1024 * 1024;
/** A waiting worker is woken once this many jobs wait for it (a wake-up costs system calls). */
const WAKE_JOBS = 8;

/** A file's manifest fields, filled in once it is read. */
export interface FileFields {
  exec: boolean;
  mtime: bigint;
  size: number;
  hash: string;
}

/** The walker reading a file itself (one taken back from the worker); throws its TreeError. */
export type ReadHere = (full: Buffer, fields: FileFields) => Promise<void>;

interface Job {
  full: Buffer;
  fields: FileFields;
}

type WaitAsync = (a: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string };

export class HashOffload {
  private ring?: JobRing;
  private worker?: Worker;
  private exited: Promise<void> = Promise.resolve();
  private dead = false;
  private readonly jobs: Array<Job | undefined> = [];
  /** Job ids: the oldest not yet collected, the first taken back, the next. Job `id` is in slot `id % L.slots`. */
  private head = 0;
  private tail = 0;
  private next = 0;
  /** The work at which to ask `mayStart` (again: each time the work seen has doubled). */
  private startAt: number;
  /** The failed job that comes first in the walk. */
  private failure?: { id: number; error: Error };

  constructor(
    private readonly name: 'sha1' | 'sha256',
    private readonly openFlags: number,
    startAfter: number,
    private readonly mayStart: () => boolean = () => true,
  ) {
    this.startAt = startAfter;
  }

  /** Bytes the worker has read so far. */
  get bytes(): number {
    return this.ring ? Number(Atomics.load(this.ring.progress, 0)) : 0;
  }

  /**
   * Queues the file at `full` for the worker, or returns false: the walker reads it itself.
   * `work`: what the walk has met so far, the bytes the walker has hashed plus FILE_COST for each
   * non-empty file it has read (an empty one costs one lstat, less than a job for the worker).
   */
  offer(full: Buffer, fields: FileFields, work: number): boolean {
    if (this.ring === undefined) {
      if (work < this.startAt) return false;
      if (!this.mayStart()) {
        this.startAt = 2 * work;
        return false;
      }
      this.start();
    }
    if (this.dead || full.length > L.pathBytes) return false;
    this.collect();
    if (this.next - this.head >= L.slots) return false;
    const ring = this.ring!;
    const slot = this.next % L.slots;
    const at = slot * L.slotWords;
    this.jobs[slot] = { full, fields };
    ring.paths.set(full, slot * L.pathBytes);
    ring.slots[at + L.PATH_LEN] = full.length;
    Atomics.store(ring.slots, at + L.STATE, L.QUEUED);
    Atomics.store(ring.ctl, L.SUBMITTED, ++this.next);
    this.tail = this.next;
    if (Atomics.load(ring.ctl, L.WAITING) === 1 && this.next - Atomics.load(ring.ctl, L.REACHED) >= WAKE_JOBS) {
      Atomics.notify(ring.ctl, L.SUBMITTED, 1);
    }
    return true;
  }

  /** Throws the error of a queued file that failed, the first in the walk. */
  check(): void {
    if (this.failure) throw this.failure.error;
  }

  /** After the walk: reads here, newest first, what the worker has not reached; waits for the rest; stops it. */
  async finish(readHere: ReadHere): Promise<void> {
    if (this.ring === undefined) return;
    for (let id = this.takeBack(); id !== undefined; id = this.takeBack()) {
      const job = this.release(id);
      try {
        await readHere(job.full, job.fields);
      } catch (err) {
        this.fail(id, err as Error);
        throw err;
      }
    }
    await this.drain();
    this.stop();
    this.check();
  }

  /**
   * After a failed walk: waits for the file the worker is reading and stops it. Given `readHere`
   * (a failure, not an abort), it first reads here the queued files the worker has not reached,
   * oldest first, up to the first that fails. Returns the first error among the queued files,
   * which comes before the walk's own error in the walk.
   */
  async abandon(readHere?: ReadHere): Promise<Error | undefined> {
    if (this.ring === undefined) return undefined;
    const ids: number[] = [];
    for (let id = this.takeBack(); id !== undefined; id = this.takeBack()) ids.unshift(id);
    for (const id of ids) {
      const job = this.release(id);
      if (readHere === undefined || (this.failure !== undefined && this.failure.id < id)) continue;
      await readHere(job.full, job.fields).catch((err: unknown) => this.fail(id, err as Error));
    }
    await this.drain();
    this.stop();
    return this.failure?.error;
  }

  private start(): void {
    this.ring = newJobRing();
    try {
      const worker = new Worker(`(${hashWorkerMain})(require, ${openRegular}, ${hashStep})`, {
        eval: true,
        workerData: { ring: this.ring, layout: L, name: this.name, openFlags: this.openFlags, ids: readerIds() },
      });
      // An uncaught error in the worker is followed by its exit; the file it held is reported then.
      worker.on('error', () => {});
      this.exited = new Promise((resolve) =>
        worker.once('exit', () => {
          this.dead = true;
          resolve();
        }),
      );
      this.worker = worker;
    } catch {
      this.dead = true; // no thread: the walker reads everything itself
    }
  }

  /** The newest job the worker has not reached, now the walker's; undefined when there is none. */
  private takeBack(): number | undefined {
    const id = this.tail - 1;
    if (id < this.head) return undefined;
    const at = (id % L.slots) * L.slotWords + L.STATE;
    if (Atomics.compareExchange(this.ring!.slots, at, L.QUEUED, L.STOLEN) !== L.QUEUED) return undefined; // the worker has it, and all older ones
    this.tail = id;
    return id;
  }

  /** Collects the jobs the worker has finished, in order. */
  private collect(): void {
    const ring = this.ring!;
    for (; this.head < this.next; this.head++) {
      const state = Atomics.load(ring.slots, (this.head % L.slots) * L.slotWords + L.STATE);
      if (state === L.DONE) this.settle(this.head);
      else if (state !== L.FREE) return;
    }
  }

  private settle(id: number): void {
    const ring = this.ring!;
    const slot = id % L.slots;
    const at = slot * L.slotWords;
    const text = Buffer.from(ring.text.buffer, slot * L.textBytes, ring.slots[at + L.TEXT_LEN]!).toString();
    const result = ring.slots[at + L.RESULT];
    const { full, fields } = this.release(id);
    if (result === L.OK) {
      fields.exec = ring.slots[at + L.EXEC] === 1;
      fields.mtime = ring.mtimes[slot]!;
      fields.size = ring.sizes[slot]!;
      fields.hash = text;
    } else if (result === L.CHANGED) this.fail(id, problemError({ problem: 'changed' }, full));
    else if (result === L.NOT_REGULAR) this.fail(id, problemError({ problem: 'notRegular' }, full));
    else {
      const nl = text.indexOf('\n');
      this.fail(id, problemError({ problem: 'failed', code: text.slice(0, nl), message: text.slice(nl + 1) }, full));
    }
  }

  /** Frees a job's slot and returns the job. */
  private release(id: number): Job {
    const slot = id % L.slots;
    const job = this.jobs[slot]!;
    this.jobs[slot] = undefined;
    Atomics.store(this.ring!.slots, slot * L.slotWords + L.STATE, L.FREE);
    return job;
  }

  /** Waits until every job the worker has claimed is finished, collecting them. */
  private async drain(): Promise<void> {
    const ring = this.ring!;
    for (;;) {
      const finished = Atomics.load(ring.ctl, L.FINISHED);
      this.collect();
      if (this.head >= this.tail) return;
      if (this.dead) {
        // The worker died reading this file (its fds close with it).
        this.fail(this.head, new Error(`the hash worker stopped while reading '${this.release(this.head).full.toString()}'`));
        continue;
      }
      const wait = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(ring.ctl, L.FINISHED, finished);
      if (wait.async) await Promise.race([wait.value, this.exited]);
    }
  }

  private stop(): void {
    Atomics.store(this.ring!.ctl, L.STOP, 1);
    Atomics.notify(this.ring!.ctl, L.SUBMITTED);
    this.worker?.unref();
  }

  private fail(id: number, error: Error): void {
    if (this.failure === undefined || id < this.failure.id) this.failure = { id, error };
  }
}
