// The UDP codec: what is encoded decodes to the same digests, batched within MAX_DATAGRAM;
// anything malformed is refused with its reason. The who-request and its id answer: the answer is
// never longer than a request the peer answers, and neither is taken for a query, hello or reply.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Digest, formatDigest } from '../../src/core/digest.js';
import {
  decodeIdAnswer,
  decodePartialReply,
  decodeQuery,
  decodeReply,
  encodeIdAnswer,
  encodePartialReply,
  encodeQuery,
  encodeReply,
  encodeWho,
  ID_ANSWER_SIZE,
  isHello,
  isHelloReply,
  isWho,
  MAX_DATAGRAM,
} from '../../src/core/protocol.js';

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

describe('the who-request and the id answer', () => {
  const id = hex(16);

  it('an id answer decodes to its id, and is never longer than the padded who-request', () => {
    const who = encodeWho();
    expect(isWho(who)).toBe(true);
    fc.assert(fc.property(id, (i) => {
      const answer = encodeIdAnswer(i);
      expect(answer.length).toBe(ID_ANSWER_SIZE);
      expect(answer.length).toBeLessThanOrEqual(who.length);
      expect(decodeIdAnswer(answer)).toBe(i);
      expect(decodeIdAnswer(Buffer.concat([answer, msg('\n')]))).toBe(i);
    }));
  });

  it('a peer answers only a who-request at least as long as its answer (no amplification)', () => {
    expect(isWho(msg('0share-who'))).toBe(false);
    expect(isWho(msg('0share-who\n'.padEnd(ID_ANSWER_SIZE - 1, '.')))).toBe(false);
    expect(isWho(msg('0share-who\n'.padEnd(ID_ANSWER_SIZE, 'x')))).toBe(true);
    expect(isWho(msg('0share-who\r\n'.padEnd(40, '.')))).toBe(true);
    expect(isWho(msg('0share-whom\n'.padEnd(40, '.')))).toBe(false);
  });

  it('neither is a query, a hello, a reply or a partial reply, and nothing else is an id answer', () => {
    const who = encodeWho();
    const answer = encodeIdAnswer('0123456789abcdef');
    for (const d of [who, answer]) {
      expect(decodeQuery(d)).toEqual({ ok: false, reason: 'bad-magic' });
      expect(decodeReply(d)).toEqual({ ok: false, reason: 'bad-magic' });
      expect(decodePartialReply(d)).toEqual({ ok: false, reason: 'bad-magic' });
      expect(isHello(d) || isHelloReply(d)).toBe(false);
    }
    expect(decodeIdAnswer(who)).toBeUndefined();
    expect(() => encodeIdAnswer('0123456789ABCDEF')).toThrow();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      const i = decodeIdAnswer(bytes);
      if (i !== undefined) expect(Buffer.from(bytes).toString('latin1').replace(/\r?\n?$/, '')).toMatch(/^0share-id\r?\n[0-9a-f]{16}$/);
    }));
    for (const bad of ['0share-id\n0123456789abcde', '0share-id\n0123456789abcdef0', '0share-id\n0123456789ABCDEF', '0share-id 0123456789abcdef', `0share-reply\n${SHA1}`]) {
      expect(decodeIdAnswer(msg(bad))).toBeUndefined();
    }
  });
});
