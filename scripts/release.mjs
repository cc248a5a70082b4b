#!/usr/bin/env node
// `npm run release [-- --out DIR] [--skip-build]`: builds the release of 0share for 0install in DIR (default
// release/):
//   0share-VERSION.tgz  the `npm pack` tarball: dist/, package.json, docs, the systemd unit and the
//                       production node_modules (bundleDependencies), no dev dependencies;
//   0share.xml          the release feed: 0share.xml of the checkout with its local-path
//                       implementation replaced by that archive (digest, size, relative href);
//   node.xml            the Node.js feed the run command's runner points at.
// The digest is 0share's own manifest of the unpacked tarball, checked against `0install digest`
// when 0install is installed. The directory is self-contained: copy it anywhere and
// `0install run DIR/0share.xml`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
// --skip-build: pack dist/ as it is (the tests, which run after `npm test`'s build, use it).
const { values } = parseArgs({ options: { out: { type: 'string', default: 'release' }, 'skip-build': { type: 'boolean', default: false } } });
const out = resolve(root, values.out);
mkdirSync(out, { recursive: true });

const fail = (message) => {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
};
/** Runs a command; a failure ends the script with one line (the command's own output came first). */
const run = (cmd, args, opts = {}) => {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });
  } catch (err) {
    return fail(`\`${cmd} ${args.join(' ')}\` failed${err.status ? ` (exit status ${err.status})` : `: ${err.message}`}`);
  }
};

// A clean build first (no output of a deleted source survives; tsc's messages on the terminal),
// then pack without running `prepare` again, so that stdout is just npm's JSON naming the tarball.
if (!values['skip-build']) {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  run('npm', ['run', 'build'], { stdio: 'inherit' });
}
const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--offline', '--pack-destination', out]));
const archive = join(out, packed[0].filename);
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Imported after the build: the manifest code and the feed transform of this very checkout.
const { manifestOfTree, formatDigest } = await import(join(root, 'dist', 'index.js'));
const { releaseFeed } = await import(join(root, 'dist', 'core', 'release-feed.js'));

const unpacked = mkdtempSync(join(tmpdir(), '0share-release-'));
let digest;
try {
  run('tar', ['-xzf', archive, '-C', unpacked, '--no-same-owner'], { stdio: 'inherit' });
  digest = (await manifestOfTree(join(unpacked, 'package'), 'sha256new')).digest;
} finally {
  rmSync(unpacked, { recursive: true, force: true });
}

let zi;
try {
  zi = execFileSync('0install', ['digest', '--algorithm=sha256new', archive, 'package'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  process.stderr.write('release: 0install is not installed; the digest is not cross-checked with `0install digest`\n');
}
if (zi !== undefined && zi !== formatDigest(digest)) fail(`0share's manifest gives ${formatDigest(digest)} but \`0install digest\` gives ${zi}`);

const feed = releaseFeed(readFileSync(join(root, '0share.xml'), 'utf8'), {
  version,
  digest,
  href: basename(archive),
  size: statSync(archive).size,
  extract: 'package',
  released: new Date().toISOString().slice(0, 10),
});
writeFileSync(join(out, '0share.xml'), feed);
copyFileSync(join(root, 'node.xml'), join(out, 'node.xml'));

process.stdout.write(`${archive}\t${statSync(archive).size} bytes\t${formatDigest(digest)}\n${join(out, '0share.xml')}\n`);
