// Two hosts for the network benches: namespaces joined by a veth pair (no rate limit), A = SUBNET.1
// (the peer), B = SUBNET.2 (the client). Names carry the bench's pid, so parallel runs do not
// collide. Needs root; `netnsProblem()` says why not when it cannot work.
import { execFileSync, spawnSync } from 'node:child_process';

export function netnsProblem() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not running as root';
  const probe = `zsb${process.pid}probe`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add failed: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  if (spawnSync('0install', ['--version'], { stdio: 'ignore' }).status !== 0) return '0install is not installed';
  return '';
}

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Makes the two namespaces; `destroy()` removes them. */
export function makeHosts(subnet, tag = '') {
  const a = `zsb${process.pid}${tag}a`;
  const b = `zsb${process.pid}${tag}b`;
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  for (const ns of [a, b]) ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b);
  ip('-n', a, 'addr', 'add', `${subnet}.1/24`, 'brd', '+', 'dev', 'eth0');
  ip('-n', b, 'addr', 'add', `${subnet}.2/24`, 'brd', '+', 'dev', 'eth0');
  for (const ns of [a, b]) ip('-n', ns, 'link', 'set', 'eth0', 'up');
  return { a, b, addrA: `${subnet}.1`, destroy: () => [a, b].forEach((ns) => spawnSync('ip', ['netns', 'del', ns])) };
}
