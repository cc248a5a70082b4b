// The status page and /stats document rendered from a snapshot: every outside text escaped, the
// progress of uploads and fetches, counts and limits; escapeHtml and the formatters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from '../../src/core/format-units.js';
import { escapeHtml, renderStatusPage, STATUS_PAGE_HEADERS, type StatusSnapshot, statsDocument } from '../../src/core/status-page.js';

const EVIL = `<script>alert("x")</script>'&`;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    version: '0.1.0',
    now: T0 + 3_725_000,
    startedAt: T0,
    stores: [`/srv/${EVIL}/store`],
    implementations: [{ name: `sha256new_${'A'.repeat(52)}`, store: `/srv/${EVIL}/store` }],
    implementationCount: 3,
    uploads: [{ peer: '10.0.0.2:4000', what: `sha1new=${'a'.repeat(40)}`, bytes: 512 * 1024, expected: 2 * 1024 * 1024, startedAt: T0 + 3_700_000 }],
    fetches: [{ digest: `sha1new=${'b'.repeat(40)}`, name: `http://example.com/${EVIL}.xml`, state: 'transferring', peer: `10.0.0.3:38339`, bytes: 10, updatedAt: T0 }],
    inFlight: [{ digest: `sha256new_${'C'.repeat(52)}`, store: `/srv/${EVIL}/store`, verified: 3, files: 7 }],
    bytesServed: 5 * 1024 ** 3,
    bytesReceived: 1536,
    requests: 42,
    recent: [{ at: T0 + 60_000, method: 'GET', target: `/${EVIL}`, status: 404, bytes: 0, ms: 1, peer: '10.0.0.9:5', note: 'no such route' }],
    limits: { maxUploads: 8, maxUploadRate: 10 * 1024 ** 2 },
    ...over,
  };
}

describe('escapeHtml', () => {
  it('leaves no character that could open a tag, an entity or leave an attribute', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const e = escapeHtml(s);
        expect(e).not.toMatch(/[<>"']/);
        expect(e.replace(/&(amp|lt|gt|quot|#39);/g, '')).not.toContain('&');
        // Reversible: nothing is lost.
        expect(e.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')).toBe(s);
      }),
    );
  });
});

describe('renderStatusPage', () => {
  const html = renderStatusPage(snapshot());

  it('escapes store paths, request targets and reported names: the only tags are its own', () => {
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;');
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z0-9!]+)/g)].map((m) => m[1]!.toLowerCase()));
    expect([...tags].sort()).toEqual(['!doctype', 'body', 'code', 'h1', 'h2', 'head', 'html', 'li', 'meta', 'p', 'progress', 'table', 'td', 'th', 'title', 'tr', 'ul'].sort());
  });

  it('shows each upload and fetch with its progress', () => {
    expect(html).toContain(`<progress value="${512 * 1024}" max="${2 * 1024 * 1024}">25%</progress> 512.0 KiB of 2.0 MiB (25%)`);
    expect(html).toMatch(/<tr class="upload"><td>10\.0\.0\.2:4000<\/td><td><code>sha1new=a{40}<\/code>/);
    expect(html).toMatch(/<tr class="fetch"><td><code>sha1new=b{40}<\/code><\/td><td>http:\/\/example.com\/&lt;script&gt;/);
    expect(html).toContain('transferring');
  });

  it('lists each fetch in flight it shares, with its files verified so far', () => {
    expect(html).toMatch(/<tr class="inflight"><td><code>sha256new_C{52}<\/code><\/td><td>\/srv\/&lt;script&gt;.*<\/td><td>3 of 7<\/td><\/tr>/);
  });

  it('sums up version, uptime, counts, bytes and limits; refreshes itself', () => {
    expect(html).toContain('Version 0.1.0, up 1 h 2 min. Serving 3 implementations; 1 of at most 8 uploads in progress, at most 10.0 MiB/s in total.');
    expect(html).toContain('Sent 5.0 GiB and received 1.5 KiB since start, 42 requests.');
    expect(html).toContain('<meta http-equiv="refresh" content="2">');
    expect(html).toContain('… and 2 more.');
  });

  it('says so when nothing is going on', () => {
    const quiet = renderStatusPage(snapshot({ uploads: [], fetches: [], inFlight: [], recent: [], implementations: [], implementationCount: 0, limits: { maxUploads: 2 } }));
    expect(quiet).toContain('No uploads in progress.');
    expect(quiet).toContain('No fetches in progress on this machine.');
    expect(quiet).toContain('No fetch in flight here is being shared.');
    expect(quiet).toContain('No requests yet.');
    expect(quiet).toContain('No implementations in the stores.');
    expect(quiet).not.toContain('MiB/s');
  });

  it('is served under a policy that lets nothing load or run', () => {
    expect(STATUS_PAGE_HEADERS['Content-Security-Policy']).toMatch(/^default-src 'none';/);
    expect(STATUS_PAGE_HEADERS['X-Content-Type-Options']).toBe('nosniff');
  });
});

describe('statsDocument', () => {
  it('has the version, the implementation count and the uptime up front', () => {
    const doc = statsDocument(snapshot());
    expect(doc).toMatchObject({ version: '0.1.0', uptimeSeconds: 3725, implementations: 3, bytesServed: 5 * 1024 ** 3, bytesReceived: 1536, requests: 42 });
    expect(doc.startedAt).toBe('2026-01-01T12:00:00.000Z');
    expect(JSON.parse(JSON.stringify(doc)).uploads[0].bytes).toBe(512 * 1024);
    expect(doc.inFlight).toEqual([{ digest: `sha256new_${'C'.repeat(52)}`, store: `/srv/${EVIL}/store`, verified: 3, files: 7 }]);
  });
});

describe('formatters', () => {
  it('bytes and durations', () => {
    expect([0, 1023, 1024, 1536, 1024 ** 2 * 10].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10.0 MiB']);
    expect([0, 59.9, 61, 3725, 90_000].map(formatDuration)).toEqual(['0 s', '59 s', '1 min 1 s', '1 h 2 min', '1 d 1 h']);
  });
});
