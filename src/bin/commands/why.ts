// `0share why DIGEST`: what happened in this machine's last fetch of DIGEST, as the local peer
// kept it (GET /local/fetches/<digest> on loopback): who was asked, who answered, each transfer
// and why it failed, where the bytes came from. `--json` prints the record itself.
import type { Command } from 'commander';
import { formatDigest } from '../../core/digest.js';
import { explainFetch, parseFetchRecord, RecordError } from '../../core/fetch-record.js';
import { DEFAULT_PORT } from '../../core/protocol.js';
import { getFetchRecord } from '../../io/local-peer-client.js';
import { UserError } from '../cli-errors.js';
import { parseDigests, wholeNumber } from './client-options.js';

const TIMEOUT_MS = 2000;

export function registerWhy(program: Command): void {
  program
    .command('why')
    .description("explain this machine's last fetch of an implementation (kept by the local peer)")
    .argument('<digest>', 'implementation digest (sha256new_…, sha1new=…)')
    .option('--port <n>', "the local peer's port", wholeNumber('--port', 1, 65535), DEFAULT_PORT)
    .option('--json', 'print the fetch record as JSON')
    .action(async (arg: string, opts: { port: number; json?: boolean }) => {
      const digest = formatDigest(parseDigests([arg])[0]!);
      const a = await getFetchRecord(opts.port, digest, TIMEOUT_MS);
      if (a.kind === 'no-peer') {
        throw new UserError(`no local peer is running on port ${opts.port} (${a.reason}): fetches are remembered by the peer of this machine; start it with \`0share serve\`, or give its --port`);
      }
      if (a.status === 404) throw new UserError(`the local peer knows no fetch of ${digest} (it keeps the latest fetches since it started, made while it ran)`);
      if (a.status !== 200) throw new UserError(`the local peer answered ${a.status}: ${a.body.trim().slice(0, 200)}`);
      let record;
      try {
        record = parseFetchRecord(JSON.parse(a.body));
      } catch (err) {
        if (err instanceof RecordError || err instanceof SyntaxError) throw new UserError(`the local peer sent an unreadable record: ${err.message}`);
        throw err;
      }
      process.stdout.write(opts.json ? `${JSON.stringify(record, null, 2)}\n` : `${explainFetch(record).join('\n')}\n`);
    });
}
