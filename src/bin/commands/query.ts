// `0share query DIGEST…`: only asks who has these implementations (`10.0.0.1 has …` on stdout,
// or `--json`); downloads nothing. Exit status 1 when some digest has no peer.
import type { Command } from 'commander';
import { query } from '../../api/query.js';
import { createLogger } from '../../io/logger.js';
import { DiscoveryError } from '../../io/udp-discovery.js';
import { UserError } from '../cli-errors.js';
import { hasLine, unansweredText } from '../fetch-report.js';
import { type DiscoveryCliOptions, discoveryOptions, parseDigests } from './client-options.js';

interface QueryCliOptions extends DiscoveryCliOptions {
  json?: boolean;
}

export function registerQuery(program: Command): void {
  discoveryOptions(
    program
      .command('query')
      .description('ask the local network which peers have these implementations (downloads nothing)')
      .argument('<digest...>', 'implementation digests (sha256new_…, sha1new=…)'),
  )
    .option('--json', 'print {digest: [{host, port}…]} as JSON on stdout')
    .action(async (args: string[], opts: QueryCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ debug?: boolean }>();
      const digests = parseDigests(args);
      const logger = createLogger(globals.debug ? { level: 'debug' } : {});
      let out;
      try {
        out = await query(digests, {
          timeout: opts.timeout,
          port: opts.port,
          hosts: opts.host,
          broadcast: opts.broadcast,
          skipIfaces: opts.skipIface,
          mdns: opts.mdns,
          logger,
          onReply: (d, p) => {
            if (!opts.json) process.stdout.write(`${hasLine(d, p)}\n`);
          },
        });
      } catch (err) {
        if (err instanceof DiscoveryError) throw new UserError(err.message);
        throw err;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(out.peers, null, 2)}\n`);
      const nobody = Object.entries(out.peers).filter(([, peers]) => peers.length === 0).map(([d]) => d);
      if (nobody.length === 0) return;
      const why = out.sendError ? ` (${out.sendError})` : out.unanswered?.length ? `: ${unansweredText(out.unanswered)}` : '';
      throw new UserError(
        `no peer offered ${nobody.join(', ')} within ${opts.timeout} ms${why}. UDP and TCP ${opts.port} must be open in the peers' firewalls; ` +
          `if broadcasts do not reach a peer, name it with -H HOST.`,
      );
    });
}
