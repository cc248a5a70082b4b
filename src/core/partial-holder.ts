// The names and marks by which a peer recognises a fetch in flight on its machine (see
// docs/protocol.md, "In flight"): the fetching process stages the digest in
// `<store>/tmp-partial-<digest>/`, locked by `<store>/tmp-partial-<digest>.lock` (its pid), says
// what it has and is getting in `<store>/tmp-partial-<digest>.have`, and a file there is verified
// once it has its final mode (0444, or 0555 when executable) with the manifest's size and mtime.
// Pure: the file system checks live in src/io/partial-holders.ts.
import { type Digest, formatDigest, isStrictDigest, parseDigest } from './digest.js';
import type { ManifestEntry } from './manifest-format.js';

export const PARTIAL_PREFIX = 'tmp-partial-';
export const LOCK_SUFFIX = '.lock';
/**
 * `tmp-partial-<digest>.have`, beside the lock: the fetch's own account of its files, two have
 * bitmaps (core/have-bitmap.ts) one after the other, the files verified and those it is fetching
 * now, rewritten in place as they change. The peer answers `/have` from it; it is only advice
 * (the piece route checks each file's mark before serving it).
 */
export const STATE_SUFFIX = '.have';

/** `tmp-partial-<digest>`: the staging dir's name in a store. */
export function partialDirName(digest: Digest): string {
  return `${PARTIAL_PREFIX}${formatDigest(digest)}`;
}

/** The digest a store entry named `name` stages, or undefined for any other name (its lock included). */
export function digestOfPartialName(name: string): Digest | undefined {
  if (!name.startsWith(PARTIAL_PREFIX)) return undefined;
  const rest = name.slice(PARTIAL_PREFIX.length);
  return isStrictDigest(rest) ? parseDigest(rest) : undefined;
}

/** The pid a lock file holds, or undefined when its text is not one. */
export function lockPid(text: string): number | undefined {
  const t = text.trim();
  if (!/^[1-9][0-9]{0,9}$/.test(t)) return undefined;
  const pid = Number(t);
  return Number.isSafeInteger(pid) ? pid : undefined;
}

/** What an lstat says about a file, as far as the mark goes. */
export interface FileStat {
  readonly isFile: boolean;
  /** st_mode (the type bits may be there too). */
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Whether a file of a staging tree bears the mark of a verified file for its manifest line
 * (F or X): a regular file whose mode is exactly 0444 (F) or 0555 (X), with the line's size and
 * mtime in whole seconds. A file still being written has mode 0600.
 */
export function hasVerifiedMark(entry: ManifestEntry, st: FileStat): boolean {
  return (
    entry.kind === 'file' &&
    st.isFile &&
    (st.mode & 0o7777) === (entry.exec ? 0o555 : 0o444) &&
    st.size === entry.size &&
    BigInt(Math.floor(st.mtimeMs / 1000)) === (entry.mtime ?? 0n)
  );
}
