// Quoting text that came from the network (entry names, headers, digests a peer sent) in error
// and log messages: JSON-quoted (and DEL, C1, line and bidi controls escaped too), so control
// characters, NUL and newlines stay visible and cannot forge lines or recolour a terminal, and
// cut to a short prefix, so a hostile 1 MiB name makes a one-line message.

/** What JSON.stringify leaves as is but a terminal acts on: DEL, C1 controls, line and bidi controls. */
const INVISIBLE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON quoting, with the characters above escaped too (it still parses back to the same text). */
function quote(text: string): string {
  return JSON.stringify(text).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Characters of network text a message quotes at most. */
export const QUOTE_CHARS = 40;

/**
 * `"text"` when it has at most `max` characters, else `"prefix…" (N bytes)`. Bytes are decoded
 * as UTF-8 (invalid sequences show as U+FFFD), and only as far as the prefix needs.
 */
export function quoteNetworkText(text: string | Uint8Array, max = QUOTE_CHARS): string {
  let total: number;
  let head: string;
  let complete: boolean;
  if (typeof text === 'string') {
    total = Buffer.byteLength(text);
    // A character is at most 2 UTF-16 units.
    head = text.slice(0, 2 * (max + 1));
    complete = head.length === text.length;
  } else {
    total = text.byteLength;
    // ...and at most 4 UTF-8 bytes (an invalid byte is one U+FFFD).
    const window = Math.min(total, 4 * (max + 1));
    head = Buffer.from(text.buffer, text.byteOffset, window).toString();
    complete = window === total;
  }
  const chars = [...head];
  if (complete && chars.length <= max) return quote(head);
  return `${quote(`${chars.slice(0, max).join('')}…`)} (${total} bytes)`;
}

/** A request target or similar token as is when it is short printable ASCII, else quoted as above. */
export function showNetworkToken(text: string, max = 200): string {
  return text.length <= max && /^[\x21-\x7e]*$/.test(text) ? text : quoteNetworkText(text, max);
}
