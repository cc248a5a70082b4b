// A Readable for a producer that pushes into it (the tar packer, the piece route's reader), with
// its backpressure: `push` notes when the stream says it has enough, `drained` waits until its
// `read()` asks again (or it is destroyed), and both throw once the stream is closed or the signal
// aborted, so the producer stops at its next step.
import { Readable } from 'node:stream';

export class PushGate {
  readonly out: Readable;
  /** The stream said it has enough: wait before producing more. */
  private blocked = false;
  private wanted?: () => void;

  constructor(
    /** What the error says when the stream was closed under the producer. */
    private readonly closed: string,
    private readonly signal?: AbortSignal,
  ) {
    this.out = new Readable({
      read: () => this.want(),
      destroy: (err, cb) => {
        this.want();
        cb(err);
      },
    });
  }

  get isBlocked(): boolean {
    return this.blocked;
  }

  /** The stream wants data, or was destroyed. */
  private want(): void {
    this.blocked = false;
    const w = this.wanted;
    this.wanted = undefined;
    w?.();
  }

  /** Throws if the stream was closed or the signal aborted. */
  check(): void {
    this.signal?.throwIfAborted();
    if (this.out.destroyed) throw new Error(this.closed);
  }

  /** Waits until the stream wants more, if it said it has enough. */
  async drained(): Promise<void> {
    this.check();
    if (!this.blocked) return;
    await new Promise<void>((resolve) => (this.wanted = resolve));
    this.check();
  }

  /** Pushes a chunk (null: the end). */
  push(chunk: Buffer | null): void {
    this.check();
    if (!this.out.push(chunk)) this.blocked = true;
  }
}
