// What the extractor accepts from a tar header, as pure functions: entry types, path
// normalisation (no absolute paths, no '..', no NUL or newline), special mode bits, sizes and
// mtimes (pax fractional seconds truncated as 0install's manifest truncates st_mtime).
// The I/O side (src/io/tar-extract.ts) applies these before it touches the file system.
import { quoteNetworkText } from './quote.js';

export type TarRuleCode = 'unsafe' | 'limit' | 'corrupt';

export class TarRuleError extends Error {
  override name = 'TarRuleError';
  constructor(message: string, readonly code: TarRuleCode) {
    super(message);
  }
}

export const MAX_PATH_BYTES = 4095;
export const MAX_NAME_BYTES = 255;
export const MAX_LINK_BYTES = 4095;

const SLASH = 0x2f;
const DOT = 0x2e;

export type TarKind = 'file' | 'dir' | 'symlink';

/** Maps the entry type (as tar-stream names it) to what 0install can hold, or explains the refusal. */
export function entryKind(type: string | null | undefined): TarKind {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'dir';
    case 'symlink':
      return 'symlink';
    case 'link':
      throw new TarRuleError('is a hard link; only files, directories and symlinks are allowed', 'unsafe');
    case 'character-device':
    case 'block-device':
      throw new TarRuleError(`is a ${type}; only files, directories and symlinks are allowed`, 'unsafe');
    case 'fifo':
      throw new TarRuleError('is a fifo; only files, directories and symlinks are allowed', 'unsafe');
    default:
      throw new TarRuleError(`has an unsupported entry type (${String(type)})`, 'unsafe');
  }
}

/**
 * The root-relative path of an entry: leading "./" components are dropped, a trailing '/' is
 * allowed for directories; the empty result means the root itself. Throws for anything unsafe.
 */
export function normalizePath(raw: Uint8Array, isDir: boolean): Buffer {
  let p = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (p.includes(0)) throw new TarRuleError('has a NUL byte in its name', 'unsafe');
  if (p.includes(0x0a)) throw new TarRuleError('has a newline in its name, which 0install manifests cannot represent', 'unsafe');
  if (p.length === 0) throw new TarRuleError('has an empty name', 'unsafe');
  if (p[0] === SLASH) throw new TarRuleError('has an absolute path', 'unsafe');
  while (p.length >= 2 && p[0] === DOT && p[1] === SLASH) p = p.subarray(2);
  if (p.length === 1 && p[0] === DOT) p = p.subarray(1);
  if (p.length > 0 && p[p.length - 1] === SLASH) {
    if (!isDir) throw new TarRuleError('ends with "/" but is not a directory', 'unsafe');
    p = p.subarray(0, p.length - 1);
    if (p.length === 0) throw new TarRuleError('has an empty path component', 'unsafe');
  }
  if (p.length > MAX_PATH_BYTES) throw new TarRuleError(`has a path longer than ${MAX_PATH_BYTES} bytes`, 'limit');
  let start = 0;
  while (start <= p.length && p.length > 0) {
    let end = p.indexOf(SLASH, start);
    if (end < 0) end = p.length;
    const len = end - start;
    if (len === 0) throw new TarRuleError('has an empty path component ("//")', 'unsafe');
    if (len === 1 && p[start] === DOT) throw new TarRuleError('has a "." path component', 'unsafe');
    if (len === 2 && p[start] === DOT && p[start + 1] === DOT) throw new TarRuleError('has a ".." path component', 'unsafe');
    if (len > MAX_NAME_BYTES) throw new TarRuleError(`has a name component longer than ${MAX_NAME_BYTES} bytes`, 'limit');
    start = end + 1;
  }
  if (p.length === 9 && p.toString('latin1') === '.manifest') {
    throw new TarRuleError('is a top-level .manifest, which 0install reserves for the manifest it writes itself', 'unsafe');
  }
  return Buffer.from(p);
}

/** A symlink target is data (it may dangle or be absolute), but it must be storable. */
export function checkLinkTarget(target: Uint8Array): void {
  if (target.length === 0) throw new TarRuleError('is a symlink with an empty target', 'unsafe');
  if (target.includes(0)) throw new TarRuleError('is a symlink whose target has a NUL byte', 'unsafe');
  if (target.length > MAX_LINK_BYTES) throw new TarRuleError(`is a symlink with a target longer than ${MAX_LINK_BYTES} bytes`, 'limit');
}

/** setuid, setgid and sticky bits are refused, as 0install's fixup_permissions refuses them. */
export function checkMode(mode: number): void {
  if ((mode & 0o7000) !== 0) {
    throw new TarRuleError(`has special mode bits (setuid/setgid/sticky): 0o${(mode & 0o7777).toString(8)}`, 'unsafe');
  }
}

export function isExecutable(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

/** The entry's size: non-negative and exact; only files carry data. */
export function checkSize(size: number, kind: TarKind): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new TarRuleError(`has an invalid size (${size})`, 'corrupt');
  if (kind !== 'file' && size !== 0) throw new TarRuleError(`is a ${kind === 'dir' ? 'directory' : 'symlink'} with a data size (${size})`, 'corrupt');
  return size;
}

const PAX_TIME = /^(-?)([0-9]{1,15})(?:\.[0-9]*)?$/;

/**
 * Whole seconds of the entry's mtime: the pax `mtime` record if present (fraction dropped,
 * toward zero, as 0install's Int64.of_float does with st_mtime), else the header's field.
 */
export function entryMtime(paxMtime: string | undefined, headerSeconds: number): bigint {
  if (paxMtime !== undefined) {
    const m = PAX_TIME.exec(paxMtime);
    if (!m) throw new TarRuleError(`has an invalid pax mtime (${quoteNetworkText(paxMtime)})`, 'corrupt');
    return BigInt(`${m[1]}${m[2]}`);
  }
  if (!Number.isSafeInteger(headerSeconds)) throw new TarRuleError('has an invalid mtime', 'corrupt');
  return BigInt(headerSeconds);
}

/** The entry's permission bits: a number (garbage in the header's mode field is corrupt). */
export function checkModeField(mode: number): number {
  if (!Number.isSafeInteger(mode) || mode < 0) throw new TarRuleError('has an invalid mode field', 'corrupt');
  return mode;
}

/** Mode bits as 0install's store holds them (fixup_permissions): 0555 if executable, else 0444. */
export function storeFileMode(exec: boolean): number {
  return exec ? 0o555 : 0o444;
}

/** Directories in a store are 0555. */
export const STORE_DIR_MODE = 0o555;
