// The fetching process's line to the peer on this machine, over loopback HTTP: POST a fetch record
// to /local/fetches, GET the latest record of a digest from /local/fetches/<digest>. Short
// timeouts; a missing peer is an answer (`no-peer`), not an error.
import { request } from 'node:http';

const HOST = '127.0.0.1';

export type LocalAnswer = { kind: 'ok'; status: number; body: string } | { kind: 'no-peer'; reason: string };

function exchange(port: number, method: 'GET' | 'POST', path: string, timeoutMs: number, body?: string): Promise<LocalAnswer> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { Host: `${HOST}:${port}` };
    if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    const req = request({ host: HOST, port, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c.length + text.length <= 1024 * 1024 ? c : ''));
      res.on('end', () => resolve({ kind: 'ok', status: res.statusCode ?? 0, body: text }));
      res.on('error', (err) => resolve({ kind: 'no-peer', reason: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ kind: 'no-peer', reason: err.code === 'ECONNREFUSED' ? `nothing listens on ${HOST} port ${port}` : err.message }));
    req.end(body);
  });
}

export function postFetchRecord(port: number, record: unknown, timeoutMs: number): Promise<LocalAnswer> {
  return exchange(port, 'POST', '/local/fetches', timeoutMs, JSON.stringify(record));
}

export function getFetchRecord(port: number, digest: string, timeoutMs: number): Promise<LocalAnswer> {
  return exchange(port, 'GET', `/local/fetches/${digest}`, timeoutMs);
}
