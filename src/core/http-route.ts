// The peer's HTTP routes, decided on the raw request target exactly as received (nothing is
// percent-decoded or normalised, so `..`, `%2F` and friends can never name another directory):
//   /implementation/<digest>            the tree as tar (`?format=tar` asks for plain tar)
//   /implementation/<digest>/manifest   its .manifest
//   /implementation/<digest>/files      (POST) pieces of its files, listed in the body (swarm mode)
//   /                                   the status page (HTML)
//   /stats                              the same facts as JSON
import { type Digest, parseDigestLoose } from './digest.js';

/** The methods of the tree and manifest routes (the 2008 ones); `files` takes POST only. */
export const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

export type RouteKind = 'tree' | 'manifest' | 'files';

/** A route that serves an implementation from the stores. */
export type ImplementationRoute = { ok: true; kind: RouteKind; digest: Digest; plainTar: boolean };
/** A route that describes the peer itself. */
export type PageRoute = { ok: true; kind: 'status' | 'stats' };

export type RequestTarget = ImplementationRoute | PageRoute | { ok: false; status: 400 | 404; reason: string };

const PAGES: Record<string, PageRoute['kind']> = { '/': 'status', '/stats': 'stats' };

const PREFIX = '/implementation/';

export function isAllowedMethod(method: string): boolean {
  return (ALLOWED_METHODS as readonly string[]).includes(method);
}

/** The methods each route answers: POST only for `files` (its request has a body), GET and HEAD for the others. */
export function methodFits(method: string, kind: RouteKind | PageRoute['kind']): boolean {
  return kind === 'files' ? method === 'POST' : method === 'GET' || method === 'HEAD';
}

export function parseRequestTarget(raw: string): RequestTarget {
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = q >= 0 ? raw.slice(q + 1) : undefined;
  const page = Object.hasOwn(PAGES, path) ? PAGES[path] : undefined;
  if (page) return query === undefined ? { ok: true, kind: page } : { ok: false, status: 400, reason: 'unsupported query string' };
  if (!path.startsWith(PREFIX)) return { ok: false, status: 404, reason: 'no such route' };
  const [name = '', ...rest] = path.slice(PREFIX.length).split('/');
  let digest: Digest;
  try {
    digest = parseDigestLoose(name);
  } catch {
    return { ok: false, status: 400, reason: 'not a digest (sha256new_…, sha256=…, sha1new=… or sha1=…)' };
  }
  const kind: RouteKind | undefined =
    rest.length === 0 ? 'tree' : rest.length === 1 && (rest[0] === 'manifest' || rest[0] === 'files') ? rest[0] : undefined;
  if (!kind) return { ok: false, status: 404, reason: 'no such route' };
  if (query !== undefined && !(kind === 'tree' && query === 'format=tar')) {
    return { ok: false, status: 400, reason: 'unsupported query string' };
  }
  return { ok: true, kind, digest, plainTar: query !== undefined };
}
