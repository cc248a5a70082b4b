// releaseFeed (the checkout feed → the release feed), and the repository's own feeds agreeing
// with package.json (version, the Node range of "engines", the CLI the run command starts).
import { existsSync, readFileSync } from 'node:fs';
import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { releaseFeed, ReleaseFeedError } from '../../src/core/release-feed.js';

const NS = 'http://zero-install.sourceforge.net/2004/injector/interface';
const B32 = '4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ';
const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  version: string;
  engines: { node: string };
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  bundleDependencies: string[];
};
const checkoutFeed = readFileSync(new URL('0share.xml', root), 'utf8');

const archive = { version: '1.2.3', digest: { alg: 'sha256new' as const, value: B32 }, href: '0share-1.2.3.tgz', size: 4242, extract: 'package', released: '2026-12-03' };

function parse(xml: string) {
  return new DOMParser().parseFromString(xml, 'text/xml').documentElement!;
}

describe('releaseFeed', () => {
  it('replaces the local-path implementation by the archive, named by its digest', () => {
    const doc = parse(releaseFeed(checkoutFeed, archive));
    const impls = Array.from(doc.getElementsByTagNameNS(NS, 'implementation'));
    expect(impls).toHaveLength(1);
    const impl = impls[0]!;
    expect(impl.getAttribute('id')).toBe(`sha256new_${B32}`);
    expect(impl.getAttribute('version')).toBe('1.2.3');
    expect(impl.getAttribute('released')).toBe('2026-12-03');
    expect(impl.hasAttribute('local-path')).toBe(false);
    expect(impl.getElementsByTagNameNS(NS, 'manifest-digest')[0]!.getAttribute('sha256new')).toBe(B32);
    const a = impl.getElementsByTagNameNS(NS, 'archive')[0]!;
    expect([a.getAttribute('href'), a.getAttribute('size'), a.getAttribute('extract'), a.getAttribute('type')]).toEqual([
      '0share-1.2.3.tgz',
      '4242',
      'package',
      'application/x-compressed-tar',
    ]);
  });

  it('keeps the interface, the command and its Node runner', () => {
    const before = parse(checkoutFeed);
    const after = parse(releaseFeed(checkoutFeed, archive));
    for (const tag of ['name', 'summary', 'command', 'runner']) {
      const b = before.getElementsByTagNameNS(NS, tag)[0]!;
      const a = after.getElementsByTagNameNS(NS, tag)[0]!;
      expect(a.toString(), tag).toBe(b.toString());
    }
  });

  it('refuses a feed without exactly one local-path implementation, or not a feed', () => {
    const feed = (body: string) => `<interface xmlns="${NS}"><name>x</name>${body}</interface>`;
    expect(() => releaseFeed(feed('<implementation id="a" version="1"/>'), archive)).toThrow(/exactly one local-path <implementation> \(it has 0\)/);
    expect(() => releaseFeed(feed('<implementation id="." local-path="." version="1"/>'.repeat(2)), archive)).toThrow(ReleaseFeedError);
    expect(() => releaseFeed('<selections/>', archive)).toThrow(/root element must be <interface/);
    expect(() => releaseFeed('<interface', archive)).toThrow(/not well-formed/);
  });
});

describe('package.json', () => {
  it('bundles every runtime dependency (the tarball and the 0install archive carry them; 0install runs no npm)', () => {
    expect([...pkg.bundleDependencies].sort()).toEqual(Object.keys(pkg.dependencies).sort());
  });
});

describe("the repository's feeds", () => {
  const doc = parse(checkoutFeed);

  it('0share.xml runs the CLI of package.json "bin" from the checkout, at its version', () => {
    const impl = doc.getElementsByTagNameNS(NS, 'implementation')[0]!;
    expect(impl.getAttribute('local-path')).toBe('.');
    expect(impl.getAttribute('version')).toBe(pkg.version);
    expect(doc.getElementsByTagNameNS(NS, 'command')[0]!.getAttribute('path')).toBe(pkg.bin['0share']);
  });

  it('the Node runner accepts the versions package.json "engines" does', () => {
    const runner = doc.getElementsByTagNameNS(NS, 'runner')[0]!;
    const min = /^>=(\d+(?:\.\d+)*)$/.exec(pkg.engines.node)?.[1];
    expect(min, `engines.node is ${pkg.engines.node}`).toBeDefined();
    expect(runner.getAttribute('version')).toBe(`${min}..`);
    const iface = runner.getAttribute('interface')!;
    expect(existsSync(new URL(iface, root))).toBe(true);
    const node = parse(readFileSync(new URL(iface, root), 'utf8'));
    const pi = node.getElementsByTagNameNS(NS, 'package-implementation')[0]!;
    expect(pi.getAttribute('package')).toBe('nodejs');
  });
});
