// The UDP discovery protocol of the 2008 0share, kept byte-compatible:
//   query: "0share\n<digest>[\n<digest>…]"   reply: "0share-reply\n<digest>[\n<digest>…]"
// plus 0share's own datagrams, which the 2008 client ignores (their first line is not
// `0share-reply`): the hello and its answer, the partial reply of a peer whose machine is
// still fetching a digest ("0share-partial\n<digest>…": it serves the files it has verified),
// and the who-request and its answer, the peer process's random instance id ("0share-id\n<id>"),
// by which a client tells that two addresses are one machine.
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

/**
 * The who-request: its first line is `0share-who`; a peer answers it, whatever it holds, with
 * `0share-id\n<instance id>`, but only when the request is at least as long as that answer (the
 * client pads it), so a forged request cannot make a peer amplify. 0share peers from before it
 * and the 2008 peer ignore it (not a query, not a hello).
 */
export const WHO = '0share-who';
const ID_MAGIC = '0share-id';
/** An instance id: 16 lowercase hex digits (64 random bits, new for each peer process). */
const INSTANCE_ID = /^[0-9a-f]{16}$/;
/** Bytes of the id answer, and so the least a who-request must have. */
export const ID_ANSWER_SIZE = ID_MAGIC.length + 1 + 16;

/** The who-request, padded to the size of the answer it asks for. */
export function encodeWho(): Buffer {
  return Buffer.from(`${WHO}\n`.padEnd(ID_ANSWER_SIZE, '.'), 'ascii');
}

/** A who-request the peer may answer: first line `0share-who`, and no smaller than the answer. */
export function isWho(msg: Uint8Array): boolean {
  if (msg.length < ID_ANSWER_SIZE) return false;
  const text = Buffer.from(msg).toString('latin1');
  const nl = text.indexOf('\n');
  return (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '') === WHO;
}

export function isInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id);
}

/** The answer to a who-request: this peer process's instance id. */
export function encodeIdAnswer(id: string): Buffer {
  if (!isInstanceId(id)) throw new Error(`not an instance id: ${JSON.stringify(id)}`);
  return Buffer.from(`${ID_MAGIC}\n${id}`, 'ascii');
}

/** The instance id of an id answer, or undefined when `msg` is not one (a trailing newline is allowed). */
export function decodeIdAnswer(msg: Uint8Array): string | undefined {
  if (msg.length > ID_ANSWER_SIZE + 2) return undefined;
  const m = /^0share-id\r?\n([0-9a-f]{16})\r?\n?$/.exec(Buffer.from(msg).toString('latin1'));
  return m?.[1];
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
