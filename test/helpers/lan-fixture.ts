// Building blocks for the e2e tests with the real 0install (mostly multi-host): a test file's
// temporary dirs, implementation trees added to a host's store by the real `0install store add`,
// a 0share peer started inside a namespace, and the "after each" checks of issue 4 (only
// verified entries, no tmp-* dir, nothing else changed).
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI } from './cli.js';
import type { HostProcess, NetHost } from './netns.js';
import { type ZeroSandbox, zeroSandbox, zi, ziResult } from './zeroinstall.js';

export const PROBE = fileURLToPath(new URL('./net-probe.mjs', import.meta.url));
export const FAKE_PEER = fileURLToPath(new URL('./fake-peer.mjs', import.meta.url));
export const ABUSE = fileURLToPath(new URL('./abuse.mjs', import.meta.url));

const MiB = 1024 * 1024;

/** The temporary dirs of one test file: a work dir and 0install sandboxes, all gone after `remove()`. */
export interface Scratch {
  /** The work dir under os.tmpdir() (created on first use). */
  readonly work: string;
  /** A fresh 0install sandbox. */
  fresh(): ZeroSandbox;
  /** Removes the work dir and every sandbox made so far. */
  remove(): void;
}

/** Nothing is created until used: the tests of a skipped describe leave nothing behind. */
export function scratch(prefix: string): Scratch {
  let work: string | undefined;
  const sandboxes: ZeroSandbox[] = [];
  return {
    get work() {
      return (work ??= mkdtempSync(join(tmpdir(), prefix)));
    },
    fresh() {
      const sb = zeroSandbox();
      sandboxes.push(sb);
      return sb;
    },
    remove() {
      for (const sb of sandboxes.splice(0)) rmSync(sb.root, { recursive: true, force: true });
      if (work) rmSync(work, { recursive: true, force: true });
      work = undefined;
    },
  };
}

/** A small but varied tree: nested dirs, an executable, a symlink, an empty file, random data. */
export function makeSmallTree(dir: string, tag: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'lib', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'run'), `#!/bin/sh\necho ${tag}\n`);
  chmodSync(join(dir, 'bin', 'run'), 0o755);
  writeFileSync(join(dir, 'lib', 'data.bin'), randomBytes(64 * 1024));
  writeFileSync(join(dir, 'lib', 'deep', 'empty'), '');
  writeFileSync(join(dir, 'README'), `implementation ${tag}\n`);
  symlinkSync('lib/data.bin', join(dir, 'data-link'));
}

/** `bigFiles` random files of `bigMiB` MiB plus a few small ones (random data: does not compress). */
export function makeBigTree(dir: string, bigFiles: number, bigMiB: number): void {
  makeSmallTree(dir, 'big');
  mkdirSync(join(dir, 'blobs'));
  for (let i = 0; i < bigFiles; i++) writeFileSync(join(dir, 'blobs', `blob-${i}.bin`), randomBytes(bigMiB * MiB));
}

/**
 * Adds `dir` with the real 0install; returns the sha256new digest. (As root, 0install puts it in
 * the sandbox's system store, as it does on a real machine.)
 */
export function addWith0install(sb: ZeroSandbox, dir: string): string {
  const digest = zi(sb, ['store', 'manifest', dir, 'sha256new']).trim().split('\n').pop()!;
  zi(sb, ['store', 'add', digest, dir]);
  return digest;
}

/** Starts `0share serve` of the sandbox's stores on `host`; waits until `client` gets a UDP reply for `digest`. */
export async function startPeer(host: NetHost, client: NetHost, sb: ZeroSandbox, digest: string, extra: string[] = []): Promise<HostProcess> {
  const p = host.spawn(process.execPath, [CLI, 'serve', '--store', sb.userStore, '--store', sb.systemStore, ...extra], { env: sb.env });
  for (let i = 0; i < 60; i++) {
    const r = client.exec(process.execPath, [PROBE, 'udp-query', host.ip, '38339', '250', digest]);
    if (r.status === 0 && r.stdout.includes(digest)) return p;
    const ex = await Promise.race([p.exited, new Promise<undefined>((res) => setTimeout(() => res(undefined), 100))]);
    if (ex) throw new Error(`0share serve on ${host.ip} exited (${ex.code ?? ex.signal}):\n${p.stdout()}${p.stderr()}`);
  }
  throw new Error(`0share serve on ${host.ip} never answered a query for ${digest}:\n${p.stdout()}${p.stderr()}`);
}

/** Runs `0share ARGS` on a host with a sandbox's environment. */
export function run0share(host: NetHost, sb: ZeroSandbox, args: string[], timeout = 120_000) {
  return host.exec(process.execPath, [CLI, ...args], { env: sb.env, timeout });
}

/**
 * Whether a fetch's output says `holder has DIGEST`, naming the holder by either of its addresses:
 * a peer answers over IPv4 broadcast and IPv6 multicast alike, and the first reply heard names it.
 */
export function saysHas(out: string, holder: NetHost, client: NetHost, digest: string): boolean {
  return out.includes(`${holder.ip} has ${digest}`) || out.includes(`[${holder.ip6}%${client.iface}] has ${digest}`);
}

/** The names in a store dir (empty when the store does not exist). */
export function storeEntries(store: string): string[] {
  try {
    return readdirSync(store).sort();
  } catch {
    return [];
  }
}

/**
 * Problems with stores (default: the sandbox's user and system stores): any tmp-* or other
 * leftover, any entry `0install store verify` rejects.
 */
export function storeProblems(sb: ZeroSandbox, ...stores: string[]): string[] {
  const problems: string[] = [];
  for (const store of stores.length ? stores : [sb.userStore, sb.systemStore])
    for (const name of storeEntries(store)) {
      if (!/^(sha1|sha1new|sha256|sha256new)[=_][0-9a-zA-Z]+$/.test(name)) {
        problems.push(`${store}: unexpected entry ${name}`);
        continue;
      }
      const r = ziResult(sb, ['store', 'verify', join(store, name)]);
      if (r.status !== 0) problems.push(`${store}/${name}: 0install store verify failed: ${r.stderr.trim() || r.stdout.trim()}`);
    }
  return problems;
}

/** A recursive snapshot of a tree (type, mode, size, mtime, link target, content hash). */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = rel ? join(root, rel) : root;
    let st;
    try {
      st = lstatSync(p, { bigint: true });
    } catch {
      return;
    }
    const head = `${st.mode.toString(8)} ${st.size} ${st.mtimeNs}`;
    if (st.isDirectory()) {
      out.set(rel || '.', `dir ${head}`);
      for (const n of readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
    } else if (st.isSymbolicLink()) {
      out.set(rel, `link ${head} -> ${readlinkSync(p)}`);
    } else if (st.isFile()) {
      const hash = st.size <= 4n * BigInt(MiB) ? createHash('sha256').update(readFileSync(p)).digest('hex') : '';
      out.set(rel, `file ${head} ${hash}`);
    } else out.set(rel, `other ${head}`);
  };
  walk('');
  return out;
}

/** Human-readable differences between two snapshots (empty when equal). */
export function snapshotDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of before) {
    const w = after.get(k);
    if (w === undefined) diffs.push(`removed ${k}`);
    else if (w !== v) diffs.push(`changed ${k}: ${v} → ${w}`);
  }
  for (const k of after.keys()) if (!before.has(k)) diffs.push(`added ${k}`);
  return diffs;
}

/** Established TCP connections served from port 38339 on `host`, with bytes acked so far. */
export function servingConnections(host: NetHost): Array<{ peer: string; bytesAcked: number }> {
  const r = host.exec('ss', ['-Htni', 'state', 'established', '( sport = :38339 )']);
  const conns: Array<{ peer: string; bytesAcked: number }> = [];
  const lines = r.stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /\s(\d+\.\d+\.\d+\.\d+):\d+\s*$/.exec(lines[i]!.trimEnd() + ' ');
    if (!m) continue;
    const info = lines[i + 1] ?? '';
    const acked = /bytes_acked:(\d+)/.exec(info);
    conns.push({ peer: m[1]!, bytesAcked: acked ? Number(acked[1]) : 0 });
  }
  return conns;
}

export const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

export interface KilledFetch {
  /** The holder whose peer was killed while it was sending. */
  killed: NetHost;
  code: number | null;
  stdout: string;
  /** stdout and stderr together. */
  out: string;
}

/**
 * Runs `0share fetch DIGEST -H …` on `client` against every holder (throttled to 100 Mbit so the
 * transfer takes a while), kills (SIGKILL) the peer of whichever holder is in the middle of
 * sending (a connection to the client with more than 512 KiB acknowledged: the swarm's pieces
 * come in requests of about 1 MiB), and waits for the fetch to end. Removes the throttles afterwards.
 */
export async function fetchKillingTheSender(client: NetHost, env: NodeJS.ProcessEnv, digest: string, holders: Array<[NetHost, HostProcess]>, fetchArgs: readonly string[] = []): Promise<KilledFetch> {
  for (const [h] of holders) h.limitRate('100mbit');
  try {
    const fetch = client.spawn(process.execPath, [CLI, 'fetch', digest, ...fetchArgs, ...holders.flatMap(([h]) => ['-H', h.ip])], { env });
    let killed: NetHost | undefined;
    const t0 = Date.now();
    while (!killed && Date.now() - t0 < 60_000) {
      const sender = holders.find(([h]) => servingConnections(h).some((c) => c.peer === client.ip && c.bytesAcked > 512 * 1024));
      if (sender) {
        sender[1].kill('SIGKILL');
        killed = sender[0];
        break;
      }
      const ex = await Promise.race([fetch.exited, sleep(20).then(() => undefined)]);
      if (ex) throw new Error(`fetch ended before a transfer was seen:\n${fetch.stdout()}${fetch.stderr()}`);
    }
    if (!killed) throw new Error('no transfer was seen within 60 s');
    const ex = await fetch.exited;
    return { killed, code: ex.code, stdout: fetch.stdout(), out: fetch.stdout() + fetch.stderr() };
  } finally {
    for (const [h] of holders) h.exec('tc', ['qdisc', 'del', 'dev', h.iface, 'root']);
  }
}
