// selectionsDigests against reference §5: the verified 0install 2.18 output and each skip rule.
import { describe, expect, it } from 'vitest';
import { selectionsDigests, SelectionsError } from '../../src/core/selections.js';

const NS = 'http://zero-install.sourceforge.net/2004/injector/interface';
const SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
const B32 = '4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ';

const doc = (body: string) => `<?xml version="1.0" ?>\n<selections interface="x" xmlns="${NS}">${body}</selections>`;

describe('selectionsDigests', () => {
  it('reads the 0install 2.18 example of reference §5', () => {
    const xml = `<selections command="run" interface="SCRATCH/feed3.xml" source="false" xmlns="${NS}">
  <selection id="lib-1.0" interface="SCRATCH/feed2.xml" version="1.0">
    <manifest-digest sha1new="${SHA1}" sha256new="${B32}"/>
  </selection>
  <selection id="sha256=${SHA256}" interface="SCRATCH/feed3.xml" version="2.0">
    <command name="run" path="run.sh"/>
    <requires interface="SCRATCH/feed2.xml"><environment insert="." name="LIBDIR"/></requires>
    <manifest-digest sha256="${SHA256}"/>
  </selection>
</selections>`;
    expect(selectionsDigests(xml)).toEqual([
      { interface: 'SCRATCH/feed2.xml', version: '1.0', id: 'lib-1.0', digests: [{ alg: 'sha1new', value: SHA1 }, { alg: 'sha256new', value: B32 }] },
      { interface: 'SCRATCH/feed3.xml', version: '2.0', id: `sha256=${SHA256}`, digests: [{ alg: 'sha256', value: SHA256 }] },
    ]);
  });

  it('takes the id as a digest only for sha1=, sha1new= and sha256=', () => {
    const r = selectionsDigests(doc(`
      <selection id="sha1new=${SHA1}" interface="a"><manifest-digest sha256new="${B32}"/></selection>
      <selection id="sha256new_${B32}" interface="b"><manifest-digest sha256="${SHA256}"/></selection>`));
    expect(r[0]!.digests).toEqual([{ alg: 'sha1new', value: SHA1 }, { alg: 'sha256new', value: B32 }]);
    expect(r[1]!.digests).toEqual([{ alg: 'sha256', value: SHA256 }]);
  });

  it('unions the attributes of several <manifest-digest> and ignores namespaced ones', () => {
    const r = selectionsDigests(doc(`
      <selection id="x" interface="a" xmlns:o="urn:other">
        <manifest-digest o:sha256="${'0'.repeat(64)}" sha1new="${SHA1}"/>
        <manifest-digest sha256new="${B32}"/>
        <o:manifest-digest sha256="${'1'.repeat(64)}"/>
      </selection>`));
    expect(r[0]!.digests).toEqual([{ alg: 'sha1new', value: SHA1 }, { alg: 'sha256new', value: B32 }]);
  });

  it('skips local-path, ids starting with / or package:, and requires-compilation', () => {
    const r = selectionsDigests(doc(`
      <selection id="." local-path="/opt/thing" interface="a"/>
      <selection id="/usr/lib/thing" interface="b"/>
      <selection id="package:deb:python3:3.11" interface="c" version="3.11"/>
      <selection id="src" requires-compilation="true" interface="d"/>
      <selection id="sha256=${SHA256}" interface="e"/>`));
    expect(r).toEqual([{ interface: 'e', id: `sha256=${SHA256}`, digests: [{ alg: 'sha256', value: SHA256 }] }]);
  });

  it('refuses a selection without any digest, naming it', () => {
    expect(() => selectionsDigests(doc('<selection id="lib-1.0" interface="feed2.xml"/>'))).toThrow(/No digests found for 'lib-1.0'/);
  });

  it('refuses a malformed digest value, naming the selection', () => {
    expect(() => selectionsDigests(doc(`<selection id="x" interface="a"><manifest-digest sha256="XYZ"/></selection>`))).toThrow(
      /selection 'x' has an invalid sha256 digest 'XYZ'/,
    );
  });

  it('ignores unknown algorithms but refuses a selection that has only those', () => {
    const r = selectionsDigests(doc(`<selection id="x" interface="a"><manifest-digest sha512="abc" sha256="${SHA256}"/></selection>`));
    expect(r[0]!.digests).toEqual([{ alg: 'sha256', value: SHA256 }]);
    expect(() => selectionsDigests(doc(`<selection id="x" interface="a"><manifest-digest sha512="abc"/></selection>`))).toThrow(/no digest in an algorithm/);
  });

  it('rejects documents that are not selections', () => {
    for (const bad of ['', 'not xml', '<selections>', `<selections xmlns="urn:other"/>`, `<interface xmlns="${NS}"/>`]) {
      expect(() => selectionsDigests(bad)).toThrow(SelectionsError);
    }
  });

  it('returns nothing for a document with only local selections', () => {
    expect(selectionsDigests(doc('<selection id="/x" interface="a"/>'))).toEqual([]);
  });
});
