// Reports this process's fetches to the peer on this machine (for `0share why` and the status
// page): builds one FetchRecord per digest from the fetch events (src/core/fetch-record.ts) and
// posts it to the local peer over loopback, at most one post in flight per digest and progress at
// most every 500 ms. Best effort: once the peer is found missing nothing more is sent, and the
// final flush waits at most FLUSH_MS.
import { randomBytes } from 'node:crypto';
import { formatDigest } from '../core/digest.js';
import { type FetchRecord, newRecord, type RecordEvent, recordEvent } from '../core/fetch-record.js';
import type { TransferFailure } from '../machines/transfer.machine.js';
import { peerKey } from '../machines/types.js';
import type { FetchEvent } from './fetch.js';

const POST_TIMEOUT_MS = 300;
const PROGRESS_EVERY_MS = 500;
const FLUSH_MS = 300;

const FAILURES: Record<TransferFailure, string> = {
  'no-reply': 'no peer offered it within the discovery window',
  'peers-failed': 'every peer that offered it failed',
  cancelled: 'cancelled',
  local: 'could not store it here',
};

export interface ReporterOptions {
  /** The local peer's port. */
  readonly port: number;
  /** Names to show for digests (e.g. interface URIs). */
  readonly names?: ReadonlyMap<string, string>;
}

interface Slot {
  record: FetchRecord;
  /** A post in flight. */
  inFlight?: Promise<void>;
  /** The record changed since the last post began. */
  dirty: boolean;
  lastPost: number;
}

export class FetchReporter {
  private readonly slots = new Map<string, Slot>();
  private gone = false;

  constructor(private readonly opts: ReporterOptions) {}

  /** Where the query went, for every digest this process is fetching. */
  asked(digests: readonly string[], targets: readonly string[]): void {
    for (const d of digests) this.apply(d, { type: 'asked', targets }, true);
  }

  /** Feeds one fetch event. */
  onEvent(e: FetchEvent): void {
    if (e.type === 'done') {
      const r = e.result;
      const failure = r.failure && (r.localError ? `could not store it here: ${r.localError}` : r.sendError ? `could not send the query: ${r.sendError}` : FAILURES[r.failure]);
      const ev: RecordEvent = { type: 'done', status: r.status, peer: r.peer && peerKey(r.peer), bytes: r.bytes, path: r.path, failure };
      this.apply(formatDigest(r.digest), ev, true);
      return;
    }
    // The per-source byte counts of a swarm fetch are not part of the record yet: its attempts
    // carry each peer's bytes, and the reused local bytes are left out.
    if (e.type === 'sources') return;
    const peer = peerKey(e.peer);
    const ev: RecordEvent =
      e.type === 'progress' ? { type: 'progress', peer, bytes: e.bytes, expected: e.expected }
      : e.type === 'peer-failed' ? { type: 'peer-failed', peer, reason: e.reason }
      : e.type === 'reply' ? { type: 'reply', peer, via: e.via, ...(e.sameAs ? { sameAs: peerKey(e.sameAs) } : {}) }
      : { type: e.type, peer };
    this.apply(e.digest, ev, e.type !== 'progress');
  }

  /** Sends what is not sent yet; waits at most FLUSH_MS. */
  async flush(): Promise<void> {
    const all = [...this.slots.values()].map(async (s) => {
      await s.inFlight;
      if (s.dirty) await this.post(s);
    });
    await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, FLUSH_MS).unref())]);
  }

  private apply(digest: string, e: RecordEvent, now: boolean): void {
    let s = this.slots.get(digest);
    if (!s) {
      s = { record: newRecord(randomBytes(8).toString('hex'), digest, Date.now(), this.opts.names?.get(digest)), dirty: false, lastPost: 0 };
      this.slots.set(digest, s);
    }
    s.record = recordEvent(s.record, e, Date.now());
    s.dirty = true;
    if (!s.inFlight && (now || Date.now() - s.lastPost >= PROGRESS_EVERY_MS)) void this.post(s);
  }

  private post(s: Slot): Promise<void> {
    if (this.gone) return Promise.resolve();
    s.dirty = false;
    s.lastPost = Date.now();
    // The HTTP client loads with the first post, not with the fetch code (run's start-up).
    const p = import('../io/local-peer-client.js').then(({ postFetchRecord }) => postFetchRecord(this.opts.port, s.record, POST_TIMEOUT_MS)).then((a) => {
      if (a.kind === 'no-peer') this.gone = true;
      s.inFlight = undefined;
      // What changed while this post was in flight goes next (a final state at once).
      if (s.dirty && !this.gone && (s.record.state !== 'asking' && s.record.state !== 'transferring')) return this.post(s);
    });
    s.inFlight = p;
    return p;
  }
}
