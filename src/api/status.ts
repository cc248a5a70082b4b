// The peer's pages about itself: gathers a StatusSnapshot from the PeerStats, the stores and the
// limits, and renders it as the status page (`/`) or the `/stats` JSON (src/core/status-page.ts);
// and answers `/implementation/<digest>/have`, which files of a digest this peer holds.
import { type StatusSnapshot, renderStatusPage, STATUS_PAGE_HEADERS, statsDocument, type FetchView } from '../core/status-page.js';
import type { Page } from '../io/page-response.js';
import type { PeerStats } from '../io/peer-stats.js';
import { listPartials } from '../io/partial-holders.js';
import { haveBitmap } from '../io/served-implementation.js';
import { listImplementations } from '../io/stores.js';
import type { Digest } from '../core/digest.js';
import { VERSION } from '../io/version.js';

/** Implementations listed on the page; the rest are only counted. */
const LISTED = 200;

export interface StatusSources {
  readonly stats: PeerStats;
  readonly stores: readonly string[];
  readonly limits: StatusSnapshot['limits'];
  /** Fetches in progress on this machine, and the bytes its fetches received since start. */
  readonly fetches?: () => { inProgress: FetchView[]; bytesReceived: number };
}

export async function statusSnapshot(src: StatusSources): Promise<StatusSnapshot> {
  const impls = await listImplementations(src.stores);
  const fetches = src.fetches?.() ?? { inProgress: [], bytesReceived: 0 };
  const inFlight = await listPartials(src.stores);
  return {
    version: VERSION,
    now: Date.now(),
    startedAt: src.stats.startedAt,
    stores: src.stores,
    implementations: impls.slice(0, LISTED).map((i) => ({ name: i.name, store: i.store })),
    implementationCount: impls.length,
    uploads: src.stats.uploads(),
    fetches: fetches.inProgress,
    inFlight,
    bytesServed: src.stats.bytesServed(),
    bytesReceived: fetches.bytesReceived,
    requests: src.stats.requests,
    recent: src.stats.recent(),
    limits: src.limits,
  };
}

export async function statusPage(src: StatusSources, kind: 'status' | 'stats'): Promise<Page> {
  const snap = await statusSnapshot(src);
  if (kind === 'status') return { headers: STATUS_PAGE_HEADERS, body: renderStatusPage(snap) };
  return {
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' },
    body: `${JSON.stringify(statsDocument(snap), null, 1)}\n`,
  };
}

const NOT_HELD = 'Not found: this peer holds this implementation neither complete nor in flight';

/** `/implementation/<digest>/have`: the bitmap (src/core/have-bitmap.ts), or 404. */
export async function havePage(stores: readonly string[], digest: Digest, fetching = false): Promise<Page> {
  const bits = await haveBitmap(stores, digest, fetching);
  if (!bits) return { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }, body: `${NOT_HELD}\n`, reason: 'not in any store' };
  return { headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' }, body: bits };
}
