// Answers the page routes of the peer's HTTP server (`/`, `/stats`, `/local/fetches…`): for the
// local routes, checks that the Host header names this machine (so a web page whose name was
// rebound to 127.0.0.1 cannot use them) and reads a POST body, JSON only and at most
// RECORD_LIMITS.bodyBytes; then writes what `render` returns, with its Content-Length.
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RECORD_LIMITS } from '../core/fetch-record.js';
import { isLocalRoute, type PageRoute } from '../core/http-route.js';
import type { PageRequest, PageResult } from '../machines/server-session.machine.js';
import { readBody } from './request-body.js';

export interface Page {
  /** Default 200. */
  readonly status?: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
  /** Why, for a status of 400 and up (logged). */
  readonly reason?: string;
}

/** Renders a page route; `body` is the request body of a POST. */
export type RenderPage = (route: PageRoute, body?: string) => Promise<Page>;

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };

function refusal(status: number, reason: string): Page {
  return { status, headers: { ...TEXT, Connection: 'close' }, body: `${reason}\n`, reason };
}

/** `127.0.0.1:P`, `[::1]:P`, `localhost:P` (or without the port): a name of this machine. */
function localHost(host: string | undefined): boolean {
  return host === undefined || /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)(:\d+)?$/i.test(host);
}

async function recordBody(req: IncomingMessage): Promise<string | Page> {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return refusal(415, 'Unsupported media type: send the record as application/json');
  const body = await readBody(req, RECORD_LIMITS.bodyBytes);
  return body ? body.toString('utf8') : refusal(413, `Too large: a fetch record is at most ${RECORD_LIMITS.bodyBytes} bytes`);
}

async function pageFor(req: IncomingMessage, page: PageRequest, render: RenderPage): Promise<Page> {
  if (!isLocalRoute(page.route)) return render(page.route);
  if (!localHost(req.headers.host)) return refusal(403, 'Forbidden: the local routes answer only requests to 127.0.0.1, [::1] or localhost');
  if (page.route.kind !== 'local-report') return render(page.route);
  const body = await recordBody(req);
  return typeof body === 'string' ? render(page.route, body) : body;
}

/** Writes the page for `page` (no body for HEAD); resolves with the status and body bytes sent. */
export async function answerPage(req: IncomingMessage, res: ServerResponse, page: PageRequest, render: RenderPage): Promise<PageResult> {
  const p = await pageFor(req, page, render);
  const status = p.status ?? 200;
  const body = Buffer.from(p.body);
  res.writeHead(status, { ...p.headers, 'Content-Length': body.length });
  res.end(page.head || status === 204 ? undefined : body);
  await once(res, 'finish');
  return { status, bytes: page.head || status === 204 ? 0 : body.length, reason: p.reason };
}
