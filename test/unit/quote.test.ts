// quoteNetworkText: network text in messages is JSON-quoted (control characters escaped) and cut
// to a short prefix with its full size; a property checks any input, string or bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QUOTE_CHARS, quoteNetworkText, showNetworkToken } from '../../src/core/quote.js';

describe('quoteNetworkText', () => {
  it('quotes short text whole, escaping control characters', () => {
    expect(quoteNetworkText('a/b')).toBe('"a/b"');
    expect(quoteNetworkText('x\n\u001b[31m\0')).toBe('"x\\n\\u001b[31m\\u0000"');
    expect(quoteNetworkText(Buffer.from('é\n'))).toBe('"é\\n"');
    expect(quoteNetworkText(new Uint8Array([0xff]))).toBe('"\uFFFD"');
    expect(quoteNetworkText('\u007f\u009b2J\u202e\u2028')).toBe('"\\u007f\\u009b2J\\u202e\\u2028"');
    expect(quoteNetworkText('a'.repeat(QUOTE_CHARS))).toBe(`"${'a'.repeat(QUOTE_CHARS)}"`);
  });

  it('cuts long text to a prefix and gives its size in bytes', () => {
    const big = 'é'.repeat(1024 * 1024);
    expect(quoteNetworkText(big)).toBe(`"${'é'.repeat(QUOTE_CHARS)}…" (2097152 bytes)`);
    expect(quoteNetworkText(Buffer.from(big))).toBe(`"${'é'.repeat(QUOTE_CHARS)}…" (2097152 bytes)`);
    expect(quoteNetworkText('abcdef', 3)).toBe('"abc…" (6 bytes)');
    // A byte view into a larger buffer quotes only its own bytes.
    expect(quoteNetworkText(Buffer.from('xxabcyy').subarray(2, 5))).toBe('"abc"');
  });

  it('property: one line, bounded, a quoted prefix of the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.uint8Array({ maxLength: 600 })), fc.integer({ min: 1, max: 80 }), (input, max) => {
        const q = quoteNetworkText(input, max);
        expect(q).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
        // JSON escapes make a character at most 12 characters (a surrogate pair as two \uXXXX).
        expect(q.length).toBeLessThanOrEqual(12 * max + 40);
        const m = /^("(?:[^"\\]|\\.)*")(?: \((\d+) bytes\))?$/.exec(q);
        expect(m).not.toBeNull();
        const shown = JSON.parse(m![1]!) as string;
        const text = typeof input === 'string' ? input : Buffer.from(input).toString();
        const bytes = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
        if (m![2] === undefined) {
          expect(shown).toBe(text);
        } else {
          expect(Number(m![2])).toBe(bytes);
          expect(shown.endsWith('…')).toBe(true);
          expect([...shown].length).toBe(max + 1);
          // For bytes, only the last prefix character may differ (a sequence cut off by the window).
          expect(text.startsWith([...shown].slice(0, max - 1).join(''))).toBe(true);
        }
      }),
    );
  });

  it('showNetworkToken leaves plain request targets alone and quotes the rest', () => {
    expect(showNetworkToken('/implementation/sha1new=ab?format=tar')).toBe('/implementation/sha1new=ab?format=tar');
    expect(showNetworkToken('/a b')).toBe('"/a b"');
    expect(showNetworkToken('/' + 'x'.repeat(300))).toMatch(/^"\/x+…" \(301 bytes\)$/);
  });
});
