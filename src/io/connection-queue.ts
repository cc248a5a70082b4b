// One HTTP connection's requests, served one at a time and in order (HTTP/1.1 pipelining), all
// within one upload slot: the slot a request takes stays with the connection while more of its
// requests wait, and goes back when none is waiting or the connection closes. Without this every
// pipelined request took a slot of its own at once and got a 503 that never reached the client.
// A connection with many requests waiting stops being read until they are served.
import type { Socket } from 'node:net';

/** Waiting requests at which the socket stops being read, and below which it is read again. */
const PAUSE_AT = 32;
const RESUME_BELOW = 8;

/** Takes an upload slot: its release function, or why there is none (`Refusal`). */
export type Acquire<Refusal extends string | undefined> = () => (() => void) | Refusal;

export class ConnectionQueue<Refusal extends string | undefined> {
  private readonly waiting: Array<(done: () => void) => void> = [];
  private running = false;
  private closed = false;
  private paused = false;
  private slot: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly acquire: Acquire<Refusal>,
  ) {
    socket.once('close', () => this.close());
  }

  /** Runs `start` once the connection's earlier requests are done; `start` calls `done` when its request ends. */
  enqueue(start: (done: () => void) => void): void {
    if (this.closed) return;
    this.waiting.push(start);
    if (this.waiting.length >= PAUSE_AT && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    this.next();
  }

  /**
   * The upload slot for the request being served: the connection's, taken now if it holds none
   * (or the refusal). The release it returns is a no-op: the slot is the connection's.
   */
  acquireUpload(): (() => void) | Refusal {
    if (!this.slot) {
      const got = this.acquire();
      if (typeof got !== 'function') return got;
      this.slot = got;
    }
    return () => {};
  }

  private next(): void {
    if (this.running || this.closed) return;
    const start = this.waiting.shift();
    if (!start) {
      this.releaseSlot();
      return;
    }
    if (this.paused && this.waiting.length < RESUME_BELOW) {
      this.paused = false;
      this.socket.resume();
    }
    this.running = true;
    let finished = false;
    start(() => {
      if (finished) return;
      finished = true;
      this.running = false;
      this.next();
    });
  }

  private releaseSlot(): void {
    this.slot?.();
    this.slot = undefined;
  }

  /** The connection closed: requests still waiting are dropped (nobody can read their answers). */
  private close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.releaseSlot();
  }
}
