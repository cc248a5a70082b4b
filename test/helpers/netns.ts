// Multi-host tests in Linux network namespaces. `createLan(n)` builds n hosts (each its own
// namespace) plugged into a bridge that lives in a dedicated "switch" namespace, so nothing in
// the host's own network is touched: no links, addresses or routes are added outside the
// namespaces created here. Hosts get 10.77.<subnet>.2, .3, … /24 with a working broadcast.
// Everything is removed by `destroy()`, on process exit or a fatal signal, and (for namespaces
// and processes left by a run killed outright) at the next `createLan`.
import { type ChildProcess, spawn as spawnChild, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** ms; default 120 s. */
  timeout?: number;
}

export interface ExecResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * A long-running process inside a host's namespace; killed by `Lan.destroy()`. Its output goes
 * to files, not pipes: a test blocked in a synchronous call (`exec`) cannot stall it by not
 * reading.
 */
export interface HostProcess {
  proc: ChildProcess;
  pid: number;
  /** Everything written to stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the output once `pattern` appears in stdout or stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface NetHost {
  /** Namespace name. */
  name: string;
  /** IPv4 address ('' on an IPv6-only LAN). */
  ip: string;
  /** IPv6 link-local address of `iface`, without the zone. */
  ip6: string;
  /** Interface name inside the namespace. */
  iface: string;
  exec(cmd: string, args: string[], opts?: ExecOptions): ExecResult;
  spawn(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; cwd?: string }): HostProcess;
  /** Limits this host's outgoing rate (tc tbf), e.g. '100mbit'; false (with a warning) if tc cannot. */
  limitRate(rate: string): boolean;
}

export interface Lan {
  hosts: NetHost[];
  broadcast: string;
  switchNs: string;
  /**
   * Adds interface `name` to `host` with `address` (CIDR), a veth whose other end (address
   * `farAddress`, interface eth0) is in a new namespace, returned as a host.
   */
  addStub(host: NetHost, name: string, address: string, farAddress: string): NetHost;
  /**
   * Adds a host on 10.78.<subnet>.2/24 behind a router namespace (10.77.<subnet>.1 on the LAN,
   * 10.78.<subnet>.1 on the far side); every LAN host gets a route to that subnet.
   */
  addRoutedHost(): NetHost;
  destroy(): void;
}

export interface LanOptions {
  /** The <k> of 10.77.<k>.0/24; use a different one per test file. Default 1. */
  subnet?: number;
  /** Give the hosts IPv4 addresses (default true); without, they have IPv6 link-local ones only. */
  ipv4?: boolean;
}

/** Every host's LAN interface. */
const IFACE = 'eth0';

const PREFIX = `zs${process.pid}l`;
let lanCount = 0;
const liveLans = new Set<Lan>();

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

let netnsChecked: boolean | undefined;
/** True when this process may create network namespaces; otherwise warns loudly (once) and returns false. */
export function canUseNetns(): boolean {
  if (netnsChecked !== undefined) return netnsChecked;
  let why = '';
  if (process.platform !== 'linux') why = 'not Linux';
  else if (process.getuid?.() !== 0) why = 'not running as root';
  else {
    const probe = `${PREFIX}probe`;
    const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
    if (r.status !== 0) why = `\`ip netns add\` failed: ${(r.stderr || r.error?.message || '').trim()}`;
    else spawnSync('ip', ['netns', 'del', probe]);
  }
  netnsChecked = why === '';
  if (!netnsChecked) {
    process.stderr.write(`\n*** SKIPPING network-namespace tests: ${why} (they need root and iproute2; CI runs them as root) ***\n\n`);
  }
  return netnsChecked;
}

/** Deletes namespaces left behind by earlier runs whose process is gone. */
function reapStale(): void {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^(zs(\d+)l\S*)/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) continue;
    // Processes a killed run left in the namespace go first, then the namespace.
    const pids = spawnSync('ip', ['netns', 'pids', m[1]!], { encoding: 'utf8' }).stdout ?? '';
    for (const p of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    spawnSync('ip', ['netns', 'del', m[1]!]);
  }
}

function makeHostProcess(proc: ChildProcess, outFile: string, errFile: string): HostProcess {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    proc.on('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  return {
    proc,
    pid: proc.pid!,
    stdout: () => read(outFile),
    stderr: () => read(errFile),
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      const t0 = Date.now();
      return new Promise((resolve, reject) => {
        const check = () => {
          const all = read(outFile) + read(errFile);
          if (pattern.test(all)) resolve(all);
          else if (done) reject(new Error(`process exited before ${pattern} appeared; output:\n${all}`));
          else if (Date.now() - t0 > timeoutMs) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; output:\n${all}`));
          else setTimeout(check, 25);
        };
        check();
      });
    },
    kill(signal = 'SIGTERM') {
      if (done) return;
      try {
        process.kill(-proc.pid!, signal); // its own process group
      } catch {
        try {
          proc.kill(signal);
        } catch {
          /* already gone */
        }
      }
    },
  };
}

/** Creates n hosts on one bridge. Call `destroy()` in afterAll. */
export function createLan(n: number, opts: LanOptions = {}): Lan {
  if (n < 1 || n > 26) throw new Error('createLan: 1..26 hosts');
  reapStale();
  const k = opts.subnet ?? 1;
  if (!Number.isInteger(k) || k < 0 || k > 255) throw new Error('createLan: subnet must be 0..255');
  const base = `${PREFIX}${lanCount++}`;
  const switchNs = `${base}s`;
  const names: string[] = [];
  const processes = new Set<HostProcess>();
  const logDir = mkdtempSync(join(tmpdir(), '0share-netns-logs-'));
  let logCount = 0;
  let destroyed = false;

  /** A namespace with loopback up and IPv6 addresses usable at once (no duplicate address detection). */
  const addNs = (ns: string) => {
    ip(['netns', 'add', ns]);
    names.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const conf of ['all', 'default']) spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${conf}.accept_dad=0`]);
  };

  const makeHost = (ns: string, addr: string, iface: string): NetHost => ({
    name: ns,
    ip: addr,
    get ip6() {
      const r = spawnSync('ip', ['-n', ns, '-6', '-o', 'addr', 'show', 'dev', iface, 'scope', 'link'], { encoding: 'utf8' });
      return /inet6 (fe80::[0-9a-f:]+)\//.exec(r.stdout ?? '')?.[1] ?? '';
    },
    iface,
    exec(cmd, args, o = {}) {
      const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], {
        env: o.env ?? process.env,
        cwd: o.cwd,
        input: o.input,
        encoding: 'utf8',
        timeout: o.timeout ?? 120_000,
        maxBuffer: 256 * 1024 * 1024,
        killSignal: 'SIGKILL',
      });
      return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') };
    },
    spawn(cmd, args, o = {}) {
      if (destroyed) throw new Error('LAN already destroyed');
      // `ip netns exec` execs the command, so the child's pid is the command's pid.
      const n = logCount++;
      const outFile = join(logDir, `${n}.out`);
      const errFile = join(logDir, `${n}.err`);
      const out = openSync(outFile, 'w');
      const err = openSync(errFile, 'w');
      const proc = spawnChild('ip', ['netns', 'exec', ns, cmd, ...args], {
        env: o.env ?? process.env,
        cwd: o.cwd,
        stdio: ['ignore', out, err],
        detached: true,
      });
      closeSync(out);
      closeSync(err);
      const hp = makeHostProcess(proc, outFile, errFile);
      processes.add(hp);
      void hp.exited.then(() => processes.delete(hp));
      return hp;
    },
    limitRate(rate) {
      const r = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', iface, 'root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '400ms'], { encoding: 'utf8' });
      if (r.status === 0) return true;
      process.stderr.write(`\n*** WARNING: could not limit ${addr} to ${rate} (tc tbf: ${(r.stderr || r.error?.message || '').trim()}); transfers run at full speed ***\n\n`);
      return false;
    },
  });

  let extra = 0;
  const lan: Lan = {
    hosts: [],
    broadcast: `10.77.${k}.255`,
    switchNs,
    addStub(host, name, address, farAddress) {
      const ns = `${base}x${extra++}`;
      addNs(ns);
      ip(['-n', host.name, 'link', 'add', name, 'type', 'veth', 'peer', 'name', IFACE, 'netns', ns]);
      ip(['-n', host.name, 'addr', 'add', address, 'brd', '+', 'dev', name]);
      ip(['-n', host.name, 'link', 'set', name, 'up']);
      ip(['-n', ns, 'addr', 'add', farAddress, 'brd', '+', 'dev', IFACE]);
      ip(['-n', ns, 'link', 'set', IFACE, 'up']);
      return makeHost(ns, farAddress.split('/')[0]!, IFACE);
    },
    addRoutedHost() {
      const router = `${base}r${extra}`;
      const far = `${base}x${extra++}`;
      addNs(router);
      addNs(far);
      const i = lan.hosts.length;
      ip(['-n', switchNs, 'link', 'add', `p${i}r`, 'type', 'veth', 'peer', 'name', IFACE, 'netns', router]);
      ip(['-n', switchNs, 'link', 'set', `p${i}r`, 'master', 'br0']);
      ip(['-n', switchNs, 'link', 'set', `p${i}r`, 'up']);
      ip(['-n', router, 'addr', 'add', `10.77.${k}.1/24`, 'dev', IFACE]);
      ip(['-n', router, 'link', 'set', IFACE, 'up']);
      ip(['-n', router, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', IFACE, 'netns', far]);
      ip(['-n', router, 'addr', 'add', `10.78.${k}.1/24`, 'dev', 'eth1']);
      ip(['-n', router, 'link', 'set', 'eth1', 'up']);
      spawnSync('ip', ['netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      ip(['-n', far, 'addr', 'add', `10.78.${k}.2/24`, 'brd', '+', 'dev', IFACE]);
      ip(['-n', far, 'link', 'set', IFACE, 'up']);
      ip(['-n', far, 'route', 'add', 'default', 'via', `10.78.${k}.1`]);
      for (const h of lan.hosts) if (h.ip) ip(['-n', h.name, 'route', 'add', `10.78.${k}.0/24`, 'via', `10.77.${k}.1`]);
      return makeHost(far, `10.78.${k}.2`, IFACE);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      liveLans.delete(lan);
      for (const p of processes) p.kill('SIGKILL');
      for (const ns of [...names, switchNs]) spawnSync('ip', ['netns', 'del', ns]);
      rmSync(logDir, { recursive: true, force: true });
    },
  };
  liveLans.add(lan);

  try {
    ip(['netns', 'add', switchNs]);
    ip(['-n', switchNs, 'link', 'set', 'lo', 'up']);
    ip(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', switchNs, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < n; i++) {
      const ns = `${base}${String.fromCharCode(97 + i)}`;
      const addr = `10.77.${k}.${i + 2}`;
      addNs(ns);
      // Both ends are created inside namespaces: the host's own network never sees them.
      ip(['-n', switchNs, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', IFACE, 'netns', ns]);
      ip(['-n', switchNs, 'link', 'set', `p${i}`, 'master', 'br0']);
      ip(['-n', switchNs, 'link', 'set', `p${i}`, 'up']);
      if (opts.ipv4 !== false) ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'brd', '+', 'dev', IFACE]);
      ip(['-n', ns, 'link', 'set', IFACE, 'up']);
      // A default route, so that 255.255.255.255 is routable.
      if (opts.ipv4 !== false) ip(['-n', ns, 'route', 'add', 'default', 'dev', IFACE]);
      lan.hosts.push(makeHost(ns, opts.ipv4 === false ? '' : addr, IFACE));
    }
  } catch (e) {
    lan.destroy();
    throw e;
  }
  return lan;
}

const destroyAll = () => {
  for (const lan of [...liveLans]) lan.destroy();
};
process.on('exit', destroyAll);
// On a fatal signal nobody else handles, clean up and then die of that signal as usual.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  if (process.listenerCount(sig) === 0) {
    process.once(sig, () => {
      destroyAll();
      process.kill(process.pid, sig);
    });
  }
}
