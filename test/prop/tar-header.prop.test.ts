// The packer's own tar headers are byte for byte what tar-stream's pack writes for the same entry
// (which the packer used before and which GNU tar, 0install and our extractor read): short and
// long ASCII names (prefix split), UTF-8 and over-long names and link targets (pax path/linkpath),
// an extra pax mtime key, every entry type, modes, sizes up to and past the 8 GiB octal limit, and
// mtimes up to 2^31 - 1.
import fc from 'fast-check';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BLOCK, type HeaderFields, padding, paxHeader, writeUstar } from '../../src/io/tar-header.js';

/** The packer's bytes for a header: ustar when it fits and no extra keys, else pax. */
function ours(h: HeaderFields, keys?: Record<string, string>): Buffer {
  if (!keys) {
    const block = Buffer.alloc(BLOCK, 0xee);
    if (writeUstar(block, 0, h)) return block;
  }
  return paxHeader(h, keys);
}

/** The first `n` bytes tar-stream's pack writes for an entry with this header (its data unsent). */
async function theirs(h: HeaderFields, keys: Record<string, string> | undefined, n: number): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve) => {
    pack.on('data', (data: unknown) => {
      const c = data as Buffer;
      chunks.push(c);
      got += c.length;
      if (got >= n) resolve();
    });
  });
  pack.entry({ name: h.name, type: h.type, mode: h.mode, size: h.size, mtime: new Date(h.mtime * 1000), linkname: h.linkname, pax: keys });
  await done;
  pack.destroy();
  return Buffer.concat(chunks).subarray(0, n);
}

const segment = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9._ -]{1,40}$/),
  fc.stringMatching(/^[a-z]{1,130}$/),
  fc.constantFrom('é', 'ünïcode', '日本', 'x'.repeat(101)),
);
const name = fc.array(segment, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/'));
const header = fc.record({
  name,
  type: fc.constantFrom('file' as const, 'directory' as const, 'symlink' as const),
  mode: fc.constantFrom(0o644, 0o755, 0o777),
  size: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 2 ** 45 })),
  mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  linkname: name,
  paxTime: fc.option(fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }), { nil: undefined }),
});

describe('tar headers', () => {
  it('match tar-stream byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(header, async (r) => {
        const h: HeaderFields = { name: r.name, type: r.type, mode: r.mode, size: r.type === 'file' ? r.size : 0, mtime: r.mtime };
        if (r.type === 'symlink') h.linkname = r.linkname;
        const keys = r.paxTime === undefined ? undefined : { mtime: r.paxTime.toString() };
        const mine = ours(h, keys);
        expect((await theirs(h, keys, mine.length)).equals(mine)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('pads data to whole blocks', () => {
    expect([0, 1, 511, 512, 513, 1024].map(padding)).toEqual([0, 511, 1, 0, 511, 0]);
  });
});
