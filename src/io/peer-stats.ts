// The running peer's counters, kept in memory for the status page and /stats: uploads in
// progress (with their bytes so far), bytes served since start, requests answered, and a bounded
// list of the latest requests. The HTTP adapter feeds it; src/api/status.ts reads it.
import type { RequestView, UploadView } from '../core/status-page.js';

/** Requests kept for the page. */
const RECENT = 30;

interface Upload {
  peer: string;
  what: string;
  bytes: number;
  expected?: number;
  startedAt: number;
}

export class PeerStats {
  readonly startedAt = Date.now();
  /** Requests answered since start (pages included). */
  requests = 0;
  /** Body bytes of uploads that have ended. */
  private servedEnded = 0;
  private nextId = 1;
  private readonly active = new Map<number, Upload>();
  private readonly latest: RequestView[] = [];

  /** An upload starts; returns its id for progress() and endUpload(). */
  beginUpload(peer: string, what: string, expected?: number): number {
    const id = this.nextId++;
    this.active.set(id, { peer, what, bytes: 0, expected, startedAt: Date.now() });
    return id;
  }

  progress(id: number, bytes: number): void {
    const u = this.active.get(id);
    if (u) u.bytes = bytes;
  }

  /** The upload ended (done or not) after sending `bytes` (default: the last progress). Idempotent. */
  endUpload(id: number, bytes?: number): void {
    const u = this.active.get(id);
    if (!u) return;
    this.active.delete(id);
    this.servedEnded += bytes ?? u.bytes;
  }

  /** A request was answered; `listed` false keeps it out of the recent list (the page's own refreshes). */
  request(view: RequestView, listed = true): void {
    this.requests++;
    if (!listed) return;
    this.latest.unshift(view);
    if (this.latest.length > RECENT) this.latest.pop();
  }

  uploads(): UploadView[] {
    return [...this.active.values()].map((u) => ({ ...u }));
  }

  bytesServed(): number {
    let n = this.servedEnded;
    for (const u of this.active.values()) n += u.bytes;
    return n;
  }

  recent(): RequestView[] {
    return [...this.latest];
  }
}
