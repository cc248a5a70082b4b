// Tar header blocks for the packer, byte for byte as tar-stream 3's pack writes them: a ustar
// header (an ASCII name longer than 100 bytes split at a '/' into prefix and name; uid/gid 0, no
// user or group names), or, when the name or link target does not fit or extra pax keys are
// wanted, a pax 'x' record (path, linkpath, keys) followed by a header named "PaxHeader". Also the
// GNU long-name records ('L'/'K') and the stand-alone pax mtime record that the packer sends for
// names that are not UTF-8. Pure functions on buffers.
//
// Why not tar-stream's pack() itself: it makes a stream and several objects per entry, and that
// churn alone kept the peer above its 100 MB goal while serving the 5,000-file bench tree (142 MB
// measured, 71–74 MB with this encoder and pooled chunks). tar-stream stays the reference: a
// property test (test/prop/tar-header.prop.test.ts) checks these headers equal its own, byte for
// byte, as test/prop/tar-parse.prop.test.ts checks the extractor's parser against tar-stream's.

export const BLOCK = 512;

const TYPEFLAG = { file: 0x30, symlink: 0x32, directory: 0x35, pax: 0x78 } as const;

export interface HeaderFields {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  /** Seconds since the epoch, 0 up to 2^31 - 1 (others go in a pax record). */
  mtime: number;
  linkname?: string;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** `value` as `digits` octal digits and a space (all 7s when it does not fit), like tar-stream. */
function writeOct(buf: Buffer, off: number, value: number, digits: number): void {
  let v = value;
  for (let i = digits - 1; i >= 0; i--) {
    buf[off + i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  if (v > 0) buf.fill(0x37, off, off + digits);
  buf[off + digits] = 0x20;
}

function writeSize(buf: Buffer, off: number, size: number): void {
  if (size < 8 ** 11) {
    writeOct(buf, off, size, 11);
    return;
  }
  // Base-256 for sizes of 8 GiB and more.
  buf[off] = 0x80;
  let n = size;
  for (let i = 11; i > 0; i--) {
    buf[off + i] = n & 0xff;
    n = Math.floor(n / 0x100);
  }
}

/**
 * Writes the ustar header block for `h` at buf[off, off + 512) and returns true, or writes nothing
 * and returns false when the name or link target needs a pax record.
 */
export function writeUstar(buf: Buffer, off: number, h: HeaderFields, typeflag: number = TYPEFLAG[h.type]): boolean {
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return false;
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return false;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return false;
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) return false;

  buf.fill(0, off, off + BLOCK);
  buf.write(name, off, 'latin1');
  writeOct(buf, off + 100, h.mode & 0o7777, 6);
  writeOct(buf, off + 108, 0, 6);
  writeOct(buf, off + 116, 0, 6);
  writeSize(buf, off + 124, h.size);
  writeOct(buf, off + 136, h.mtime, 11);
  buf[off + 156] = typeflag;
  if (h.linkname) buf.write(h.linkname, off + 157, 'utf8');
  buf.write('ustar\x0000', off + 257, 'latin1');
  writeOct(buf, off + 329, 0, 6);
  writeOct(buf, off + 337, 0, 6);
  if (prefix) buf.write(prefix, off + 345, 'latin1');
  let sum = 8 * 32;
  for (let i = off; i < off + 148; i++) sum += buf[i]!;
  for (let i = off + 156; i < off + BLOCK; i++) sum += buf[i]!;
  writeOct(buf, off + 148, sum, 6);
  return true;
}

/** A pax record line, "<length> <key>=<value>\n", with tar-stream's length arithmetic. */
function paxLine(key: string, value: string): string {
  const str = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(str);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${str}`;
}

/**
 * The header of an entry as a pax record (path, linkpath and `keys`) plus the entry's own header
 * named "PaxHeader": for names that do not fit ustar, and for extra keys such as mtime. A name or
 * target that a GNU long record before it carries (as raw bytes) is left out of the pax record,
 * which readers would otherwise prefer to it.
 */
export function paxHeader(h: HeaderFields, keys: Record<string, string> = {}, inGnuRecord: { name?: boolean; linkname?: boolean } = {}): Buffer {
  let text = '';
  if (h.name && !inGnuRecord.name) text += paxLine('path', h.name);
  if (h.linkname && !inGnuRecord.linkname) text += paxLine('linkpath', h.linkname);
  for (const [k, v] of Object.entries(keys)) text += paxLine(k, v);
  const data = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(BLOCK + data.length + padding(data.length) + BLOCK);
  const stub = { ...h, name: 'PaxHeader', linkname: h.linkname ? 'PaxHeader' : undefined };
  writeUstar(out, 0, { ...stub, size: data.length }, TYPEFLAG.pax);
  data.copy(out, BLOCK);
  writeUstar(out, out.length - BLOCK, stub);
  return out;
}

function octal(buf: Buffer, value: number | bigint, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
}

/** A header block for an extension record (GNU long name/link, pax) followed by its data. */
function extensionRecord(name: string, type: string, data: Buffer, gnu: boolean): Buffer {
  const out = Buffer.alloc(BLOCK + data.length + padding(data.length));
  out.write(name, 0, 'latin1');
  octal(out, 0o644, 100, 8);
  octal(out, 0, 108, 8);
  octal(out, 0, 116, 8);
  octal(out, data.length, 124, 12);
  octal(out, 0, 136, 12);
  out.write(type, 156, 'latin1');
  out.write(gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  out.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += out[i]!;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  data.copy(out, BLOCK);
  return out;
}

/** A GNU ././@LongLink record ('L' for the next entry's name, 'K' for its link target). */
export function gnuLongRecord(type: 'L' | 'K', value: Buffer): Buffer {
  return extensionRecord('././@LongLink', type, Buffer.concat([value, Buffer.alloc(1)]), true);
}

/** A pax extended header carrying only an mtime, for the next entry. */
export function paxMtimeRecord(mtime: bigint): Buffer {
  return extensionRecord('PaxHeader', 'x', Buffer.from(paxLine('mtime', mtime.toString()), 'latin1'), false);
}
