// A fetched tree's times are those `0install store add DIGEST TAR` gives for the same tar, in both
// transfer modes: a peer (serve(), in-process on 127.0.0.1) sends a tree with files, directories
// and symlinks, each with its own mtime; the tar it sends is saved and added by the real 0install
// in one sandbox, and fetch() receives the same digest into another, once as the whole tar and once
// in swarm mode (manifest, pieces, then the /mtimes route for directories and symlinks). Every
// entry's lstat mtime (symlinks included, which keep the tar's time on the link itself) is the same
// in both. The root directory is left out: on both sides its mtime is when the .manifest was
// written into it.
import { execFileSync } from 'node:child_process';
import { createWriteStream, lstatSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch } from '../../src/api/fetch.js';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { removeTree } from '../../src/io/store-add.js';
import { type TreeSpec, buildTree } from '../helpers/trees.js';
import { type ZeroSandbox, need0install, zeroSandbox, zi } from '../helpers/zeroinstall.js';

const TREE: TreeSpec[] = [
  { path: 'README', kind: 'file', content: 'hello\n', mtime: 1_400_000_000 },
  { path: 'bin', kind: 'dir', mtime: 1_300_000_000 },
  { path: 'bin/run', kind: 'file', content: '#!/bin/sh\n', mode: 0o755, mtime: 1_410_000_000 },
  { path: 'bin/link', kind: 'symlink', target: 'run', mtime: 1_500_000_000 },
  { path: 'lib', kind: 'dir', mtime: 1_200_000_000 },
  { path: 'lib/deep', kind: 'dir', mtime: 1_250_000_000 },
  { path: 'lib/deep/dangling', kind: 'symlink', target: '../../nowhere', mtime: 1_510_000_000 },
  { path: 'lib/deep/abs', kind: 'symlink', target: '/etc/passwd', mtime: 1 },
  { path: 'top', kind: 'symlink', target: 'lib', mtime: 1_520_000_000 },
];

/** Every entry below `root` (not `.manifest`): relative path → kind and lstat mtime in whole seconds. */
function times(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (r === '.manifest') continue;
    const st = lstatSync(join(root, r), { bigint: true });
    const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'file';
    out[r] = `${kind} ${st.mtimeNs / 1_000_000_000n}`;
    if (kind === 'dir') Object.assign(out, times(root, r));
  }
  return out;
}

describe.runIf(need0install())('mtimes of a fetched tree vs `0install store add` of the same tar', () => {
  let peerSb: ZeroSandbox;
  let ziSb: ZeroSandbox;
  let peer: ServeHandle;
  let digest: string;
  let expected: Record<string, string>;
  const ours: ZeroSandbox[] = [];

  beforeAll(async () => {
    [peerSb, ziSb] = [zeroSandbox(), zeroSandbox()];
    const src = join(peerSb.root, 'src');
    buildTree(src, TREE);
    digest = zi(peerSb, ['store', 'manifest', src, 'sha256new']).trim().split('\n').at(-1)!;
    // Added from a tar (`store add DIGEST DIR` copies symlinks with fresh times), so the peer's
    // store, and so what it sends, has the symlinks' own times.
    execFileSync('tar', ['-C', src, '-cf', join(peerSb.root, 'src.tar'), '.']);
    zi(peerSb, ['store', 'add', digest, join(peerSb.root, 'src.tar')]);
    peer = await serve({ port: 0, bind: '127.0.0.1', stores: [peerSb.userStore, peerSb.systemStore] });
  });

  afterAll(async () => {
    await peer?.close();
    for (const sb of [peerSb, ziSb, ...ours]) if (sb) await removeTree(sb.root);
  });

  beforeAll(async () => {
    const port = peer.address.port;
    // The tar exactly as the peer sends it to a 0share client.
    const tarPath = join(ziSb.root, 'sent.tar');
    await new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: `/implementation/${digest}`, headers: { 'X-0share-Encoding': 'tar' }, agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        pipeline(res, createWriteStream(tarPath)).then(resolve, reject);
      })
        .on('error', reject)
        .end();
    });
    zi(ziSb, ['store', 'add', digest, tarPath]);
    const theirs = zi(ziSb, ['store', 'find', digest]).trim();
    expected = times(theirs);
    expect(Object.keys(expected)).toHaveLength(TREE.length);
    expect(expected['bin/link']).toBe('symlink 1500000000'); // 0install keeps the tar's time on symlinks
  });

  it.each([
    ['the whole tar', { wholeTar: true }],
    ['swarm mode (the default)', { wholeTar: false }],
  ])('%s: every file, directory and symlink has the same lstat mtime', async (_mode, mode) => {
    const sb = zeroSandbox();
    ours.push(sb);
    const events: string[] = [];
    const [result] = await fetch([parseDigest(digest)], {
      ...mode,
      hosts: [`127.0.0.1:${peer.address.port}`],
      stores: [sb.userStore],
      env: sb.env,
      onEvent: (e) => e.type === 'sources' && events.push(e.type),
    });
    expect(result!.status, JSON.stringify(result)).toBe('committed');
    // The swarm reports its sources; the whole tar does not: each case runs the mode it names.
    expect(events.length > 0).toBe(!mode.wholeTar);
    expect(times(join(sb.userStore, formatDigest(parseDigest(digest))))).toEqual(expected);
  });
});
