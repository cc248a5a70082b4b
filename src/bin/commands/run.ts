// `0share run URI [ARGS…]` and `0share download URI`: ask the real 0install what the program
// needs, fetch whatever is missing from LAN peers, then hand over to `0install run|download`,
// which downloads the rest and runs the program. Fetching from peers can only help: when it finds
// nothing or fails, the command behaves exactly like the plain 0install command.
import type { Command } from 'commander';
import { formatDigest } from '../../core/digest.js';
import { parseRunCommandLine, RunUsageError, type RunCommandLine, type Verb } from '../../core/run-options.js';
import { defaultStores } from '../../io/stores.js';
import { exitLike, handOver, selectXml } from '../../io/zeroinstall.js';
import { UserError } from '../cli-errors.js';
import { wholeNumber } from './client-options.js';
import { LazyLogger } from '../lazy-logger.js';

const SUMMARY: Record<Verb, string> = {
  run: 'run a 0install program, fetching what it needs from LAN peers first (then `0install run`)',
  download: 'download a 0install program, fetching what peers have first (then `0install download`)',
};

const HELP = `
0share options:
  -H, --host HOST[:PORT]  ask this peer directly instead of broadcasting (repeatable)
  --timeout MS            how long peers may take to answer, counted from when 0share
                          starts (default 250; at least two fifths of it after the query)
  --port PORT             the peers' port (default 38339)
  --skip-iface PATTERN    do not query on interfaces matching this (e.g. eth1, vpn*;
                          repeatable; docker*, br-*, veth*… always)
  --no-mdns               do not look for peers over DNS-SD (mDNS)
  --whole-tar             get each implementation as one tar from one peer (the 2008 mode)
                          instead of in pieces from every peer that has it
  --system                add fetched implementations to the system store (see the user guide)
  -h, --help              this help

Every other option goes to 0install (see \`0install run --help\`): -c, -g, -v, -o, -r, -s, -m PATH,
-w CMD, --command, --version, --version-for URI RANGE, --before, --not-before, --cpu, --os,
--message, --with-store DIR, --dry-run, --may-compile, and --show, --xml for download.
Option parsing stops at URI: everything after it goes to the program.
With --offline or --dry-run, peers are not asked.
`;

const INTERRUPTS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** 0share's numeric options, checked before 0install is started. */
interface PeerOptions {
  timeout?: number;
  port?: number;
}

/** Fetches from peers what no store holds yet; never throws (0install gets the rest). */
async function prefetch(
  cl: RunCommandLine,
  peers: PeerOptions,
  xml: string,
  log: LazyLogger,
  planner: Promise<typeof import('../../api/selections-plan.js')>,
  signal: AbortSignal,
): Promise<void> {
  const started = performance.now();
  try {
    if (cl.offline || cl.dryRun) {
      await log.log('info', `not asking peers (${cl.offline ? '--offline' : '--dry-run'})`);
      return;
    }
    const stores = [...defaultStores(), ...cl.withStores];
    // Everything in a store already (the usual case): hand over without loading the client.
    const plan = await (await planner).planSelections(xml, stores);
    if (plan.every((p) => p.cached)) {
      for (const { sel, cached } of plan) await log.log('debug', 'already in a store', { digest: formatDigest(cached!.digest), interface: sel.interface });
      return;
    }
    const { fetchSelections } = await import('../../api/fetch.js');
    const results = await fetchSelections(xml, {
      timeout: peers.timeout,
      port: peers.port,
      // The peer of this machine (on the same port) keeps the record, for `0share why`.
      reportTo: peers.port,
      hosts: cl.hosts,
      skipIfaces: cl.skipIfaces,
      mdns: cl.mdns,
      wholeTar: cl.wholeTar,
      stores,
      // fetch writes debug lines only: below that level it gets no logger, so pino does not
      // load before the query goes out.
      ...(log.enabled('debug') ? { logger: await log.logger() } : {}),
      system: cl.system,
      signal,
      // The window counts from the process start: when no peer has anything, the run costs no
      // more than the window (plus the hand-over).
      windowFrom: 0,
    });
    for (const r of results) {
      const what = { digest: formatDigest(r.digest), interface: r.interface };
      if (r.status === 'committed') await log.log('info', 'fetched from a peer', { ...what, peer: r.peer?.host });
      else if (r.status === 'cached') await log.log('debug', 'already in a store', what);
      else if (cl.system && r.failure === 'peers-failed') await log.log('warn', 'could not add it to the system store; 0install will download it', { ...what, attempts: r.attempts });
      else await log.log('debug', 'no peer provided it; 0install will download it', { ...what, attempts: r.attempts });
    }
  } catch (err) {
    await log.log('info', `not fetching from peers: ${(err as Error).message}`);
  }
  await log.log('debug', `0share added ${Math.round(performance.now() - started)} ms before handing over to 0install`);
}

function parseLine(verb: Verb, argv: string[]): RunCommandLine {
  try {
    return parseRunCommandLine(verb, argv);
  } catch (err) {
    if (err instanceof RunUsageError) throw new UserError(`${err.message} (see 0share ${verb} --help)`);
    throw err;
  }
}

/**
 * `0share run|download ARGS…` typed with nothing before the verb, without commander (whose load
 * a cached run would pay): false when the line asks for help, which commander prints.
 */
export async function runWithoutCommander(verb: Verb, argv: string[]): Promise<boolean> {
  const cl = parseLine(verb, argv);
  if (cl.help || cl.uri === undefined) return false;
  await runVerb(verb, { ...cl, uri: cl.uri }, false);
  return true;
}

async function runVerb(verb: Verb, cl: RunCommandLine & { uri: string }, debug: boolean): Promise<void> {
  const timeout = cl.timeout === undefined ? undefined : wholeNumber('--timeout', 1, 600_000)(cl.timeout);
  const port = cl.port === undefined ? undefined : wholeNumber('--port', 1, 65_535)(cl.port);

  const verbose = cl.zeroinstallOptions.some((o) => o === '--verbose' || o === '-v');
  const log = new LazyLogger(debug ? 'debug' : (process.env.ZSHARE_LOG_LEVEL ?? (verbose ? 'info' : 'warn')));

  // 0install starts solving first; the store check (selections parser, stores) loads meanwhile.
  // The client loads only when something is missing (the rest of it while peers get time to
  // answer).
  const selecting = selectXml(cl.selectOptions, cl.uri);
  const planner = import('../../api/selections-plan.js');
  planner.catch(() => undefined);
  const selected = await selecting;
  if (!selected.ok) {
    // 0install has already printed its own message; end exactly as it did.
    if (selected.spawnError) throw new UserError(`cannot run 0install: ${selected.spawnError.message} (install it, e.g. apt-get install 0install-core)`, 127);
    exitLike(selected.signal ? { signal: selected.signal } : { code: selected.code ?? 1 });
    return;
  }
  // Interrupted while fetching: transfers are cancelled (nothing partial stays), and we end as
  // 0install would have, without handing over.
  const abort = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted ??= sig;
    abort.abort();
  };
  for (const sig of INTERRUPTS) process.on(sig, onSignal);
  try {
    await prefetch(cl, { timeout, port }, selected.xml, log, planner, abort.signal);
  } finally {
    for (const sig of INTERRUPTS) process.off(sig, onSignal);
  }
  if (interrupted) {
    exitLike({ signal: interrupted });
    return;
  }

  const args = [verb, ...cl.zeroinstallOptions, '--', cl.uri, ...cl.programArgs];
  let status;
  try {
    status = await handOver(args);
  } catch (err) {
    throw new UserError(`cannot run 0install: ${(err as Error).message}`, 127);
  }
  exitLike(status);
}

/** Registers `run` and `download`. */
export function registerRun(program: Command): void {
  for (const verb of ['run', 'download'] as const) {
    program
      .command(verb)
      .summary(SUMMARY[verb])
      .description(`${SUMMARY[verb]}.`)
      .usage(verb === 'run' ? '[options] URI [ARGS...]' : '[options] URI')
      .argument('[args...]')
      .helpOption(false)
      .allowUnknownOption()
      .passThroughOptions()
      .addHelpText('after', HELP)
      .action(async (argv: string[], _opts: unknown, cmd: Command) => {
        const cl = parseLine(verb, argv);
        if (cl.help) return void cmd.outputHelp();
        if (cl.uri === undefined) {
          cmd.outputHelp({ error: true });
          process.exitCode = 1;
          return;
        }
        await runVerb(verb, { ...cl, uri: cl.uri }, cmd.optsWithGlobals<{ debug?: boolean }>().debug === true);
      });
  }
}
