// `0share peers`: lists the peers that answer (address, port, version, implementations, how each
// was found, when last seen), as a table or `--json`, each machine once with all the addresses it
// answered from. Exit status 1 when nobody answered.
import type { Command } from 'commander';
import { peers } from '../../api/peers.js';
import type { KnownPeer } from '../../machines/peers.machine.js';
import { createLogger } from '../../io/logger.js';
import { DiscoveryError } from '../../io/udp-discovery.js';
import { UserError } from '../cli-errors.js';
import { showPeer } from '../fetch-report.js';
import { type DiscoveryCliOptions, discoveryOptions } from './client-options.js';

interface PeersCliOptions extends DiscoveryCliOptions {
  json?: boolean;
}

function asJson(p: KnownPeer) {
  return {
    host: p.peer.host,
    port: p.peer.port,
    version: p.info.version ?? null,
    implementations: p.info.implementations ?? null,
    foundBy: p.via,
    lastSeen: new Date(p.lastSeen).toISOString(),
    ...(p.also?.length ? { alsoAt: p.also.map((a) => ({ host: a.host, port: a.port })) } : {}),
    ...(p.error ? { error: p.error } : {}),
  };
}

/** The table: one row per peer, columns padded to their widest cell. */
export function peersTable(list: readonly KnownPeer[]): string {
  const rows = [
    ['ADDRESS', 'VERSION', 'IMPLEMENTATIONS', 'FOUND BY', 'LAST SEEN'],
    ...list.map((p) => [
      [p.peer, ...(p.also ?? [])].map(showPeer).join(' '),
      p.info.version ?? '?',
      p.info.implementations === undefined ? '?' : String(p.info.implementations),
      p.via.join(','),
      new Date(p.lastSeen).toLocaleTimeString('en-GB', { hour12: false }),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function registerPeers(program: Command): void {
  discoveryOptions(program.command('peers').description('list the peers on the local network: address, version, implementations, how found'))
    .option('--json', 'print [{host, port, version, implementations, foundBy, lastSeen, alsoAt?}…] as JSON on stdout')
    .action(async (opts: PeersCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ debug?: boolean }>();
      const logger = createLogger(globals.debug ? { level: 'debug' } : {});
      let out;
      try {
        out = await peers({ timeout: opts.timeout, port: opts.port, hosts: opts.host, broadcast: opts.broadcast, skipIfaces: opts.skipIface, mdns: opts.mdns, logger });
      } catch (err) {
        if (err instanceof DiscoveryError) throw new UserError(err.message);
        throw err;
      }
      const list = [...out.peers].sort((a, b) => a.peer.host.localeCompare(b.peer.host));
      for (const p of list) if (p.error) logger.debug(`${showPeer(p.peer)}: ${p.error}`);
      if (opts.json) process.stdout.write(`${JSON.stringify(list.map(asJson), null, 2)}\n`);
      else if (list.length) process.stdout.write(`${peersTable(list)}\n`);
      if (list.length) return;
      const why = out.sendError ? ` (${out.sendError})` : '';
      throw new UserError(`no peer answered within ${opts.timeout} ms${why}. UDP ${opts.port} must be open in the peers' firewalls; name a peer with -H HOST or in ~/.config/0share/peers.`);
    });
}
