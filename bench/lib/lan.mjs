// A bench LAN in network namespaces, as test/helpers/netns.ts builds for the tests (plain JS here,
// since the benches run under plain node): n hosts plugged into a bridge that lives in its own
// "switch" namespace, so nothing outside the namespaces made here is touched. Host i is
// SUBNET.(i+2)/24 on eth0. `limit(i, up, down)` rate-limits host i's link with tc tbf in both
// directions (up: egress of the host's eth0; down: egress of its switch port). `destroy()` kills
// every process started through `spawn` and deletes every namespace; it also runs on exit and on
// SIGINT/SIGTERM. Where a CPU cgroup controller can be used (v2 with `cpu` enabled at the root, or
// v1's `cpu`), each host also gets a CPU group of equal weight holding every process spawned on it:
// the hosts then share the machine's cores as separate machines would, and a process's nice value
// (the peer serves at nice 10) weighs only against the other processes of its own host, not
// against every host's (`cpuGroups` says which, or why none).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ip = (...args) => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
};

/** '' when namespaces can be made here, else why not. */
export function netnsUnavailable() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not running as root';
  const probe = `zsb${process.pid}probe`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add failed: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  if (spawnSync('tc', ['-V'], { stdio: 'ignore' }).status !== 0) return 'tc (iproute2) is not installed';
  return '';
}

/** One CPU group per host under a cgroup controller, or { why } when there is none to use. */
function cpuGroups(names) {
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/cpu';
  let root;
  let file;
  let value;
  if (existsSync(join(v2, 'cgroup.subtree_control')) && /\bcpu\b/.test(readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8'))) {
    [root, file, value] = [v2, 'cpu.weight', '100'];
  } else if (existsSync(join(v1, 'cpu.shares'))) {
    [root, file, value] = [v1, 'cpu.shares', '1024'];
  } else return { why: 'no cgroup cpu controller to use' };
  const dirs = names.map((n) => join(root, n));
  try {
    for (const d of dirs) {
      mkdirSync(d);
      writeFileSync(join(d, file), value);
    }
  } catch (e) {
    for (const d of dirs) if (existsSync(d)) rmdirSync(d);
    return { why: `cannot make CPU groups in ${root}: ${e.message}` };
  }
  return {
    kind: `${root === v2 ? 'cgroup v2' : 'cgroup v1'} ${file} ${value} each`,
    add(i, pid) {
      try {
        writeFileSync(join(dirs[i], 'cgroup.procs'), String(pid));
      } catch {
        // The process has already ended.
      }
    },
    /** Removes the groups once their processes are gone (waits up to 2 s for killed ones to end). */
    destroy() {
      for (const d of dirs) {
        for (let t = 0; t < 40 && existsSync(d); t++) {
          try {
            rmdirSync(d);
          } catch {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
          }
        }
      }
    },
  };
}

function tbf(ns, dev, rate) {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '400ms'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tc tbf on ${ns}/${dev} failed: ${(r.stderr || '').trim()}`);
}

export function createLan(n, subnet) {
  const base = `zsb${process.pid}n`;
  const sw = `${base}s`;
  const names = Array.from({ length: n }, (_, i) => `${base}${i}`);
  const children = new Set();
  const cpu = cpuGroups(names);
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    cpu.destroy?.();
    for (const ns of [...names, sw]) spawnSync('ip', ['netns', 'del', ns]);
  };
  const onSignal = () => {
    destroy();
    process.exit(130);
  };
  process.once('exit', destroy);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ip('netns', 'add', sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    names.forEach((ns, i) => {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', sw, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', sw, 'link', 'set', `p${i}`, 'master', 'br0');
      ip('-n', sw, 'link', 'set', `p${i}`, 'up');
      ip('-n', ns, 'addr', 'add', `${subnet}.${i + 2}/24`, 'brd', '+', 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
    });
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    hosts: names.map((ns, i) => ({ ns, ip: `${subnet}.${i + 2}` })),
    /** How the hosts share the CPU: one group each (and of which kind), or why not. */
    cpuSharing: cpu.kind ? `one CPU group per host (${cpu.kind})` : `no CPU group per host (${cpu.why}): every process competes with every host's`,
    limit(i, up, down = up) {
      tbf(names[i], 'eth0', up);
      tbf(sw, `p${i}`, down);
    },
    /** Host i's IPv6 link-local address on eth0 (without its zone), or undefined before it has one. */
    ip6(i) {
      const r = spawnSync('ip', ['-n', names[i], '-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'], { encoding: 'utf8' });
      return JSON.parse(r.stdout || '[]')[0]?.addr_info?.find((a) => a.family === 'inet6')?.local;
    },
    /** Bytes host i has received on eth0 so far. */
    rxBytes(i) {
      const r = spawnSync('ip', ['-n', names[i], '-s', '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' });
      return JSON.parse(r.stdout)[0].stats64.rx.bytes;
    },
    /** A process in host i's namespace (killed by destroy()). */
    spawn(i, cmd, args, opts) {
      const c = spawn('ip', ['netns', 'exec', names[i], cmd, ...args], opts);
      // `ip netns exec` execs the command in place: the pid is the command's.
      if (c.pid !== undefined) cpu.add?.(i, c.pid);
      children.add(c);
      c.on('exit', () => children.delete(c));
      return c;
    },
    destroy,
  };
}
