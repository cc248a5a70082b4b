// The UDP discovery protocol of the 2008 0share, kept byte-compatible:
//   query: "0share\n<digest>[\n<digest>…]"   reply: "0share-reply\n<digest>[\n<digest>…]"
// plus 0share's own datagrams, which the 2008 client ignores (their first line is not
// `0share-reply`): the hello and its answer, and the partial reply of a peer whose machine is
// still fetching a digest ("0share-partial\n<digest>…": it serves the files it has verified).
// Digests travel in their strict string form (sha1new=…, sha256new_…); `sha256new=` is accepted.
import { type Digest, formatDigest, parseDigestLoose } from './digest.js';

export const DEFAULT_PORT = 38339;
/**
 * The IPv6 link-local multicast group of the query (IPv6 has no broadcast): ff02::95c3, 0x95c3
 * being 38339. Link-local scope, so it never leaves the link; unassigned by IANA; joined only by
 * 0share peers, so other hosts' NICs filter it out (unlike ff02::1, which every host receives).
 */
export const IPV6_GROUP = 'ff02::95c3';
/** Largest datagram we send or accept: fits an Ethernet MTU with room for IP/UDP headers. */
export const MAX_DATAGRAM = 1400;
/**
 * `0share peers`' hello and its answer: every peer answers the hello, whatever it holds, with the
 * reply, which is one byte shorter (so a forged hello cannot make a peer amplify). The 2008 peer
 * ignores the hello (its first line is not `0share`).
 */
export const HELLO = '0share-peers';
export const HELLO_REPLY = '0share-peer';

export function isHello(msg: Uint8Array): boolean {
  return Buffer.from(msg).toString('latin1').replace(/\n$/, '') === HELLO;
}

export function isHelloReply(msg: Uint8Array): boolean {
  return Buffer.from(msg).toString('latin1').replace(/\n$/, '') === HELLO_REPLY;
}

const QUERY_MAGIC = '0share';
const REPLY_MAGIC = '0share-reply';
const PARTIAL_MAGIC = '0share-partial';

export type DecodeResult =
  | { ok: true; digests: Digest[] }
  | { ok: false; reason: 'oversized' | 'not-text' | 'bad-magic' | 'no-digest' | 'bad-digest' };

function encode(magic: string, digests: readonly Digest[]): Buffer[] {
  const out: Buffer[] = [];
  let lines: string[] = [];
  let size = magic.length;
  for (const d of digests) {
    const s = formatDigest(d);
    if (lines.length && size + 1 + s.length > MAX_DATAGRAM) {
      out.push(Buffer.from([magic, ...lines].join('\n'), 'ascii'));
      lines = [];
      size = magic.length;
    }
    lines.push(s);
    size += 1 + s.length;
  }
  if (lines.length) out.push(Buffer.from([magic, ...lines].join('\n'), 'ascii'));
  return out;
}

/** Query datagrams for these digests, batched so that none exceeds MAX_DATAGRAM. */
export function encodeQuery(digests: readonly Digest[]): Buffer[] {
  return encode(QUERY_MAGIC, digests);
}

/** Reply datagrams listing the digests this peer has (none when it has none). */
export function encodeReply(digests: readonly Digest[]): Buffer[] {
  return encode(REPLY_MAGIC, digests);
}

/** Partial-reply datagrams: digests this peer's machine is fetching and partly holds (none when none). */
export function encodePartialReply(digests: readonly Digest[]): Buffer[] {
  return encode(PARTIAL_MAGIC, digests);
}

function decode(magic: string, msg: Uint8Array): DecodeResult {
  if (msg.length > MAX_DATAGRAM) return { ok: false, reason: 'oversized' };
  // Printable ASCII lines (LF or CRLF) only.
  for (const b of msg) if (b > 0x7e || (b < 0x20 && b !== 0x0a && b !== 0x0d)) return { ok: false, reason: 'not-text' };
  const lines = Buffer.from(msg).toString('ascii').split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines[0] !== magic) return { ok: false, reason: 'bad-magic' };
  const digests: Digest[] = [];
  const seen = new Set<string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    try {
      const d = parseDigestLoose(line);
      const k = formatDigest(d);
      if (!seen.has(k)) {
        seen.add(k);
        digests.push(d);
      }
    } catch {
      return { ok: false, reason: 'bad-digest' };
    }
  }
  if (digests.length === 0) return { ok: false, reason: 'no-digest' };
  return { ok: true, digests };
}

export function decodeQuery(msg: Uint8Array): DecodeResult {
  return decode(QUERY_MAGIC, msg);
}

export function decodeReply(msg: Uint8Array): DecodeResult {
  return decode(REPLY_MAGIC, msg);
}

export function decodePartialReply(msg: Uint8Array): DecodeResult {
  return decode(PARTIAL_MAGIC, msg);
}
