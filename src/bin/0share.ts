#!/usr/bin/env node
// The 0share command line: the peer (default), fetch/query clients, store tools and the
// stock-0install wrappers. Each subcommand lives in ./commands/.
import { Command } from 'commander';
import { normalizeArgv } from './argv.js';
import { reportError } from './cli-errors.js';
import { registerManifest } from './commands/manifest.js';
import { registerList } from './commands/list.js';
import { registerVerify } from './commands/verify.js';
import { registerServe } from './commands/serve.js';
import { registerFetch } from './commands/fetch.js';
import { registerQuery } from './commands/query.js';
import { registerRun } from './commands/run.js';

const program = new Command('0share')
  .description('Share Zero Install implementations with other machines on the local network')
  .option('--debug', 'verbose logs and stack traces on errors')
  .showHelpAfterError()
  .enablePositionalOptions();

registerServe(program);
registerFetch(program);
registerQuery(program);
registerManifest(program);
registerList(program);
registerVerify(program);
registerRun(program);

const debug = process.argv.includes('--debug');
program.parseAsync(normalizeArgv(process.argv.slice(2)), { from: 'user' }).catch((err: unknown) => {
  process.exitCode = reportError(err, debug);
});
