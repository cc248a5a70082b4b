// selectionsDigests on documents printed by the real `0install select --xml`: digest ids, feed
// <manifest-digest> elements merged into the selection, dependencies, and local implementations.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectionsDigests } from '../../src/core/selections.js';
import { need0install, type ZeroSandbox, zeroSandbox, zi } from '../helpers/zeroinstall.js';

const NS = 'http://zero-install.sourceforge.net/2004/injector/interface';
const SHA1 = '7e3eb25a072988f164bae24d33af69c1814eb99a';
const B32 = 'DZVZCCYAQ5VIMM3RCFIKTEOTTCMUOERQGEP6CRP6XGHEF7HM4YQA';
const SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe.skipIf(!need0install())('selections printed by 0install select --xml', () => {
  let work: string;
  let sb: ZeroSandbox;

  /** Writes `<name>.xml` in `work`: a feed whose only implementation is `impl`. */
  const writeFeed = (name: string, summary: string, impl: string) =>
    writeFileSync(
      join(work, `${name}.xml`),
      `<?xml version="1.0" ?>
<interface xmlns="${NS}">
  <name>${name}</name><summary>${summary}</summary>
  ${impl}
</interface>
`,
    );

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), '0share-sel-'));
    sb = zeroSandbox();
    mkdirSync(join(work, 'local-impl'));
    writeFeed('lib', 'a library', `<implementation id="lib-1.0" version="1.0">
    <manifest-digest sha256="${SHA256}"/>
    <archive href="http://127.0.0.1:1/lib.tar.gz" size="10"/>
  </implementation>`);
    writeFeed('tool', 'a tool', `<implementation id="local-impl" version="0.1" local-path="local-impl">
    <command name="build" path="build.sh"/>
  </implementation>`);
    writeFeed('app', 'an app', `<implementation id="sha1new=${SHA1}" version="2.0">
    <manifest-digest sha256new="${B32}"/>
    <command name="run" path="run.sh">
      <runner interface="${join(work, 'tool.xml')}" command="build"/>
    </command>
    <requires interface="${join(work, 'lib.xml')}"/>
    <archive href="http://127.0.0.1:1/app.tar.gz" size="10"/>
  </implementation>`);
  });

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(sb.root, { recursive: true, force: true });
  });

  it('lists every stored selection with all its digests and skips the local one', () => {
    const xml = zi(sb, ['select', '--xml', join(work, 'app.xml')]);
    const got = selectionsDigests(xml).sort((a, b) => a.interface.localeCompare(b.interface));
    expect(got).toEqual([
      { interface: join(work, 'app.xml'), version: '2.0', id: `sha1new=${SHA1}`, digests: [{ alg: 'sha1new', value: SHA1 }, { alg: 'sha256new', value: B32 }] },
      { interface: join(work, 'lib.xml'), version: '1.0', id: 'lib-1.0', digests: [{ alg: 'sha256', value: SHA256 }] },
    ]);
    expect(xml).toContain('local-path');
  });
});
