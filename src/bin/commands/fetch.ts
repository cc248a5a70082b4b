// `0share fetch DIGEST…` (and the 2008 form `0share -f DIGEST`): asks the LAN who has the
// implementations, downloads each from a responder, verifies it and adds it to the store.
// Results on stdout (`10.0.0.1 has …`, `Success`, or `--json`), logs and progress bars on stderr;
// exit status 1 with one message per failed digest.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SingleBar } from 'cli-progress';
import { formatDigest } from '../../core/digest.js';
import { SelectionsError } from '../../core/selections.js';
import { DEFAULT_STALL_TIMEOUT } from '../../api/client-timing.js';
import { fetch, fetchSelections, type FetchEvent, type FetchOptions, type FetchResult } from '../../api/fetch.js';
import { createLogger, type Logger } from '../../io/logger.js';
import { systemStore, SystemStoreError } from '../../io/system-store.js';
import { removeAllTmpDirsSync } from '../../io/tmp-registry.js';
import { DiscoveryError } from '../../io/udp-discovery.js';
import { UserError } from '../cli-errors.js';
import { failureMessage, hasLine, jsonResult, showPeer, successLine, type ReportContext } from '../fetch-report.js';
import { collect, type DiscoveryCliOptions, discoveryOptions, parseByteSize, parseDigests, wholeNumber } from './client-options.js';

interface FetchCliOptions extends DiscoveryCliOptions {
  store?: string[];
  json?: boolean;
  selections?: string;
  system?: boolean;
  maxBytes?: number;
  stallTimeout: number;
  wholeTar?: boolean;
}

function showBytes(n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

interface BarPayload {
  peer: string;
  digest: string;
  /** The tree's size as the peer announced it; the bar shows a fraction only when it is known. */
  expected?: number;
}

/** The bar's width: this, or less so that the line fits the terminal (the percentage is never cut off). */
const BAR_WIDTH = 24;
const MIN_BAR_WIDTH = 5;

/**
 * One bar's line: peer, digest, then `[####----] 42% | 12.0 MiB of 28.6 MiB`, or just the bytes so
 * far. On a narrow terminal the bar narrows, then the peers (a swarm's list of sources) are cut.
 */
function barLine(_options: unknown, params: { value: number }, payload: BarPayload): string {
  const columns = process.stderr.columns || 80;
  // Tar headers make the stream a little longer than the files it carries: cap at 100%.
  const frac = payload.expected ? Math.min(1, params.value / payload.expected) : 0;
  const tail = payload.expected ? ` ${String(Math.floor(frac * 100)).padStart(3)}% | ${showBytes(params.value)} of ${showBytes(payload.expected)}` : `| ${showBytes(params.value)}`;
  const room = columns - 1 - tail.length - (payload.expected ? MIN_BAR_WIDTH + 2 : 0) - payload.digest.length - 3;
  const peer = payload.peer.length > room ? `${payload.peer.slice(0, Math.max(0, room - 1))}…` : payload.peer;
  const head = ` ${peer} ${payload.digest} `;
  if (!payload.expected) return `${head}${tail}`;
  const width = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, columns - 1 - head.length - tail.length - 2));
  const full = Math.round(frac * width);
  return `${head}[${'#'.repeat(full)}${'-'.repeat(width - full)}]${tail}`;
}

/** `10.0.0.1 12.0 MiB + 10.0.0.2 3.1 MiB`: what each source of a swarm sent. */
function sourcesLine(bytes: Readonly<Record<string, number>>): string {
  return Object.entries(bytes)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k.replace(/:38339$/, '')} ${showBytes(n)}`)
    .join(' + ');
}

/**
 * Progress bars on a TTY: one per transfer, created when it connects; a swarm's names its sources.
 * cli-progress is loaded only then (a fetch without a terminal saves its start-up time).
 */
function progressBars(enabled: boolean) {
  if (!enabled) return { update: () => undefined, sources: () => undefined, stop: () => undefined };
  const { MultiBar, Presets } = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  const sources = new Map<string, string>();
  const multi = new MultiBar({ format: barLine, hideCursor: true, clearOnComplete: false, stream: process.stderr, fps: 10 }, Presets.shades_classic);
  const bars = new Map<string, SingleBar>();
  let stopped = false;
  return {
    update(digest: string, peer: string, bytes: number, expected?: number) {
      const payload: BarPayload = { peer: sources.get(digest) ?? peer, digest: `${digest.slice(0, 24)}…`, expected };
      const bar = bars.get(digest) ?? multi.create(0, 0, payload);
      bars.set(digest, bar);
      bar.update(bytes, payload);
    },
    sources(digest: string, bytes: Readonly<Record<string, number>>) {
      const line = sourcesLine(bytes);
      if (line) sources.set(digest, line);
    },
    stop() {
      if (!stopped) multi.stop();
      stopped = true;
    },
  };
}

function onEvent(log: Logger, json: boolean, bars: ReturnType<typeof progressBars>) {
  return (e: FetchEvent) => {
    switch (e.type) {
      case 'reply':
        // One line per machine: not again for its other addresses.
        if (!json && !e.sameAs) process.stdout.write(`${hasLine(e.digest, e.peer)}\n`);
        break;
      case 'connecting':
        log.info(`Connecting to ${showPeer(e.peer)} to request ${e.digest}`);
        break;
      case 'progress':
        bars.update(e.digest, showPeer(e.peer), e.bytes, e.expected);
        break;
      case 'peer-failed':
        log.warn(`${showPeer(e.peer)} ${e.reason}; trying the next peer if there is one`);
        break;
      case 'sources':
        bars.sources(e.digest, e.bytes);
        break;
      case 'done':
        if (e.result.status === 'committed') bars.update(formatDigest(e.result.digest), showPeer(e.result.peer!), e.result.bytes, e.result.bytes);
        break;
    }
  };
}

/** SIGINT/SIGTERM: remove the temp dirs at once, let the transfers stop, and end with 130; a second signal ends now. */
function interruptible(): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const stop = () => {
    removeAllTmpDirsSync();
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    signal: ac.signal,
    done: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

function report(results: readonly FetchResult[], opts: FetchCliOptions, ctx: ReportContext, labels?: readonly string[]): void {
  const failed = results.filter((r) => r.status === 'failed');
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, results: results.map((r, i) => ({ ...(labels?.[i] ? { interface: labels[i] } : {}), ...jsonResult(r, ctx) })) }, null, 2)}\n`);
  } else {
    for (const r of results) if (r.status !== 'failed') process.stdout.write(`${successLine(r)}\n`);
    if (failed.length === 0) process.stdout.write('Success\n');
  }
  if (failed.length === 0) return;
  const head = results.length > 1 ? `could not fetch ${failed.length} of ${results.length} implementations:\n` : 'could not fetch ';
  // 130, as a shell reports an interrupted command.
  const code = failed.some((r) => r.failure === 'cancelled') ? 130 : 1;
  throw new UserError(head + failed.map((r) => failureMessage(r, ctx)).join('\n'), code);
}

export function registerFetch(program: Command): void {
  discoveryOptions(
    program
      .command('fetch')
      .description('get implementations from peers on the local network into the store (also: 0share -f DIGEST)')
      .argument('[digest...]', 'implementation digests (sha256new_…, sha1new=…)'),
  )
    .option('--store <dir>', 'store to add to and look in (repeatable; the first receives; default: 0install\'s stores)', collect)
    .option('--json', 'print the result as JSON on stdout')
    .option('--selections <file>', 'fetch every implementation of a selections document (0install select --xml) not yet in a store')
    .option('--system', "add to the system store through 0install's secure-add route")
    .option('--max-bytes <size>', 'refuse an implementation larger than this (e.g. 2G; default 8G)', parseByteSize('--max-bytes'))
    .option('--whole-tar', 'get each implementation as one tar from one peer (the 2008 mode) instead of in pieces from every peer that has it')
    .addOption(program.createOption('--swarm', 'the default mode now; accepted and ignored').hideHelp())
    .option('--stall-timeout <ms>', 'drop a peer that sends (almost) nothing for this long', wholeNumber('--stall-timeout', 100, 3_600_000), DEFAULT_STALL_TIMEOUT)
    .action(async (args: string[], opts: FetchCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ debug?: boolean }>();
      if (opts.selections && args.length) throw new UserError('give digests or --selections FILE, not both');
      if (!opts.selections && !args.length) throw new UserError('nothing to fetch: give one or more digests (sha256new_…) or --selections FILE');
      const digests = parseDigests(args);
      const hosts = opts.host ?? [];
      const log = createLogger(globals.debug ? { level: 'debug' } : {});
      const ctx: ReportContext = { timeout: opts.timeout, port: opts.port, hosts };
      const bars = progressBars(Boolean(process.stderr.isTTY) && !opts.json);
      const interrupt = interruptible();
      const fetchOpts: FetchOptions = {
        timeout: opts.timeout,
        port: opts.port,
        // The peer of this machine (on the same port) keeps the record, for `0share why`.
        reportTo: opts.port,
        hosts,
        broadcast: opts.broadcast,
        skipIfaces: opts.skipIface,
        mdns: opts.mdns,
        stores: opts.store?.map((s) => resolve(s)),
        system: opts.system,
        maxBytes: opts.maxBytes,
        stallTimeout: opts.stallTimeout,
        wholeTar: opts.wholeTar,
        logger: log,
        onEvent: onEvent(log, Boolean(opts.json), bars),
        signal: interrupt.signal,
      };
      try {
        if (opts.system) systemStore();
        if (opts.selections) {
          const xml = await readFile(opts.selections, 'utf8').catch((err: Error) => {
            throw new UserError(`cannot read the selections document: ${err.message}`);
          });
          log.info(`Asking ${hosts.length ? hosts.join(', ') : 'the local network'} for the implementations of ${opts.selections}`);
          const results = await fetchSelections(xml, fetchOpts).catch((err: unknown) => {
            if (err instanceof SelectionsError) throw new UserError(`${opts.selections}: ${err.message}`);
            throw err;
          });
          bars.stop();
          report(results, opts, ctx, results.map((r) => r.interface));
        } else {
          log.info(`${hosts.length ? `Asking ${hosts.join(', ')}` : 'Broadcasting query'} for ${digests.map(formatDigest).join(', ')}${hosts.length ? '' : ' on the local network'}`);
          const results = await fetch(digests, fetchOpts);
          bars.stop();
          report(results, opts, ctx);
        }
      } catch (err) {
        if (err instanceof DiscoveryError || err instanceof SystemStoreError) throw new UserError(err.message);
        throw err;
      } finally {
        bars.stop();
        interrupt.done();
      }
    });
}
