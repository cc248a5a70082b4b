// Digest strings as 0install parses, formats and ranks them (manifest.ml, stores.ml).
export const ALGORITHMS = ['sha1', 'sha1new', 'sha256', 'sha256new'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface Digest {
  readonly alg: Algorithm;
  /** hex for sha1/sha1new/sha256, base32 (A-Z2-7, 52 chars) for sha256new */
  readonly value: string;
}

const VALUE_PATTERN: Record<Algorithm, RegExp> = {
  sha1: /^[0-9a-f]{40}$/,
  sha1new: /^[0-9a-f]{40}$/,
  sha256: /^[0-9a-f]{64}$/,
  sha256new: /^[A-Z2-7]{52}$/,
};

/** The file hash each algorithm uses for manifest lines and for the manifest itself. */
export function hashName(alg: Algorithm): 'sha1' | 'sha256' {
  return alg === 'sha1' || alg === 'sha1new' ? 'sha1' : 'sha256';
}

export function isAlgorithm(s: string): s is Algorithm {
  return (ALGORITHMS as readonly string[]).includes(s);
}

export class DigestError extends Error {
  override name = 'DigestError';
}

/** The form used for directory names and ids: `sha1new=…`, `sha256new_…`. */
export function formatDigest(d: Digest): string {
  return d.alg === 'sha256new' ? `sha256new_${d.value}` : `${d.alg}=${d.value}`;
}

function build(alg: Algorithm, value: string, input: string): Digest {
  if (!VALUE_PATTERN[alg].test(value)) {
    throw new DigestError(
      `'${input}' is not a valid ${alg} digest: expected ${alg === 'sha256new' ? '52 base32 characters (A-Z, 2-7)' : `${alg === 'sha256' ? 64 : 40} lower-case hex digits`}`,
    );
  }
  return { alg, value };
}

/** Strict parsing, as for store directory names: `sha1=`, `sha1new=`, `sha256=`, `sha256new_`. */
export function parseDigest(s: string): Digest {
  for (const alg of ['sha1', 'sha1new', 'sha256'] as const) {
    if (s.startsWith(`${alg}=`)) return build(alg, s.slice(alg.length + 1), s);
  }
  if (s.startsWith('sha256new_')) return build('sha256new', s.slice('sha256new_'.length), s);
  throw new DigestError(
    `'${s}' is not a digest: expected sha256new_…, sha256=…, sha1new=… or sha1=… (as in an implementation's directory name)`,
  );
}

/** Lenient parsing, as for user input: also accepts `sha256new=…`. */
export function parseDigestLoose(s: string): Digest {
  return s.startsWith('sha256new=') ? parseDigest(`sha256new_${s.slice('sha256new='.length)}`) : parseDigest(s);
}

/** Strict-name check without throwing (store scans, HTTP routes). */
export function isStrictDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

const SCORE: Record<Algorithm, number> = { sha256new: 90, sha256: 80, sha1new: 50, sha1: 10 };

/** 0install's best_digest: the highest-scoring known algorithm. */
export function bestDigest(digests: readonly Digest[]): Digest | undefined {
  let best: Digest | undefined;
  for (const d of digests) if (!best || SCORE[d.alg] > SCORE[best.alg]) best = d;
  return best;
}

export function sameDigest(a: Digest, b: Digest): boolean {
  return a.alg === b.alg && a.value === b.value;
}
