#!/usr/bin/env node
// The 0share command line: the peer (default), fetch/query clients, store tools, the
// stock-0install wrappers and the service installer. Each subcommand lives in ./commands/.
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { normalizeArgv, unknownCommand } from './argv.js';
import { reportError, UserError } from './cli-errors.js';

type Registrar = (program: Command) => void;

// Loaded on demand: `0share manifest` must not pay for the peer's and client's dependencies
// (pino, xstate, tar-stream…), which cost more start-up time than hashing a small tree.
const COMMANDS: Record<string, () => Promise<Registrar>> = {
  serve: async () => (await import('./commands/serve.js')).registerServe,
  fetch: async () => (await import('./commands/fetch.js')).registerFetch,
  query: async () => (await import('./commands/query.js')).registerQuery,
  peers: async () => (await import('./commands/peers.js')).registerPeers,
  manifest: async () => (await import('./commands/manifest.js')).registerManifest,
  list: async () => (await import('./commands/list.js')).registerList,
  verify: async () => (await import('./commands/verify.js')).registerVerify,
  run: async () => (await import('./commands/run.js')).registerRun,
  why: async () => (await import('./commands/why.js')).registerWhy,
  service: async () => (await import('./commands/service.js')).registerService,
};

const args = normalizeArgv(process.argv.slice(2));
// `download` is registered by run.ts beside `run`; `help` is commander's.
const names = [...Object.keys(COMMANDS), 'download'];
const unknown = unknownCommand(args, [...names, 'help']);
if (unknown !== undefined) {
  const hint = `'${unknown}' is not a 0share command; the commands are ${names.join(', ')} (\`0share --help\` describes them; \`0share\` alone runs the peer)`;
  process.exit(reportError(new UserError(hint, 2), false));
}

// `0share run|download URI…` and `0share manifest DIR [ALG]` with nothing before the verb (how
// 0install users type them) skip commander: a cached run hands over to 0install as soon as it
// can, and a manifest costs about what the tree costs. Help goes the usual way.
if (!(await handledWithoutCommander(args[0], args.slice(1)))) await withCommander();

async function handledWithoutCommander(verb: string | undefined, rest: string[]): Promise<boolean> {
  try {
    if (verb === 'manifest') return await (await import('./commands/manifest.js')).manifestWithoutCommander(rest);
    if (verb === 'run' || verb === 'download') return await (await import('./commands/run.js')).runWithoutCommander(verb, rest);
    return false;
  } catch (err: unknown) {
    process.exitCode = reportError(err, false);
    return true;
  }
}

/** Every other command line: commander parses it and runs the subcommand. */
async function withCommander(): Promise<void> {
  // commander is a CommonJS package: require loads it faster than an ESM import (no export scan).
  const { Command: CommandClass } = createRequire(import.meta.url)('commander') as typeof import('commander');
  const { VERSION } = await import('../io/version.js');
  const program = new CommandClass('0share')
    .description('Share Zero Install implementations with other machines on the local network')
    .version(VERSION, '-V, --version', "print 0share's version")
    .option('--debug', 'verbose logs and stack traces on errors')
    .showHelpAfterError()
    .enablePositionalOptions();

  const first = args.find((a) => !a.startsWith('-'));
  const named = first === 'download' ? 'run' : first;
  const help = args.some((a) => a === '-h' || a === '--help') || named === 'help';
  // Just the named subcommand (the default, serve, when none is named); all of them for help or
  // an unknown name; none for the version.
  const version = args.length === 1 && (args[0] === '-V' || args[0] === '--version');
  const wanted = version ? [] : named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : named === undefined && !help ? ['serve'] : Object.keys(COMMANDS);

  try {
    for (const name of wanted) (await COMMANDS[name]!())(program);
    await program.parseAsync(args, { from: 'user' });
  } catch (err: unknown) {
    // --debug as parsed (before the subcommand), not any '--debug' among a program's arguments.
    process.exitCode = reportError(err, program.opts<{ debug?: boolean }>().debug === true);
  }
}
