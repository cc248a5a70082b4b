// The client's reading of an HTTP/1.1 answer, as pure logic: the head (status line and header
// fields) and the framing of the body (Content-Length, chunked, or until the connection closes).
// Used by the transfer routes' own reader (src/io/http-exchange.ts), which feeds it bytes from
// one reused buffer: the framer hands on views of its input and keeps none of it; and whether the
// connection may carry another request once the body is complete (HTTP/1.1 keep-alive).

/** A head larger than this is refused (ours are a few hundred bytes). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line (with extensions) or trailer line longer than this is refused. */
const MAX_LINE = 4096;

export class HttpResponseError extends Error {
  override name = 'HttpResponseError';
}

export interface ResponseHead {
  readonly status: number;
  /** The status line's HTTP version. */
  readonly version: '1.0' | '1.1';
  /** Field names in lower case; repeated fields joined with ', '. */
  readonly headers: ReadonlyMap<string, string>;
}

const STATUS_LINE = /^HTTP\/(1\.[01]) ([1-9][0-9]{2})(?: [^\r\n]*)?$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/** End of the head (the index just past its blank line) in `b`, or -1. */
export function headEnd(b: Buffer): number {
  const i = b.indexOf('\r\n\r\n', 0, 'latin1');
  return i < 0 ? -1 : i + 4;
}

/** Parses a head (the bytes up to and including its blank line). */
export function parseResponseHead(head: Buffer): ResponseHead {
  const lines = head.toString('latin1').split('\r\n');
  const m = STATUS_LINE.exec(lines[0] ?? '');
  if (!m) throw new HttpResponseError('answered with something that is not an HTTP/1.1 status line');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const f = FIELD.exec(line);
    if (!f) throw new HttpResponseError('answered with a malformed HTTP header field');
    const name = f[1]!.toLowerCase();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? f[2]! : `${prev}, ${f[2]!}`);
  }
  return { status: Number(m[2]), version: m[1] as '1.0' | '1.1', headers };
}

/** How the body of `head` is delimited, for a request made with `method`. */
export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

export function framingOf(head: ResponseHead, method: string): Framing {
  if (method === 'HEAD' || head.status === 204 || head.status === 304 || head.status < 200) return { kind: 'none' };
  const te = head.headers.get('transfer-encoding');
  if (te !== undefined) {
    if (te.trim().toLowerCase() !== 'chunked') throw new HttpResponseError(`answered with a transfer coding this client does not read (${te.slice(0, 40)})`);
    return { kind: 'chunked' };
  }
  const cl = head.headers.get('content-length');
  if (cl !== undefined) {
    if (!/^[0-9]{1,15}$/.test(cl)) throw new HttpResponseError('answered with an invalid Content-Length');
    return { kind: 'length', length: Number(cl) };
  }
  return { kind: 'close' };
}

/**
 * The connection may carry another request once this answer's body is complete: an HTTP/1.1 final
 * answer whose body has its own end (not the close) and no `Connection: close`. (An HTTP/1.0
 * answer, even with `Connection: keep-alive`, is not kept: nothing here needs it.)
 */
export function keepsConnection(head: ResponseHead, framing: Framing): boolean {
  if (head.version !== '1.1' || head.status < 200 || framing.kind === 'close') return false;
  const tokens = (head.headers.get('connection') ?? '').split(',').map((t) => t.trim().toLowerCase());
  return !tokens.includes('close');
}

/**
 * Cuts a body out of the bytes that follow the head. `push` hands each piece of body to `emit`
 * (a view of its input: valid only during the call) and returns how many input bytes it used;
 * it stops early when `emit` returns false (the caller holds the rest and pushes it again) or
 * when the body is complete. `done` says the body is complete; `end()` is the connection's
 * close, which completes a close-delimited body and is an error for the others (truncation).
 */
export class BodyFramer {
  private left: number;
  /** Chunked: what comes next. */
  private state: 'size' | 'data' | 'dataEnd' | 'trailer' | 'done' = 'size';
  /** Chunked: the line being collected (size line, CRLF after data, trailer line). */
  private line = '';
  /** Body bytes handed on so far. */
  received = 0;

  constructor(private readonly framing: Framing) {
    this.left = framing.kind === 'length' ? framing.length : 0;
    if (framing.kind === 'none' || (framing.kind === 'length' && framing.length === 0)) this.state = 'done';
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** The connection closed: completes a close-delimited body; throws if any other body is incomplete. */
  end(): void {
    if (this.framing.kind === 'close') this.state = 'done';
    if (this.state !== 'done') throw new HttpResponseError('before the end of the answer');
  }

  push(input: Buffer, emit: (piece: Buffer) => boolean | void): number {
    let off = 0;
    while (off < input.length && this.state !== 'done') {
      if (this.framing.kind !== 'chunked') {
        const n = this.framing.kind === 'close' ? input.length - off : Math.min(this.left, input.length - off);
        const piece = off === 0 && n === input.length ? input : input.subarray(off, off + n);
        off += n;
        this.left -= n;
        this.received += n;
        if (this.framing.kind === 'length' && this.left === 0) this.state = 'done';
        if (emit(piece) === false) return off;
        continue;
      }
      if (this.state === 'data') {
        const n = Math.min(this.left, input.length - off);
        const piece = input.subarray(off, off + n);
        off += n;
        this.left -= n;
        this.received += n;
        if (this.left === 0) this.state = 'dataEnd';
        if (emit(piece) === false) return off;
        continue;
      }
      off = this.chunkLine(input, off);
    }
    return off;
  }

  /** Collects one line of chunked framing (up to its LF) and acts on it; returns the new offset. */
  private chunkLine(input: Buffer, off: number): number {
    const nl = input.indexOf(0x0a, off);
    const end = nl < 0 ? input.length : nl + 1;
    this.line += input.toString('latin1', off, end);
    if (this.line.length > MAX_LINE) throw new HttpResponseError('answered with an over-long chunk line');
    if (nl < 0) return end;
    const line = this.line;
    this.line = '';
    if (!line.endsWith('\r\n')) throw new HttpResponseError('answered with a malformed chunk line');
    const text = line.slice(0, -2);
    if (this.state === 'dataEnd') {
      if (text !== '') throw new HttpResponseError('answered with a chunk longer than its size');
      this.state = 'size';
    } else if (this.state === 'size') {
      const m = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(text);
      if (!m) throw new HttpResponseError('answered with a malformed chunk size');
      this.left = parseInt(m[1]!, 16);
      this.state = this.left === 0 ? 'trailer' : 'data';
    } else if (this.state === 'trailer' && text === '') {
      this.state = 'done';
    }
    return end;
  }
}
