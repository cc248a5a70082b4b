// Decoding of tar headers, as pure functions over bytes: the 512-byte ustar/GNU header block
// (checksum, octal and base-256 numbers, the ustar name prefix), pax extended-header records and
// GNU long names. Names stay raw bytes (no character set conversion), so what lands on disk and
// in the manifest is exactly what the archive says. What the extractor then accepts is decided in
// src/core/tar-rules.ts; errors here are corrupt archives.
import { TarRuleError } from './tar-rules.js';

export const BLOCK = 512;

/** Entry type names (as tar-stream names them), which src/core/tar-rules.ts entryKind() judges. */
export type TarType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-path'
  | 'gnu-long-link-path';

export interface TarHeader {
  /** Raw name bytes (ustar prefix joined with '/'). */
  name: Buffer;
  /** The entry type, or the type flag character when it is not one tar defines. */
  type: TarType | string;
  mode: number;
  size: number;
  /** Seconds since the epoch (NaN when the field is garbage). */
  mtime: number;
  linkname: Buffer;
}

/** Pax records: path and linkpath as raw bytes, the others as text. */
export interface PaxRecords {
  path?: Buffer;
  linkpath?: Buffer;
  other: Map<string, string>;
}

const TYPES: Record<number, TarType> = {
  0x00: 'file',
  0x30: 'file',
  0x31: 'link',
  0x32: 'symlink',
  0x33: 'character-device',
  0x34: 'block-device',
  0x35: 'directory',
  0x36: 'fifo',
  0x37: 'contiguous-file',
  0x78: 'pax-header', // x
  0x67: 'pax-global-header', // g
  0x4b: 'gnu-long-link-path', // K
  0x4c: 'gnu-long-path', // L
  0x4e: 'gnu-long-path', // N (old GNU)
};

const USTAR = Buffer.from('ustar\0', 'latin1');
const GNU = Buffer.from('ustar  \0', 'latin1');

function corrupt(msg: string): TarRuleError {
  return new TarRuleError(msg, 'corrupt');
}

/** Bytes up to the first NUL within [start, start + len). */
function cstr(b: Uint8Array, start: number, len: number): Buffer {
  let end = start;
  const max = start + len;
  while (end < max && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + start, end - start);
}

/** An octal field (leading spaces and NULs allowed, ends at a space or NUL), or base-256. */
function numeric(b: Uint8Array, start: number, len: number): number {
  if (b[start]! & 0x80) {
    const positive = b[start] === 0x80;
    if (!positive && b[start] !== 0xff) return NaN;
    let sum = 0;
    for (let i = start + 1; i < start + len; i++) sum = sum * 256 + (positive ? b[i]! : 0xff - b[i]!);
    return positive ? sum : -sum - 1;
  }
  let i = start;
  const end = start + len;
  while (i < end && b[i] === 0x20) i++;
  while (i < end && b[i] === 0) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return NaN;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits ? value : 0;
}

function sameBytes(b: Uint8Array, at: number, magic: Buffer): boolean {
  for (let i = 0; i < magic.length; i++) if (b[at + i] !== magic[i]) return false;
  return true;
}

/**
 * Decodes one header block; `null` for a zero block (which does not end the archive, as with
 * `tar -i`). Throws TarRuleError('corrupt') for a bad checksum or an unknown format.
 */
export function decodeHeader(b: Uint8Array): TarHeader | null {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < BLOCK; i++) sum += b[i]!;
  if (sum === 8 * 0x20) return null;
  if (sum !== numeric(b, 148, 8)) throw corrupt('bad header checksum (corrupt data, or not a tar archive)');
  let name = cstr(b, 0, 100);
  if (sameBytes(b, 257, USTAR)) {
    if (b[345] !== 0) name = Buffer.concat([cstr(b, 345, 155), Buffer.from('/'), name]);
  } else if (!sameBytes(b, 257, GNU)) {
    throw corrupt('unknown header format (neither ustar nor GNU)');
  }
  const flag = b[156]!;
  let type: TarType | string = TYPES[flag] ?? `'${String.fromCharCode(flag)}'`;
  // Old tars mark directories only by a trailing '/'.
  if (flag === 0 && name.length && name[name.length - 1] === 0x2f) type = 'directory';
  return {
    name: Buffer.from(name),
    type,
    mode: numeric(b, 100, 8),
    size: numeric(b, 124, 12),
    mtime: numeric(b, 136, 12),
    linkname: Buffer.from(cstr(b, 157, 100)),
  };
}

/** A GNU long name or link name: the bytes up to the first NUL. */
export function decodeLongName(b: Uint8Array): Buffer {
  return Buffer.from(cstr(b, 0, b.length));
}

/** Pax records `"<len> <key>=<value>\n"`; a malformed record is an error. */
export function decodePax(b: Uint8Array, into: PaxRecords = { other: new Map() }): PaxRecords {
  let off = 0;
  while (off < b.length) {
    if (b[off] === 0) break; // NUL padding after the last record
    let sp = off;
    let len = 0;
    while (sp < b.length && b[sp]! >= 0x30 && b[sp]! <= 0x39) len = len * 10 + (b[sp++]! - 0x30);
    if (sp === off || b[sp] !== 0x20 || len <= sp - off + 1 || off + len > b.length || b[off + len - 1] !== 0x0a) {
      throw corrupt('malformed pax extended header record');
    }
    const rec = Buffer.from(b.buffer, b.byteOffset + sp + 1, off + len - 1 - (sp + 1));
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw corrupt('malformed pax extended header record (no key)');
    const key = rec.subarray(0, eq).toString('utf8');
    const value = rec.subarray(eq + 1);
    if (key === 'path') into.path = Buffer.from(value);
    else if (key === 'linkpath') into.linkpath = Buffer.from(value);
    else into.other.set(key, value.toString('utf8'));
    off += len;
  }
  return into;
}
