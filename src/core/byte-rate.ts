// A token bucket for bytes, shared by every upload (`--max-upload-rate`): each chunk spends its
// size and is sent once the bucket is no longer in debt. The bucket holds at most `burst` bytes
// and refills at `perSecond`; a chunk larger than what is left puts it in debt, and `spend`
// returns how long to wait before sending. Pure logic: the caller passes the time.

export class ByteRate {
  private tokens: number;
  private at: number | undefined;

  constructor(
    readonly perSecond: number,
    private readonly burst = Math.max(64 * 1024, Math.floor(perSecond / 10)),
  ) {
    if (!(perSecond > 0)) throw new RangeError(`rate must be positive, not ${perSecond}`);
    this.tokens = burst;
  }

  /** Spends `bytes` at `now` (ms); returns the ms to wait before sending them (0: now). */
  spend(bytes: number, now: number): number {
    if (this.at !== undefined) this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) * this.perSecond) / 1000);
    this.at = Math.max(now, this.at ?? now);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.perSecond);
  }
}
