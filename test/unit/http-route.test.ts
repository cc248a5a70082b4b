// The peer's HTTP routes on raw request targets: only the two routes, only strict digests.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDigest } from '../../src/core/digest.js';
import { isLocalRoute, isPageRoute, methodsOf, parseRequestTarget } from '../../src/core/http-route.js';

const SHA1 = `sha1new=${'0123456789'.repeat(4)}`;
const S256 = 'A'.repeat(52);

describe('parseRequestTarget', () => {
  it('accepts the two routes', () => {
    expect(parseRequestTarget(`/implementation/${SHA1}`)).toMatchObject({ ok: true, kind: 'tree', plainTar: false });
    expect(parseRequestTarget(`/implementation/${SHA1}?format=tar`)).toMatchObject({ ok: true, kind: 'tree', plainTar: true });
    expect(parseRequestTarget(`/implementation/sha256new_${S256}/manifest`)).toMatchObject({ ok: true, kind: 'manifest' });
    expect(parseRequestTarget(`/implementation/sha256new_${S256}/mtimes`)).toMatchObject({ ok: true, kind: 'mtimes' });
    expect(methodsOf(parseRequestTarget(`/implementation/sha256new_${S256}/mtimes`))).toEqual(['GET', 'HEAD']);
    expect(parseRequestTarget(`/implementation/sha256new=${S256}`)).toMatchObject({ ok: true, digest: { alg: 'sha256new', value: S256 } });
  });
  it('400 for anything in the digest place that is not a digest', () => {
    for (const t of ['/implementation/', '/implementation/..', '/implementation/..%2F..%2Fetc%2Fpasswd', `/implementation/${SHA1.toUpperCase()}`, `/implementation/${SHA1}%2F`, `/implementation/%73ha1new=${'0'.repeat(40)}`, `/implementation/ ${SHA1}`, `/implementation/${SHA1}0`, `/implementation/${SHA1}?format=gzip`, `/implementation/${SHA1}/manifest?format=tar`]) {
      expect(parseRequestTarget(t), t).toMatchObject({ ok: false, status: 400 });
    }
  });
  it('404 for other paths', () => {
    for (const t of ['', '*', '/stats/', '/status', '//', '/etc/passwd', `/implementation/${SHA1}/`, `/implementation/${SHA1}/../../etc/passwd`, `/implementation/${SHA1}/manifest/x`, `/implementation/${SHA1}/mtimes/`, `/implementation/${SHA1}/Mtimes`, `//implementation/${SHA1}`, `/Implementation/${SHA1}`, `http://host/implementation/${SHA1}`, '/implementation']) {
      expect(parseRequestTarget(t), t).toMatchObject({ ok: false, status: 404 });
    }
  });
  it('/implementation/<digest>/have is answered like a page (no upload slot), GET or HEAD, with=fetching its one query string', () => {
    const have = parseRequestTarget(`/implementation/sha256new_${S256}/have`);
    expect(have).toEqual({ ok: true, kind: 'have', digest: { alg: 'sha256new', value: S256 }, fetching: false });
    expect(parseRequestTarget(`/implementation/sha256new_${S256}/have?with=fetching`)).toEqual({ ok: true, kind: 'have', digest: { alg: 'sha256new', value: S256 }, fetching: true });
    expect(parseRequestTarget(`/implementation/sha256new_${S256}/have?with=fetching&x`)).toMatchObject({ ok: false, status: 400 });
    expect(isPageRoute(have)).toBe(true);
    expect(isLocalRoute(have)).toBe(false);
    expect(methodsOf(have)).toEqual(['GET', 'HEAD']);
    expect(parseRequestTarget(`/implementation/sha256new_${S256}/have?x`)).toMatchObject({ ok: false, status: 400 });
    expect(parseRequestTarget(`/implementation/sha256new_${S256}/have/`)).toMatchObject({ ok: false, status: 404 });
    expect(parseRequestTarget(`/implementation/../have`)).toMatchObject({ ok: false, status: 400 });
  });
  it('/ is the status page and /stats its JSON, without a query string', () => {
    expect(parseRequestTarget('/')).toEqual({ ok: true, kind: 'status' });
    expect(parseRequestTarget('/stats')).toEqual({ ok: true, kind: 'stats' });
    for (const t of ['/?refresh=1', '/stats?x', '/?']) expect(parseRequestTarget(t), t).toMatchObject({ ok: false, status: 400 });
  });
  it('the local fetch routes: POST /local/fetches, GET /local/fetches/<digest> in its strict form', () => {
    expect(parseRequestTarget('/local/fetches')).toEqual({ ok: true, kind: 'local-report' });
    expect(parseRequestTarget(`/local/fetches/sha256new=${S256}`)).toEqual({ ok: true, kind: 'local-fetch', digest: `sha256new_${S256}` });
    for (const t of ['/local/fetches/..', '/local/fetches/', `/local/fetches/${SHA1}/x`]) expect(parseRequestTarget(t), t).toMatchObject({ ok: false, status: 400 });
    expect(methodsOf(parseRequestTarget('/local/fetches'))).toEqual(['POST']);
    expect(methodsOf(parseRequestTarget(`/local/fetches/${SHA1}`))).toEqual(['GET', 'HEAD']);
    expect(isLocalRoute(parseRequestTarget(`/local/fetches/${SHA1}`))).toBe(true);
    expect(isLocalRoute(parseRequestTarget('/stats'))).toBe(false);
  });
  it('anything accepted names exactly one digest in its canonical or sha256new= form', () => {
    const chars = fc.constantFrom(...'/.%2Fimplementation=sha1new_0123456789abcdefABC?'.split(''));
    fc.assert(fc.property(fc.oneof(fc.string({ unit: chars, maxLength: 80 }), fc.string({ maxLength: 80 }).map((s) => `/implementation/${s}`)), (t) => {
      const r = parseRequestTarget(t);
      if (!r.ok) return;
      if (isPageRoute(r)) {
        expect(t === '/' || t === '/stats' || t.startsWith('/local/fetches')).toBe(true);
        return;
      }
      const seg = t.slice('/implementation/'.length).split(/[/?]/)[0]!;
      expect([formatDigest(r.digest), formatDigest(r.digest).replace('sha256new_', 'sha256new=')]).toContain(seg);
      expect(t).not.toContain('..');
      expect(t).not.toContain('%');
    }), { numRuns: 2000 });
  });
});

describe('methodsOf', () => {
  it('only GET and HEAD for the tree, its manifest and the pages; only POST for pieces and local reports', () => {
    for (const t of [`/implementation/${SHA1}`, `/implementation/${SHA1}/manifest`, '/', '/stats']) {
      const allowed = methodsOf(parseRequestTarget(t));
      expect(['GET', 'HEAD'].every((m) => allowed.includes(m)), t).toBe(true);
      expect(['POST', 'PUT', 'DELETE', 'OPTIONS', 'get', 'TRACE', 'CONNECT'].some((m) => allowed.includes(m)), t).toBe(false);
    }
    for (const t of [`/implementation/${SHA1}/files`, '/local/fetches']) expect(methodsOf(parseRequestTarget(t)), t).toEqual(['POST']);
  });
});

describe('isPageRoute', () => {
  it('the pages and the local records, never a route into the stores', () => {
    for (const t of ['/', '/stats', '/local/fetches', `/local/fetches/${SHA1}`]) expect(isPageRoute(parseRequestTarget(t)), t).toBe(true);
    for (const t of [`/implementation/${SHA1}`, `/implementation/${SHA1}/manifest`, `/implementation/${SHA1}/files`, '/nowhere']) expect(isPageRoute(parseRequestTarget(t)), t).toBe(false);
  });
});
