// Tar header decoding (src/core/tar-decode.ts): checksums, formats, numbers, the ustar prefix,
// pax records and GNU long names, on hand-built blocks.
import { describe, expect, it } from 'vitest';
import { decodeHeader, decodeLongName, decodePax } from '../../src/core/tar-decode.js';
import { TarRuleError } from '../../src/core/tar-rules.js';

interface Fields {
  name?: string | Buffer;
  prefix?: string;
  mode?: string;
  size?: string | Buffer;
  mtime?: string | Buffer;
  type?: string;
  linkname?: string;
  magic?: string;
}

/** A header block with the given raw fields and a correct checksum (unless `sum` is given). */
function block(f: Fields, sum?: number): Buffer {
  const b = Buffer.alloc(512);
  const put = (v: string | Buffer | undefined, at: number) => v !== undefined && (Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1')).copy(b, at);
  put(f.name ?? 'a', 0);
  put(f.mode ?? '0000644\0', 100);
  put(f.size ?? '00000000000\0', 124);
  put(f.mtime ?? '00000000017\0', 136);
  put(f.type ?? '0', 156);
  put(f.linkname, 157);
  put(f.magic ?? 'ustar\x0000', 257);
  put(f.prefix, 345);
  b.fill(0x20, 148, 156);
  let s = 0;
  for (const x of b) s += x;
  b.write(`${(sum ?? s).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

const rule = (fn: () => unknown, re: RegExp) => {
  expect(fn).toThrow(TarRuleError);
  expect(fn).toThrow(re);
};

describe('decodeHeader', () => {
  it('reads the fields of a ustar header, joining the prefix', () => {
    const h = decodeHeader(block({ name: 'file', prefix: 'dir/sub', mode: '0000755\0', size: '00000001000\0', mtime: '13333333333\0' }))!;
    expect(h.name.toString()).toBe('dir/sub/file');
    expect(h.type).toBe('file');
    expect(h.mode).toBe(0o755);
    expect(h.size).toBe(0o1000);
    expect(h.mtime).toBe(0o13333333333);
  });

  it('a zero block is null; a bad checksum or unknown format is corrupt', () => {
    expect(decodeHeader(Buffer.alloc(512))).toBeNull();
    rule(() => decodeHeader(block({}, 1234)), /checksum/);
    rule(() => decodeHeader(block({ magic: 'nottar' })), /unknown header format/);
    rule(() => decodeHeader(Buffer.alloc(512, 0x41)), /checksum/);
  });

  it('GNU headers ignore the prefix field; base-256 numbers, leading spaces, garbage as NaN', () => {
    const size = Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    const minusTwo = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    const h = decodeHeader(block({ magic: 'ustar  \0', prefix: 'ignored', size, mtime: minusTwo, mode: '  644 \0\0' }))!;
    expect(h.name.toString()).toBe('a');
    expect(h.size).toBe(2 ** 24);
    expect(h.mtime).toBe(-2);
    expect(h.mode).toBe(0o644);
    expect(decodeHeader(block({ mode: '0009\0' }))!.mode).toBeNaN();
  });

  it('names entry types; a trailing slash makes an old-style directory; unknown flags are shown', () => {
    expect(decodeHeader(block({ type: '5' }))!.type).toBe('directory');
    expect(decodeHeader(block({ type: '\0', name: 'd/' }))!.type).toBe('directory');
    expect(decodeHeader(block({ type: '2', linkname: 'target' }))!.linkname.toString()).toBe('target');
    expect(decodeHeader(block({ type: 'x' }))!.type).toBe('pax-header');
    expect(decodeHeader(block({ type: 'L' }))!.type).toBe('gnu-long-path');
    expect(decodeHeader(block({ type: 'V' }))!.type).toBe("'V'");
  });

  it('keeps raw name bytes', () => {
    const raw = Buffer.from([0x61, 0xff, 0xfe, 0x0a]);
    expect(decodeHeader(block({ name: raw }))!.name.equals(raw)).toBe(true);
  });
});

describe('decodePax and decodeLongName', () => {
  const rec = (k: string, v: Buffer | string) => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  };

  it('reads path and linkpath as raw bytes and the other keys as text', () => {
    const raw = Buffer.from([0xc3, 0x28, 0x2f, 0x78]);
    const p = decodePax(Buffer.concat([rec('path', raw), rec('mtime', '12.5'), rec('linkpath', 'a=b'), Buffer.alloc(20)]));
    expect(p.path!.equals(raw)).toBe(true);
    expect(p.linkpath!.toString()).toBe('a=b');
    expect(p.other.get('mtime')).toBe('12.5');
  });

  it('refuses malformed records', () => {
    rule(() => decodePax(Buffer.from('5 a=b\n')), /malformed/);
    rule(() => decodePax(Buffer.from('x path=a\n')), /malformed/);
    rule(() => decodePax(Buffer.from('9 =value\n')), /no key/);
    rule(() => decodePax(Buffer.from('99 path=a\n')), /malformed/);
  });

  it('a GNU long name ends at its NUL', () => {
    expect(decodeLongName(Buffer.from('long/name\0\0junk')).toString()).toBe('long/name');
  });
});
