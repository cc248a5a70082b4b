// Who may start an upload: at most `maxUploads` at once in total, and a fair share per source
// address, so one host cannot hold every slot while another waits. A source's share is
// ceil(maxUploads / contenders), where the contenders are the sources holding slots, the sources
// turned away for want of a free slot in the last `waitingMs` (they will retry, see Retry-After),
// and the asking source. A source alone gets every slot; once another source waits or holds one,
// a source at or above its share is refused even while slots are free. Slots are never taken
// back: a source above its share keeps what it holds and gets no more until it is below it.
// Pure logic: the caller passes the time.

/** Sources remembered as waiting at most. */
const MAX_WAITING = 4096;

export type Admission = { ok: true } | { ok: false; reason: 'full' | 'share' };

export interface UploadSlotsOptions {
  readonly maxUploads: number;
  /** ms a source refused for want of a slot counts as waiting. */
  readonly waitingMs: number;
}

export class UploadSlots {
  private readonly held = new Map<string, number>();
  /** Sources refused for want of a slot, and when. */
  private readonly waiting = new Map<string, number>();
  private total = 0;

  constructor(private readonly opts: UploadSlotsOptions) {
    if (!Number.isInteger(opts.maxUploads) || opts.maxUploads < 1) throw new RangeError(`maxUploads must be a positive integer, not ${opts.maxUploads}`);
  }

  /** Uploads in progress. */
  get active(): number {
    return this.total;
  }

  /** Slots `source` may hold at time `now`. */
  share(source: string, now: number): number {
    this.forgetWaiting(now);
    const contenders = new Set([...this.held.keys(), ...this.waiting.keys(), source]);
    return Math.ceil(this.opts.maxUploads / contenders.size);
  }

  /** Takes a slot for `source` at `now`, or says why not. Call release(source) once per slot taken. */
  admit(source: string, now: number): Admission {
    const mine = this.held.get(source) ?? 0;
    if (this.total >= this.opts.maxUploads) {
      // Latest refusal last; the table is bounded, the longest-waiting forgotten first.
      this.waiting.delete(source);
      this.waiting.set(source, now);
      if (this.waiting.size > MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value!);
      return { ok: false, reason: 'full' };
    }
    if (mine >= this.share(source, now)) return { ok: false, reason: 'share' };
    this.waiting.delete(source);
    this.held.set(source, mine + 1);
    this.total++;
    return { ok: true };
  }

  release(source: string): void {
    const mine = this.held.get(source) ?? 0;
    if (mine === 0) return;
    if (mine === 1) this.held.delete(source);
    else this.held.set(source, mine - 1);
    this.total--;
  }

  private forgetWaiting(now: number): void {
    for (const [source, at] of this.waiting) if (now - at >= this.opts.waitingMs) this.waiting.delete(source);
  }
}
