// The client's HTTP/1.1 answer reading (core/http-response.ts): any body, framed by
// Content-Length, chunked (random chunk sizes, extensions, trailers) or the connection's close,
// comes out whole and unchanged whatever the pieces the network cuts it into, with the framer
// stopping exactly at the body's end; a body cut short is an error, never a short success; heads
// parse as Node's own server writes them, and malformed ones are refused; only an HTTP/1.1 final
// answer with its own end and no `Connection: close` keeps its connection.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyFramer, framingOf, headEnd, HttpResponseError, keepsConnection, parseResponseHead, type Framing } from '../../src/core/http-response.js';

/** `bytes` cut at the given points (sorted, deduplicated, within range). */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  return out;
}

function chunked(body: Buffer, sizes: number[], ext: boolean, trailer: boolean): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  let i = 0;
  while (off < body.length) {
    const n = Math.min(body.length - off, 1 + (sizes[i++ % Math.max(1, sizes.length)] ?? 7));
    parts.push(Buffer.from(`${n.toString(16)}${ext ? ';x=y' : ''}\r\n`), body.subarray(off, off + n), Buffer.from('\r\n'));
    off += n;
  }
  parts.push(Buffer.from(`0\r\n${trailer ? 'X-T: 1\r\n' : ''}\r\n`));
  return Buffer.concat(parts);
}

/** Feeds the pieces through a framer (copying what it emits, as a reader with a reused buffer must); returns the body and the bytes left over. */
function run(framing: Framing, pieces: Buffer[], holdEvery = 0): { body: Buffer; used: number; done: boolean } {
  const f = new BodyFramer(framing);
  const out: Buffer[] = [];
  let used = 0;
  let emits = 0;
  for (const p of pieces) {
    let rest = p;
    while (rest.length && !f.done) {
      const n = f.push(rest, (piece) => {
        out.push(Buffer.from(piece));
        if (holdEvery && ++emits % holdEvery === 0) return false;
      });
      used += n;
      rest = rest.subarray(n);
    }
    if (f.done) break;
  }
  return { body: Buffer.concat(out), used, done: f.done };
}

const body = fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a));
const cuts = fc.array(fc.nat(), { maxLength: 20 });

describe('BodyFramer', () => {
  it('Content-Length: the body whole, nothing past it', () => {
    fc.assert(
      fc.property(body, cuts, fc.uint8Array({ maxLength: 50 }), fc.nat({ max: 4 }), (b, at, extra, hold) => {
        const wire = Buffer.concat([b, Buffer.from(extra)]);
        const r = run({ kind: 'length', length: b.length }, cut(wire, at), hold);
        expect(r.done).toBe(true);
        expect(r.body.equals(b)).toBe(true);
        expect(r.used).toBe(b.length);
      }),
    );
  });

  it('chunked: the body whole, the framing stripped, whatever the chunk sizes and cuts', () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat({ max: 500 }), { maxLength: 10 }), fc.boolean(), fc.boolean(), cuts, fc.nat({ max: 4 }), (b, sizes, ext, trailer, at, hold) => {
        const wire = chunked(b, sizes, ext, trailer);
        const r = run({ kind: 'chunked' }, cut(wire, at), hold);
        expect(r.done).toBe(true);
        expect(r.body.equals(b)).toBe(true);
        expect(r.used).toBe(wire.length);
      }),
    );
  });

  it('a body cut short is an error at the close, for Content-Length and chunked alike; a close-delimited body ends there', () => {
    fc.assert(
      fc.property(body.filter((b) => b.length > 0), fc.nat(), cuts, (b, k, at) => {
        const short = b.subarray(0, k % b.length);
        const f = new BodyFramer({ kind: 'length', length: b.length });
        for (const p of cut(short, at)) f.push(p, () => {});
        expect(() => f.end()).toThrow(HttpResponseError);
        const wire = chunked(b, [100], false, false);
        const g = new BodyFramer({ kind: 'chunked' });
        g.push(wire.subarray(0, (k % (wire.length - 1)) + 1), () => {});
        if (!g.done) expect(() => g.end()).toThrow(/before the end of the answer/);
        const c = new BodyFramer({ kind: 'close' });
        const got: Buffer[] = [];
        for (const p of cut(b, at)) c.push(p, (x) => void got.push(Buffer.from(x)));
        c.end();
        expect(Buffer.concat(got).equals(b)).toBe(true);
      }),
    );
  });

  it('refuses malformed chunk framing', () => {
    const bad = (wire: string) => () => new BodyFramer({ kind: 'chunked' }).push(Buffer.from(wire, 'latin1'), () => {});
    expect(bad('zz\r\n')).toThrow(/malformed chunk size/);
    expect(bad('3\r\nabcd\r\n')).toThrow(/longer than its size/);
    expect(bad('3\nabc')).toThrow(/malformed chunk line/);
    expect(bad(`${'1'.repeat(5000)}`)).toThrow(/over-long chunk line/);
  });
});

describe('response heads', () => {
  it('parses status and fields (names in lower case, repeats joined) and finds the end', () => {
    const wire = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: 1\r\nx-a:2 \r\n\r\nbody');
    const end = headEnd(wire);
    expect(wire.subarray(end).toString()).toBe('body');
    const h = parseResponseHead(wire.subarray(0, end));
    expect(h.status).toBe(200);
    expect(h.headers.get('content-length')).toBe('12');
    expect(h.headers.get('x-a')).toBe('1, 2');
    expect(framingOf(h, 'GET')).toEqual({ kind: 'length', length: 12 });
    expect(framingOf(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')), 'POST')).toEqual({ kind: 'chunked' });
    expect(framingOf(parseResponseHead(Buffer.from('HTTP/1.0 200 OK\r\n\r\n')), 'GET')).toEqual({ kind: 'close' });
    expect(framingOf(parseResponseHead(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), 'GET')).toEqual({ kind: 'none' });
    expect(headEnd(Buffer.from('HTTP/1.1 200 OK\r\n'))).toBe(-1);
  });

  it('refuses what is not an HTTP/1.x answer or has a bad field', () => {
    expect(() => parseResponseHead(Buffer.from('SSH-2.0-x\r\n\r\n'))).toThrow(/not an HTTP\/1.1 status line/);
    expect(() => parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nno colon\r\n\r\n'))).toThrow(/malformed HTTP header/);
    expect(() => framingOf(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n')), 'GET')).toThrow(/invalid Content-Length/);
    expect(() => framingOf(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')), 'GET')).toThrow(/transfer coding/);
  });

  it('keeps the connection only after an HTTP/1.1 final answer with its own end and no Connection: close', () => {
    const keeps = (wire: string) => {
      const h = parseResponseHead(Buffer.from(wire));
      return keepsConnection(h, framingOf(h, 'POST'));
    };
    expect(keeps('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n')).toBe(true);
    expect(keeps('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe(true);
    expect(keeps('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).toBe(true);
    expect(keeps('HTTP/1.1 503 Busy\r\nContent-Length: 3\r\nConnection: close\r\n\r\n')).toBe(false);
    expect(keeps('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: Upgrade, CLOSE\r\n\r\n')).toBe(false);
    expect(keeps('HTTP/1.1 200 OK\r\n\r\n')).toBe(false); // the body ends at the close
    expect(keeps('HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n')).toBe(false);
    expect(keeps('HTTP/1.1 100 Continue\r\n\r\n')).toBe(false);
  });
});
