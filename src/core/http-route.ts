// The peer's HTTP routes, decided on the raw request target exactly as received (nothing is
// percent-decoded or normalised, so `..`, `%2F` and friends can never name another directory):
//   /implementation/<digest>            the tree as tar (`?format=tar` asks for plain tar)
//   /implementation/<digest>/manifest   its .manifest
import { type Digest, parseDigestLoose } from './digest.js';

export const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

export type RequestTarget =
  | { ok: true; kind: 'tree' | 'manifest'; digest: Digest; plainTar: boolean }
  | { ok: false; status: 400 | 404; reason: string };

const PREFIX = '/implementation/';

export function isAllowedMethod(method: string): boolean {
  return (ALLOWED_METHODS as readonly string[]).includes(method);
}

export function parseRequestTarget(raw: string): RequestTarget {
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = q >= 0 ? raw.slice(q + 1) : undefined;
  if (!path.startsWith(PREFIX)) return { ok: false, status: 404, reason: 'no such route' };
  const [name = '', ...rest] = path.slice(PREFIX.length).split('/');
  let digest: Digest;
  try {
    digest = parseDigestLoose(name);
  } catch {
    return { ok: false, status: 400, reason: 'not a digest (sha256new_…, sha256=…, sha1new=… or sha1=…)' };
  }
  const kind = rest.length === 0 ? 'tree' : rest.length === 1 && rest[0] === 'manifest' ? 'manifest' : undefined;
  if (!kind) return { ok: false, status: 404, reason: 'no such route' };
  if (query !== undefined && !(kind === 'tree' && query === 'format=tar')) {
    return { ok: false, status: 400, reason: 'unsupported query string' };
  }
  return { ok: true, kind, digest, plainTar: query !== undefined };
}
