// The fetch records that processes on this machine report to the local peer (POST
// /local/fetches), kept in memory only: a bounded set of the latest, one per fetch id, for
// `0share why` (GET /local/fetches/<digest>) and for the status page's fetches in progress.
import type { FetchRecord, FetchState } from '../core/fetch-record.js';
import type { FetchView } from '../core/status-page.js';

/** Records kept at most; the least recently updated go first. */
const KEPT = 200;
/** A fetch in progress that reported nothing for this long is shown no more (its process died). */
const STALE_MS = 60_000;

const RUNNING: readonly FetchState[] = ['asking', 'transferring'];

export class LocalFetches {
  private readonly byId = new Map<string, FetchRecord>();
  /** Bytes the reported fetches received, since the peer started. */
  bytesReceived = 0;

  put(r: FetchRecord): void {
    const old = this.byId.get(r.id);
    if (old && old.digest !== r.digest) return; // an id names one fetch of one digest
    this.bytesReceived += Math.max(0, r.bytes - (old?.bytes ?? 0));
    this.byId.delete(r.id);
    this.byId.set(r.id, r);
    if (this.byId.size > KEPT) this.byId.delete(this.byId.keys().next().value!);
  }

  /** The latest fetch of `digest` (by start time), if any. */
  latest(digest: string): FetchRecord | undefined {
    let best: FetchRecord | undefined;
    for (const r of this.byId.values()) if (r.digest === digest && (!best || r.startedAt >= best.startedAt)) best = r;
    return best;
  }

  inProgress(now: number): FetchView[] {
    return [...this.byId.values()]
      .filter((r) => RUNNING.includes(r.state) && now - r.updatedAt < STALE_MS)
      .map((r) => {
        const current = r.attempts.at(-1);
        const live = current?.outcome === 'transferring' ? current : undefined;
        return { digest: r.digest, name: r.name, state: r.state, peer: live?.peer, bytes: live?.bytes ?? 0, expected: live?.expected, updatedAt: r.updatedAt };
      });
  }
}
