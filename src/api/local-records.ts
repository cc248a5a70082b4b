// The peer's local routes: POST /local/fetches keeps a fetch record that a process on this
// machine reported (checked by parseFetchRecord, kept in memory only, in LocalFetches), and
// GET /local/fetches/<digest> gives back the latest record of a digest, for `0share why`.
import { parseFetchRecord, RecordError } from '../core/fetch-record.js';
import type { LocalFetches } from '../io/local-fetches.js';
import type { Page } from '../io/page-response.js';

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };

function refused(status: number, reason: string): Page {
  return { status, headers: JSON_HEADERS, body: `${JSON.stringify({ error: reason })}\n`, reason };
}

export function keepRecord(fetches: LocalFetches, body: string): Page {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return refused(400, 'the body is not JSON');
  }
  try {
    fetches.put(parseFetchRecord(value));
  } catch (err) {
    if (err instanceof RecordError) return refused(400, `not a fetch record: ${err.message}`);
    throw err;
  }
  return { status: 204, headers: {}, body: '' };
}

export function recordOf(fetches: LocalFetches, digest: string): Page {
  const r = fetches.latest(digest);
  if (!r) return refused(404, `no fetch of ${digest} is known`);
  return { headers: JSON_HEADERS, body: `${JSON.stringify(r, null, 1)}\n` };
}
