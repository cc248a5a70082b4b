// The body of a swarm request (`POST /implementation/<digest>/files`): which pieces of which
// files the client wants, one line each, `<offset> <length> <path>\n`, the path as the raw bytes
// of its manifest name (names cannot hold a newline, so lines are unambiguous). The answer is
// the pieces' bytes, concatenated in the order asked, nothing else: the client knows every
// length from the manifest it has already verified, so it needs no framing from the peer and
// trusts nothing the peer could say about the pieces. Pure encode/decode, shared by both sides.

/** A byte range of one manifest entry (a file's content, or a symlink's target). */
export interface Piece {
  /** Path from the implementation root, raw bytes, '/'-separated. */
  readonly path: Uint8Array;
  readonly offset: number;
  readonly length: number;
}

/** Requests larger than this are refused (thousands of pieces fit). */
export const MAX_PIECE_LIST = 1024 * 1024;
/** Pieces per request at most. */
export const MAX_PIECES = 8192;

export class PieceListError extends Error {
  override name = 'PieceListError';
}

const NL = 0x0a;
const SP = 0x20;

export function encodePieceList(pieces: readonly Piece[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pieces) {
    parts.push(Buffer.from(`${p.offset} ${p.length} `, 'latin1'), Buffer.from(p.path), Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

const NUMBER = /^(0|[1-9][0-9]{0,15})$/;

function num(b: Buffer, what: string): number {
  const s = b.toString('latin1');
  const n = NUMBER.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw new PieceListError(`bad ${what} '${s.slice(0, 20)}'`);
  return n;
}

/** Parses a request body; throws PieceListError naming what is wrong. */
export function decodePieceList(body: Uint8Array): Piece[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.length > MAX_PIECE_LIST) throw new PieceListError(`the piece list is larger than ${MAX_PIECE_LIST} bytes`);
  const pieces: Piece[] = [];
  let start = 0;
  while (start < buf.length) {
    const end = buf.indexOf(NL, start);
    if (end < 0) throw new PieceListError('the last line of the piece list does not end with a newline');
    const line = buf.subarray(start, end);
    start = end + 1;
    const a = line.indexOf(SP);
    const b = a < 0 ? -1 : line.indexOf(SP, a + 1);
    if (b < 0 || b + 1 >= line.length) throw new PieceListError('a line of the piece list is not "<offset> <length> <path>"');
    pieces.push({ offset: num(line.subarray(0, a), 'offset'), length: num(line.subarray(a + 1, b), 'length'), path: Buffer.from(line.subarray(b + 1)) });
    if (pieces.length > MAX_PIECES) throw new PieceListError(`more than ${MAX_PIECES} pieces in one request`);
  }
  if (pieces.length === 0) throw new PieceListError('the piece list is empty');
  return pieces;
}
