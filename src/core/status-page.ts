// What a peer shows about itself: the facts (a StatusSnapshot, gathered by src/api/status.ts), the
// status page at `/` rendered from them as plain HTML, and the `/stats` JSON document. Pure
// functions. Every text from outside (store paths, request targets, addresses, names a fetching
// process reported) goes through escapeHtml; the page needs no script or style, so it is served
// under `Content-Security-Policy: default-src 'none'` and refreshes itself with a meta refresh.
import { formatBytes, formatDuration } from './format-units.js';

/** An upload this peer is serving. */
export interface UploadView {
  readonly peer: string;
  /** What is served: the digest, with `/manifest` for a manifest. */
  readonly what: string;
  readonly bytes: number;
  /** Size of the tree's files, when the peer knows it. */
  readonly expected?: number;
  /** ms since the epoch. */
  readonly startedAt: number;
}

/** A fetch by a process on this machine, as it reported itself (see fetch-record.ts). */
export interface FetchView {
  readonly digest: string;
  /** A name for it, such as the interface URI it was selected for. */
  readonly name?: string;
  /** `asking`, `transferring`, `committed`, `failed`, … */
  readonly state: string;
  readonly peer?: string;
  readonly bytes: number;
  readonly expected?: number;
  readonly updatedAt: number;
}

/** A fetch in flight on this machine that this peer shares (a partial holder): its verified files so far. */
export interface InFlightView {
  readonly digest: string;
  readonly store: string;
  /** Files and symlinks verified so far, of `files`. */
  readonly verified: number;
  readonly files: number;
}

/** One finished request. */
export interface RequestView {
  readonly at: number;
  readonly method: string;
  readonly target: string;
  readonly status: number;
  readonly bytes: number;
  readonly ms: number;
  readonly peer: string;
  /** Why it ended early, for a request that was not served in full. */
  readonly note?: string;
}

export interface StatusSnapshot {
  readonly version: string;
  /** ms since the epoch. */
  readonly now: number;
  readonly startedAt: number;
  readonly stores: readonly string[];
  /** The implementation directories served (possibly only the first ones). */
  readonly implementations: readonly { readonly name: string; readonly store: string }[];
  /** All implementations served, also those not listed. */
  readonly implementationCount: number;
  readonly uploads: readonly UploadView[];
  /** Fetches in progress on this machine. */
  readonly fetches: readonly FetchView[];
  /** Fetches in flight on this machine whose verified files this peer serves. */
  readonly inFlight: readonly InFlightView[];
  /** Body bytes sent to clients since start (finished and running uploads). */
  readonly bytesServed: number;
  /** Bytes this machine's fetches received since the peer started, as they reported. */
  readonly bytesReceived: number;
  /** Requests answered since start. */
  readonly requests: number;
  /** The latest requests, newest first. */
  readonly recent: readonly RequestView[];
  readonly limits: { readonly maxUploads: number; readonly maxUploadRate?: number };
}

/** The headers that go with the page: nothing may load or run, nothing may frame it. */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Seconds between refreshes of the page. */
export const REFRESH_SECONDS = 2;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside an element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** `<progress>` and the text beside it; without a known size, just the bytes. */
function progress(bytes: number, expected: number | undefined): string {
  if (!expected) return escapeHtml(formatBytes(bytes));
  const pct = Math.min(100, Math.floor((bytes * 100) / expected));
  return `<progress value="${Math.min(bytes, expected)}" max="${expected}">${pct}%</progress> ${escapeHtml(`${formatBytes(bytes)} of ${formatBytes(expected)} (${pct}%)`)}`;
}

function table(cls: string, head: readonly string[], rows: readonly string[][], empty: string): string {
  if (rows.length === 0) return `<p class="${cls} none">${escapeHtml(empty)}</p>`;
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr class="${cls}">${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${cls}">\n<tr>${th}</tr>\n${trs}\n</table>`;
}

const text = (s: string | number | undefined) => escapeHtml(String(s ?? ''));

export function renderStatusPage(s: StatusSnapshot): string {
  const uptime = formatDuration((s.now - s.startedAt) / 1000);
  const rate = s.limits.maxUploadRate ? `, at most ${formatBytes(s.limits.maxUploadRate)}/s in total` : '';
  const uploads = table(
    'upload',
    ['client', 'implementation', 'progress', 'for'],
    s.uploads.map((u) => [text(u.peer), `<code>${text(u.what)}</code>`, progress(u.bytes, u.expected), text(formatDuration((s.now - u.startedAt) / 1000))]),
    'No uploads in progress.',
  );
  const fetches = table(
    'fetch',
    ['implementation', 'name', 'state', 'from', 'progress'],
    s.fetches.map((f) => [`<code>${text(f.digest)}</code>`, text(f.name), text(f.state), text(f.peer), progress(f.bytes, f.expected)]),
    'No fetches in progress on this machine.',
  );
  const inFlight = table(
    'inflight',
    ['implementation', 'store', 'files verified'],
    s.inFlight.map((f) => [`<code>${text(f.digest)}</code>`, text(f.store), text(`${f.verified} of ${f.files}`)]),
    'No fetch in flight here is being shared.',
  );
  const recent = table(
    'request',
    ['time', 'client', 'request', 'status', 'bytes', 'ms'],
    s.recent.map((r) => [
      text(new Date(r.at).toISOString().slice(11, 19)),
      text(r.peer),
      `<code>${text(`${r.method} ${r.target}`)}</code>`,
      text(r.note ? `${r.status} (${r.note})` : r.status),
      text(r.bytes),
      text(r.ms),
    ]),
    'No requests yet.',
  );
  const more = s.implementationCount > s.implementations.length ? `<p>… and ${s.implementationCount - s.implementations.length} more.</p>` : '';
  const impls = s.implementations.length
    ? `<ul class="implementations">\n${s.implementations.map((i) => `<li><code>${text(i.name)}</code> in ${text(i.store)}</li>`).join('\n')}\n</ul>${more}`
    : '<p class="implementations none">No implementations in the stores.</p>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<title>0share peer</title>
</head>
<body>
<h1>0share peer</h1>
<p class="summary">Version ${text(s.version)}, up ${text(uptime)}. Serving ${s.implementationCount} implementations; ${s.uploads.length} of at most ${s.limits.maxUploads} uploads in progress${text(rate)}.
Sent ${text(formatBytes(s.bytesServed))} and received ${text(formatBytes(s.bytesReceived))} since start, ${s.requests} requests.</p>
<h2>Uploads in progress</h2>
${uploads}
<h2>Fetches on this machine</h2>
${fetches}
<h2>Shared while in flight</h2>
${inFlight}
<h2>Recent requests</h2>
${recent}
<h2>Stores</h2>
<ul class="stores">
${s.stores.map((p) => `<li><code>${text(p)}</code></li>`).join('\n')}
</ul>
<h2>Implementations</h2>
${impls}
</body>
</html>
`;
}

/** The `/stats` document: the snapshot with the uptime in seconds and the counts up front. */
export function statsDocument(s: StatusSnapshot) {
  return {
    version: s.version,
    uptimeSeconds: Math.floor((s.now - s.startedAt) / 1000),
    startedAt: new Date(s.startedAt).toISOString(),
    implementations: s.implementationCount,
    bytesServed: s.bytesServed,
    bytesReceived: s.bytesReceived,
    requests: s.requests,
    limits: s.limits,
    stores: s.stores,
    uploads: s.uploads,
    fetches: s.fetches,
    inFlight: s.inFlight,
    recent: s.recent,
  };
}
