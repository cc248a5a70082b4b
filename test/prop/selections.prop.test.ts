// Round trip: generated selections documents (every kind of selection, escaped attribute values,
// several <manifest-digest> elements, foreign namespaces) parse to exactly the modelled digests.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { selectionsDigests } from '../../src/core/selections.js';
import { bestDigest, type Digest } from '../../src/core/digest.js';

const NS = 'http://zero-install.sourceforge.net/2004/injector/interface';
const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const b32 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), minLength: 52, maxLength: 52 });
const digestArb: fc.Arbitrary<Digest> = fc.oneof(
  hex(40).map((value) => ({ alg: 'sha1' as const, value })),
  hex(40).map((value) => ({ alg: 'sha1new' as const, value })),
  hex(64).map((value) => ({ alg: 'sha256' as const, value })),
  b32.map((value) => ({ alg: 'sha256new' as const, value })),
);
const text = fc.string({ unit: fc.constantFrom(...'abcXYZ019 ./:-_&<>"\'é'), minLength: 1, maxLength: 20 });
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

type Sel =
  | { kind: 'local-path' | 'abs-id' | 'package' | 'compile'; iface: string; version?: string }
  | { kind: 'cached'; iface: string; version?: string; idDigest?: Digest; idText: string; groups: Digest[][]; foreign: boolean };

const selArb: fc.Arbitrary<Sel> = fc.oneof(
  fc.record({ kind: fc.constantFrom('local-path', 'abs-id', 'package', 'compile'), iface: text, version: fc.option(text, { nil: undefined }) }),
  fc
    .record({
      kind: fc.constant('cached' as const),
      iface: text,
      version: fc.option(text, { nil: undefined }),
      idDigest: fc.option(digestArb, { nil: undefined }),
      idText: text.map((t) => `impl-${t}`),
      groups: fc.array(fc.uniqueArray(digestArb, { selector: (d) => d.alg, maxLength: 4 }), { maxLength: 3 }),
      foreign: fc.boolean(),
    })
    .filter((s) => s.idDigest !== undefined || s.groups.some((g) => g.length > 0)),
);

function idOf(d: Digest): string {
  return d.alg === 'sha256new' ? `sha256new_${d.value}` : `${d.alg}=${d.value}`;
}

function render(sels: Sel[]): string {
  const body = sels.map((s) => {
    const v = s.version !== undefined ? ` version="${esc(s.version)}"` : '';
    const i = ` interface="${esc(s.iface)}"`;
    switch (s.kind) {
      case 'local-path': return `<selection id="."${i}${v} local-path="/opt/x"/>`;
      case 'abs-id': return `<selection id="/usr/lib/x"${i}${v}/>`;
      case 'package': return `<selection id="package:deb:x:1"${i}${v}/>`;
      case 'compile': return `<selection id="src-1" requires-compilation="true"${i}${v}/>`;
      case 'cached': {
        const id = s.idDigest ? idOf(s.idDigest) : s.idText;
        const mds = s.groups.map((g) => `<manifest-digest${s.foreign ? ' f:sha256="0"' : ''}${g.map((d) => ` ${d.alg}="${d.value}"`).join('')}/>`);
        return `<selection id="${esc(id)}"${i}${v}>\n  <command name="run" path="a b"/>\n  ${mds.join('\n  ')}\n</selection>`;
      }
    }
  });
  return `<?xml version="1.0" ?>\n<selections interface="root" command="run" xmlns="${NS}" xmlns:f="urn:foreign">\n${body.join('\n')}\n</selections>\n`;
}

type Want = { interface: string; version?: string; id: string; digests: Digest[] } | 'error';

function expected(sels: Sel[]): Want[] {
  return sels.flatMap((s): Want[] => {
    if (s.kind !== 'cached') return [];
    const all: Digest[] = [];
    // The id counts only for sha1=, sha1new= and sha256= (not sha256new_).
    const fromId = s.idDigest && s.idDigest.alg !== 'sha256new' ? [s.idDigest] : [];
    for (const d of [...fromId, ...s.groups.flat()]) if (!all.some((a) => a.alg === d.alg && a.value === d.value)) all.push(d);
    if (all.length === 0) return ['error'];
    return [{ interface: s.iface, ...(s.version !== undefined ? { version: s.version } : {}), id: s.idDigest ? idOf(s.idDigest) : s.idText, digests: all }];
  });
}

describe('selectionsDigests round trip', () => {
  it('parses generated documents to the modelled digests', () => {
    fc.assert(
      fc.property(fc.array(selArb, { maxLength: 8 }), (sels) => {
        const want = expected(sels);
        if (want.includes('error')) expect(() => selectionsDigests(render(sels))).toThrow(/No digests found/);
        else {
          const got = selectionsDigests(render(sels));
          expect(got).toEqual(want);
          for (const g of got) expect(bestDigest(g.digests)).toBeDefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});
