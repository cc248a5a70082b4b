// Resume in swarm mode: a fetch killed (SIGKILL) half-way leaves the digest's partial dir
// (`tmp-partial-<digest>`, which neither 0share nor stock 0install takes for an implementation)
// holding only verified files, and its lock with a dead pid; the next fetch takes the stale lock
// over, hashes again what it keeps (a kept file that was changed since is fetched again), and
// receives well under the other half over the wire. A fetch that finds the lock held by a live
// process stages in a private temp dir and leaves the partial dir alone. Real `0share fetch`
// processes against an in-process peer whose uploads are rate-limited, so the transfer takes a while.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServeHandle } from '../../src/api/serve.js';
import { formatDigest } from '../../src/core/digest.js';
import { addDirectory } from '../../src/io/store-add.js';
import { listImplementations } from '../../src/io/stores.js';
import { manifestOfTree } from '../../src/io/tree-walk.js';
import { CLI } from '../helpers/cli.js';
import { need0install, zeroSandbox, ziResult } from '../helpers/zeroinstall.js';

let root: string;
let digest: string;
let peer: ServeHandle;
const FILES = 64;
const SIZE = 128 * 1024;
const TREE = FILES * SIZE;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), '0share-resume-'));
  const src = join(root, 'src');
  mkdirSync(src);
  for (let i = 0; i < FILES; i++) writeFileSync(join(src, `f${String(i).padStart(2, '0')}`), Buffer.alloc(SIZE, i));
  const d = (await manifestOfTree(src, 'sha256new')).digest;
  digest = formatDigest(d);
  const seed = join(root, 'seed');
  await addDirectory(src, seed, d);
  // 2 MiB/s: the 8 MiB tree takes about 4 s.
  peer = await serve({ port: 0, bind: '127.0.0.1', stores: [seed], maxUploadRate: 2 * 1024 * 1024 });
});

afterAll(async () => {
  await peer?.close();
  rmSync(root, { recursive: true, force: true });
});

/**
 * The files in `dir` with the verified mark (src/core/partial-holder.ts): final (read-only) mode,
 * full size and the source's mtime. A file is created with its final mode before its bytes are
 * written and its mtime set, so the mode alone would count one the kill cut short.
 */
function verifiedFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  // The top-level .manifest (the verified manifest, for this machine's peer) is not a file of the tree.
  return names.filter((name) => {
    if (name === '.manifest') return false;
    const st = lstatSync(join(dir, name));
    const source = lstatSync(join(root, 'src', name));
    return st.isFile() && (st.mode & 0o222) === 0 && st.size === SIZE && Math.floor(st.mtimeMs / 1000) === Math.floor(source.mtimeMs / 1000);
  });
}

function fetchProc(store: string, extra: string[] = []) {
  const proc = spawn(process.execPath, [CLI, 'fetch', digest, '-H', `127.0.0.1:${peer.address.port}`, '--store', store, '--timeout', '200', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exited, out: () => out, err: () => err };
}

/** The result record of a `--json` run: stdout only (stderr's log lines are JSON too). */
function resultOf(stdout: string): { status: string; bytes: number; sources: Record<string, number> } {
  return JSON.parse(stdout).results[0];
}

describe('swarm resume', () => {
  it('a fetch killed at 50% and run again receives well under the other half again', async () => {
    const store = mkdtempSync(join(root, 'client-'));
    const partial = join(store, `tmp-partial-${digest}`);
    const first = fetchProc(store);
    for (;;) {
      const n = verifiedFiles(partial).length * SIZE;
      if (n >= TREE / 2) break;
      if (first.proc.exitCode !== null) throw new Error(`the first fetch ended before half-way: ${first.err()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    first.proc.kill('SIGKILL');
    await first.exited;
    const kept = verifiedFiles(partial);
    process.stderr.write(`[swarm-resume] killed with ${kept.length * SIZE} of ${TREE} bytes verified\n`);
    expect(kept.length * SIZE).toBeGreaterThanOrEqual(TREE / 2);
    expect(kept.length).toBeLessThan(FILES);
    // The verified manifest was written into the partial dir before any file.
    expect(lstatSync(join(partial, '.manifest')).isFile()).toBe(true);
    // The lock stays behind with the dead owner's pid.
    expect(readFileSync(`${partial}.lock`, 'latin1').trim()).toBe(String(first.proc.pid));

    // Nothing partial is visible as an implementation: not under the digest's name, not to
    // 0share's store scan, not to stock 0install (which skips `tmp-*` dirs).
    expect(readdirSync(store)).not.toContain(digest);
    expect(await listImplementations([store])).toEqual([]);
    if (need0install()) {
      const box = zeroSandbox();
      const audit = ziResult(box, ['store', 'audit', store]);
      expect(audit.stdout + audit.stderr).toContain(`Skipping non-implementation directory ${partial}`);
      expect(audit.stdout).toMatch(/Successfully verified implementations: 0/);
      expect(ziResult(box, ['store', 'find', digest]).status).not.toBe(0);
      rmSync(box.root, { recursive: true, force: true });
    }

    // One kept file is changed behind the fetch's back (same size, mode and mtime): the next
    // fetch hashes it again and fetches it anew.
    const tampered = join(partial, kept[0]!);
    const st = lstatSync(tampered);
    chmodSync(tampered, 0o644);
    writeFileSync(tampered, Buffer.alloc(SIZE, 0xee));
    chmodSync(tampered, st.mode & 0o7777);
    utimesSync(tampered, st.atime, st.mtime);

    const second = fetchProc(store, ['--json']);
    expect(await second.exited, second.err()).toBe(0);
    const result = resultOf(second.out());
    process.stderr.write(`[swarm-resume] the second run received ${result.bytes} bytes over the wire (${(result.bytes / TREE).toFixed(3)} of the tree); sources ${JSON.stringify(result.sources)}\n`);
    expect(result.status).toBe('committed');
    expect(result.bytes).toBeLessThan(0.6 * TREE);
    expect(result.sources.resumed).toBe((kept.length - 1) * SIZE);
    // The partial dir became the implementation and the lock is gone.
    expect(readdirSync(store).sort()).toEqual([digest]);
    expect(readFileSync(join(store, digest, kept[0]!)).equals(Buffer.alloc(SIZE, Number(kept[0]!.slice(1))))).toBe(true);
    if (need0install()) {
      const box = zeroSandbox();
      const verify = ziResult(box, ['store', 'verify', join(store, digest)]);
      expect(verify.status, verify.stdout + verify.stderr).toBe(0);
      rmSync(box.root, { recursive: true, force: true });
    }
  }, 120_000);

  it('a partial dir locked by a live process is left alone: the fetch stages in its own temp dir', async () => {
    const store = mkdtempSync(join(root, 'client-'));
    const partial = join(store, `tmp-partial-${digest}`);
    mkdirSync(partial, { mode: 0o700 });
    writeFileSync(join(partial, 'f00'), 'not yet');
    // This test process is alive: its pid is a live owner.
    writeFileSync(`${partial}.lock`, String(process.pid));
    const p = fetchProc(store, ['--json']);
    expect(await p.exited, p.err()).toBe(0);
    const result = resultOf(p.out());
    expect(result.status).toBe('committed');
    expect(result.sources.resumed).toBeUndefined();
    expect(readdirSync(store).sort()).toEqual([digest, `tmp-partial-${digest}`, `tmp-partial-${digest}.lock`]);
    expect(readFileSync(join(partial, 'f00'), 'latin1')).toBe('not yet');
    expect(readFileSync(`${partial}.lock`, 'latin1')).toBe(String(process.pid));
    expect(existsSync(join(store, digest, 'f63'))).toBe(true);
  }, 60_000);
});
