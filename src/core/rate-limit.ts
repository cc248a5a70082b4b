// Token buckets per source (for the UDP responder): each key may spend `burst` tokens at once and
// regains `perSecond` tokens a second. Pure logic: the caller passes the time. Memory is bounded:
// beyond `maxKeys` sources the least recently seen bucket is forgotten (a forgotten source only
// gets a fresh, full bucket, which `burst` already allows).

export interface RateLimitOptions {
  /** Tokens a source can spend at once. */
  burst: number;
  /** Tokens regained per second. */
  perSecond: number;
  /** Sources remembered at most. */
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  /** ms timestamp of the last refill */
  at: number;
}

export interface RateLimiter {
  /** Spends `cost` tokens of `key` at time `now` (ms); false (and nothing spent) when too few are left. */
  take(key: string, now: number, cost?: number): boolean;
  /** Number of sources currently remembered. */
  readonly size: number;
}

/** The bucket's tokens at `now`: refilled for the elapsed time, never above `burst`. */
function refill(bucket: Bucket, now: number, opts: Pick<RateLimitOptions, 'burst' | 'perSecond'>): number {
  const elapsed = Math.max(0, now - bucket.at);
  return Math.min(opts.burst, bucket.tokens + (elapsed * opts.perSecond) / 1000);
}

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  if (!(opts.burst > 0 && opts.perSecond > 0 && opts.maxKeys > 0)) {
    throw new RangeError('rate limit: burst, perSecond and maxKeys must be positive');
  }
  const buckets = new Map<string, Bucket>();
  return {
    take(key, now, cost = 1) {
      const old = buckets.get(key);
      const tokens = old ? refill(old, now, opts) : opts.burst;
      // Re-insert so Map order is least-recently-seen first.
      buckets.delete(key);
      const ok = tokens >= cost;
      buckets.set(key, { tokens: ok ? tokens - cost : tokens, at: Math.max(now, old?.at ?? now) });
      if (buckets.size > opts.maxKeys) buckets.delete(buckets.keys().next().value!);
      return ok;
    },
    get size() {
      return buckets.size;
    },
  };
}
