// The UDP codec: what is encoded decodes to the same digests, batched within MAX_DATAGRAM;
// anything malformed is refused with its reason.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Digest, formatDigest } from '../../src/core/digest.js';
import { MAX_DATAGRAM, decodePartialReply, decodeQuery, decodeReply, encodePartialReply, encodeQuery, encodeReply } from '../../src/core/protocol.js';

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const digestArb: fc.Arbitrary<Digest> = fc.oneof(
  fc.record({ alg: fc.constantFrom('sha1' as const, 'sha1new' as const), value: hex(40) }),
  fc.record({ alg: fc.constant('sha256' as const), value: hex(64) }),
  fc.record({ alg: fc.constant('sha256new' as const), value: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), minLength: 52, maxLength: 52 }) }),
);
const unique = fc.uniqueArray(digestArb, { minLength: 1, maxLength: 80, selector: formatDigest });

const S256 = 'sha256new_4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ';
const SHA1 = 'sha1new=da39a3ee5e6b4b0d3255bfef95601890afd80709';
const msg = (s: string) => Buffer.from(s, 'latin1');

describe('encode then decode', () => {
  it.each([
    ['query', encodeQuery, decodeQuery],
    ['reply', encodeReply, decodeReply],
    ['partial reply', encodePartialReply, decodePartialReply],
  ] as const)('%s: the same digests in order, no datagram over MAX_DATAGRAM', (_kind, encode, decode) => {
    fc.assert(fc.property(unique, (ds) => {
      const datagrams = encode(ds);
      const back: Digest[] = [];
      for (const d of datagrams) {
        expect(d.length).toBeLessThanOrEqual(MAX_DATAGRAM);
        const r = decode(d);
        if (!r.ok) throw new Error(`refused its own datagram: ${r.reason}`);
        back.push(...r.digests);
      }
      expect(back).toEqual(ds);
    }));
  });

  it('sends nothing for no digests', () => {
    expect(encodeQuery([])).toEqual([]);
    expect(encodeReply([])).toEqual([]);
    expect(encodePartialReply([])).toEqual([]);
  });
});

describe('decode', () => {
  it('accepts CRLF, blank lines, the sha256new= form and duplicates (once each)', () => {
    const r = decodeQuery(msg(`0share\r\n${S256.replace('_', '=')}\r\n\n${SHA1}\n${S256}\n`));
    expect(r.ok && r.digests.map(formatDigest)).toEqual([S256, SHA1]);
  });

  it.each([
    ['oversized', `0share\n${SHA1}\n${' '.repeat(MAX_DATAGRAM)}`],
    ['not-text', `0share\n${SHA1}\u00e9`],
    ['not-text', `0share\n${SHA1}\u0000`],
    ['bad-magic', `0share-reply\n${SHA1}`],
    ['bad-magic', `0SHARE\n${SHA1}`],
    ['no-digest', '0share\n\n'],
    ['bad-digest', `0share\n${SHA1}\nsha1new=xyz`],
  ])('refuses a query as %s: %j', (reason, text) => {
    expect(decodeQuery(msg(text))).toEqual({ ok: false, reason });
  });

  it('a reply needs the reply magic', () => {
    expect(decodeReply(msg(`0share\n${SHA1}`))).toEqual({ ok: false, reason: 'bad-magic' });
  });
});

describe('the partial reply', () => {
  it('is not a reply (the 2008 client and reply decoders refuse it) and a reply is not a partial reply', () => {
    const [partial] = encodePartialReply([{ alg: 'sha1new', value: SHA1.slice(8) }]);
    expect(partial!.toString('latin1')).toBe(`0share-partial\n${SHA1}`);
    expect(decodeReply(partial!)).toEqual({ ok: false, reason: 'bad-magic' });
    expect(decodePartialReply(msg(`0share-reply\n${SHA1}`))).toEqual({ ok: false, reason: 'bad-magic' });
  });
});
