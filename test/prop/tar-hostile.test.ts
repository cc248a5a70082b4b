// Random hostile archives against the extractor: traversal names, symlinks (relative, absolute,
// escaping) followed by entries through them, hard links, devices, fifos, lying sizes, truncation,
// NUL and newline in names, duplicates, setuid bits, gzip or not. Whatever the archive, the
// extractor either refuses it with an ExtractError or succeeds, and in both cases: nothing outside
// the extraction directory changed, no file was created through a symlink, no more than maxBytes
// were written, and no file descriptor was left open. On success the manifest it returns is the
// manifest of the tree on disk.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtractError } from '../../src/io/tar-extract.js';
import { checkedExtract, extractionSandbox, type ExtractionSandbox, filesIn, rawTar, type RawEntry, removeAll } from '../helpers/tar-fixtures.js';

let sandbox: ExtractionSandbox;
let outside: string;
let dest: string;

beforeAll(() => {
  sandbox = extractionSandbox('0share-tarh-');
  ({ outside, dest } = sandbox);
});

afterAll(() => removeAll(sandbox.base));

const OUTSIDE = '@OUTSIDE@';
const MAX_BYTES = 3000;

const component = fc.constantFrom('a', 'b', 'esc', 'l1', '..', '.', '', '.manifest', 'x\ny', 'n\0l', 'victim');
const name = fc.oneof(
  fc.constantFrom('esc', 'esc/a', 'esc/victim', 'l1/x', 'a/b', '.manifest', './.manifest', 'a', 'a/', '../outside/victim', `${OUTSIDE}/victim`),
  fc
    .tuple(fc.constantFrom('', '', '/', './', '../'), fc.array(component, { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([lead, parts, slash]) => lead + parts.join('/') + (slash ? '/' : '')),
);
const target = fc.constantFrom('../outside', OUTSIDE, `${OUTSIDE}/victim`, '../outside/victim', '.', 'a', '../../..', '/etc', 'l1', 'esc/..', '');

const entry = fc.record({
  name,
  // mostly files, dirs and symlinks; sometimes links, devices, fifos, contiguous files, unknown
  type: fc.constantFrom('0', '0', '0', '5', '5', '2', '2', '2', '1', '3', '4', '6', '7', 'V'),
  mode: fc.constantFrom(0o644, 0o755, 0o600, 0o4755, 0o2755, 0o1777),
  data: fc.uint8Array({ maxLength: 1500 }),
  size: fc.option(fc.constantFrom(0, 1, 513, 100_000, 2 ** 40), { freq: 6 }),
  target,
  viaPax: fc.boolean(),
  mtime: fc.integer({ min: 0, max: 2 ** 33 - 1 }),
});

const archive = fc.record({
  entries: fc.array(entry, { maxLength: 8 }),
  gzip: fc.boolean(),
  end: fc.boolean(),
  cut: fc.option(fc.nat({ max: 20_000 }), { freq: 4 }),
});

type Gen = typeof archive extends fc.Arbitrary<infer T> ? T : never;

function build(a: Gen): { bytes: Buffer; entries: RawEntry[] } {
  const sub = (s: string) => s.split(OUTSIDE).join(outside);
  const entries: RawEntry[] = a.entries.map((e) => {
    const n = sub(e.name);
    const data = e.type === '0' || e.type === '7' ? Buffer.from(e.data) : Buffer.alloc(0);
    return {
      name: e.viaPax ? 'placeholder' : n,
      pax: e.viaPax ? { path: n } : undefined,
      type: e.type,
      mode: e.mode,
      data,
      size: e.size ?? undefined,
      linkname: e.type === '1' || e.type === '2' ? sub(e.target) : undefined,
      mtime: e.mtime,
    };
  });
  let bytes = rawTar(entries, { end: a.end });
  if (a.cut !== null) bytes = bytes.subarray(0, Math.min(bytes.length, a.cut));
  if (a.gzip) bytes = gzipSync(bytes);
  return { bytes, entries };
}

/** The names the archive declares for regular files, as the extractor would normalise them. */
function declaredFiles(entries: RawEntry[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    // a ustar name field ends at the first NUL; a pax path keeps it (and is then refused); an
    // empty pax path deletes the record (POSIX), so the header's name counts
    const paxPath = e.pax?.path !== undefined ? String(e.pax.path) : '';
    let n = paxPath !== '' ? paxPath : String(e.name).split('\0')[0]!;
    while (n.startsWith('./')) n = n.slice(2);
    if (e.type === '0' || e.type === '7') {
      out.add(n);
      // an entry before it whose size field claims more data than it has makes the parser read
      // this pax header as that entry's data, and the ustar header behind it as a file of its own
      if (e.pax !== undefined) out.add(String(e.name));
    }
  }
  return out;
}

describe('extractTar against random hostile archives', () => {
  it('refuses or succeeds, never writes outside, through a symlink or over the cap', async () => {
    let successes = 0;
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(archive, async (a) => {
        const { bytes, entries } = build(a);
        // checks that nothing outside dest changed, no descriptor is left open, at most
        // MAX_BYTES were written, and a success's manifest is the tree on disk
        const { error } = await checkedExtract(sandbox, [bytes], { maxBytes: MAX_BYTES, maxEntries: 6 });
        if (error === undefined) successes++;
        else {
          if (!(error instanceof ExtractError)) throw error;
          expect(error.message.length).toBeGreaterThan(10);
          refusals++;
        }
        const declared = declaredFiles(entries);
        for (const f of filesIn(dest).files) expect(declared.has(f), `file ${f} was not declared (written through a symlink?)`).toBe(true);
      }),
      { numRuns: 1000 },
    );
    // the generator must exercise both outcomes, or the property proves little
    expect(successes).toBeGreaterThan(10);
    expect(refusals).toBeGreaterThan(100);
  });
});
