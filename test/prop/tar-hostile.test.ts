// Random hostile archives against the extractor: traversal names, symlinks (relative, absolute,
// escaping) followed by entries through them, hard links, devices, fifos, lying sizes, truncation,
// NUL and newline in names, duplicates, setuid bits, gzip or not. Whatever the archive, the
// extractor either refuses it with an ExtractError or succeeds, and in both cases: nothing outside
// the extraction directory changed, no file was created through a symlink, no more than maxBytes
// were written, and no file descriptor was left open. On success the manifest it returns is the
// manifest of the tree on disk.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderManifest } from '../../src/core/manifest-format.js';
import { ExtractError, extractTar } from '../../src/io/tar-extract.js';
import { walkTree } from '../../src/io/tree-walk.js';
import { filesIn, openFds, rawTar, snapshot, type RawEntry, removeAll } from '../helpers/tar-fixtures.js';

let base: string;
let outside: string;
let dest: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), '0share-tarh-'));
  outside = join(base, 'outside');
  dest = join(base, 'dest');
  mkdirSync(join(outside, 'sub'), { recursive: true });
  writeFileSync(join(outside, 'victim'), 'original');
  symlinkSync('victim', join(outside, 'victim-link'));
});

afterAll(() => removeAll(base));

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
    if (e.type === '0' || e.type === '7') out.add(n);
  }
  return out;
}

describe('extractTar against random hostile archives', () => {
  it('refuses or succeeds, never writes outside, through a symlink or over the cap', async () => {
    let successes = 0;
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(archive, async (a) => {
        removeAll(dest);
        mkdirSync(dest);
        const before = snapshot(base, [dest]);
        const fds = openFds();
        const { bytes, entries } = build(a);
        let manifest: Buffer | undefined;
        try {
          manifest = (await extractTar([bytes], dest, { alg: 'sha256new', maxBytes: MAX_BYTES, maxEntries: 6 })).manifest;
          successes++;
        } catch (err) {
          if (!(err instanceof ExtractError)) throw err;
          expect(err.message.length).toBeGreaterThan(10);
          refusals++;
        }
        expect(snapshot(base, [dest])).toEqual(before);
        expect(openFds()).toBe(fds);
        const found = filesIn(dest);
        expect(found.bytes).toBeLessThanOrEqual(MAX_BYTES);
        const declared = declaredFiles(entries);
        for (const f of found.files) expect(declared.has(f), `file ${f} was not declared (written through a symlink?)`).toBe(true);
        if (manifest) {
          const onDisk = renderManifest(await walkTree(dest, 'sha256new'), 'sha256new');
          expect(manifest.toString('latin1')).toBe(onDisk.toString('latin1'));
        }
      }),
      { numRuns: 1000 },
    );
    // the generator must exercise both outcomes, or the property proves little
    expect(successes).toBeGreaterThan(10);
    expect(refusals).toBeGreaterThan(100);
  });
});
