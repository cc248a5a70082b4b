// The peer's HTTP routes, decided on the raw request target exactly as received (nothing is
// percent-decoded or normalised, so `..`, `%2F` and friends can never name another directory):
//   /implementation/<digest>            the tree as tar (`?format=tar` asks for plain tar)
//   /implementation/<digest>/manifest   its .manifest
//   /implementation/<digest>/mtimes     its directories' and symlinks' mtimes (src/core/mtimes-list.ts)
//   /implementation/<digest>/files      (POST) pieces of its files, listed in the body (swarm mode)
//   /implementation/<digest>/have       which of its files this peer holds (a bitmap; swarm mode);
//                                        ?with=fetching adds which it is fetching now (a second one)
//   /                                   the status page (HTML)
//   /stats                              the same facts as JSON
//   POST /local/fetches                 a fetch record from a process on this machine (loopback only)
//   /local/fetches/<digest>             the latest fetch record of a digest (loopback only)
import { type Digest, formatDigest, parseDigestLoose } from './digest.js';

const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

/** A route that serves an implementation from the stores. */
export type RouteKind = 'tree' | 'manifest' | 'mtimes' | 'files';

export type ImplementationRoute = { ok: true; kind: RouteKind; digest: Digest; plainTar: boolean };
/**
 * A route that describes the peer itself or what it holds (`have`: answered like `/stats`, with
 * no upload slot), or (`local-*`) talks with processes on its machine.
 */
export type PageRoute =
  | { ok: true; kind: 'status' | 'stats' | 'local-report' }
  | { ok: true; kind: 'local-fetch'; digest: string }
  /** `fetching` (`?with=fetching`): the body adds a second bitmap, the files being fetched now. */
  | { ok: true; kind: 'have'; digest: Digest; fetching: boolean };

export type RequestTarget = ImplementationRoute | PageRoute | { ok: false; status: 400 | 404; reason: string };

const PAGES: Record<string, 'status' | 'stats' | 'local-report'> = { '/': 'status', '/stats': 'stats', '/local/fetches': 'local-report' };
const LOCAL_FETCH = '/local/fetches/';
const PAGE_KINDS: ReadonlySet<string> = new Set<PageRoute['kind']>(['status', 'stats', 'local-report', 'local-fetch', 'have']);

/** The methods a route takes: POST for a local report and for pieces (their requests have a body), GET and HEAD for the rest. */
export function methodsOf(route: RequestTarget): readonly string[] {
  return route.ok && (route.kind === 'local-report' || route.kind === 'files') ? ['POST'] : ALLOWED_METHODS;
}

/** Routes answered by a page about the peer (or its local records), not from the stores. */
export function isPageRoute(route: RequestTarget): route is PageRoute {
  return route.ok && PAGE_KINDS.has(route.kind);
}

/** Routes only processes on the peer's machine may use. */
export function isLocalRoute(route: RequestTarget): boolean {
  return route.ok && (route.kind === 'local-report' || route.kind === 'local-fetch');
}

const PREFIX = '/implementation/';
const SUB_ROUTES: ReadonlySet<string> = new Set<RouteKind>(['manifest', 'mtimes', 'files']);

export function parseRequestTarget(raw: string): RequestTarget {
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = q >= 0 ? raw.slice(q + 1) : undefined;
  const page = Object.hasOwn(PAGES, path) ? PAGES[path] : undefined;
  if (page) return query === undefined ? { ok: true, kind: page } : { ok: false, status: 400, reason: 'unsupported query string' };
  if (path.startsWith(LOCAL_FETCH) && query === undefined) {
    try {
      return { ok: true, kind: 'local-fetch', digest: formatDigest(parseDigestLoose(path.slice(LOCAL_FETCH.length))) };
    } catch {
      return { ok: false, status: 400, reason: 'not a digest (sha256new_…, sha256=…, sha1new=… or sha1=…)' };
    }
  }
  if (!path.startsWith(PREFIX)) return { ok: false, status: 404, reason: 'no such route' };
  const [name = '', ...rest] = path.slice(PREFIX.length).split('/');
  let digest: Digest;
  try {
    digest = parseDigestLoose(name);
  } catch {
    return { ok: false, status: 400, reason: 'not a digest (sha256new_…, sha256=…, sha1new=… or sha1=…)' };
  }
  if (rest.length === 1 && rest[0] === 'have') {
    if (query === undefined || query === 'with=fetching') return { ok: true, kind: 'have', digest, fetching: query !== undefined };
    return { ok: false, status: 400, reason: 'unsupported query string' };
  }
  const kind: RouteKind | undefined =
    rest.length === 0 ? 'tree' : rest.length === 1 && SUB_ROUTES.has(rest[0]!) ? (rest[0] as RouteKind) : undefined;
  if (!kind) return { ok: false, status: 404, reason: 'no such route' };
  if (query !== undefined && !(kind === 'tree' && query === 'format=tar')) {
    return { ok: false, status: 400, reason: 'unsupported query string' };
  }
  return { ok: true, kind, digest, plainTar: query !== undefined };
}
