// `0share serve` (also bare `0share`): the peer. Answers UDP queries and serves implementations
// over HTTP on --port, read-only from the stores, until SIGINT or SIGTERM, at background priority
// (--nice) and within the upload limits (--max-uploads, --max-upload-rate).
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { type ServeHandle, serve } from '../../api/serve.js';
import { CidrError, parseCidr } from '../../core/cidr.js';
import { DEFAULT_PORT } from '../../core/protocol.js';
import { createLogger } from '../../io/logger.js';
import { UserError } from '../cli-errors.js';
import { lowerPriority } from '../../io/background-priority.js';
import { collect, parseByteSize, wholeNumber } from './client-options.js';

/**
 * V8 heap settings for the long-running peer process (not for library callers of serve()): keep
 * the young generation at its initial size instead of letting it grow to 2 x 16 MB under load,
 * and size the heap for memory rather than speed. V8 reads both flags as it runs, so setting them
 * here takes effect (unlike --max-semi-space-size, which only counts at start-up). Measured with
 * bench/serve-memory.bench.mjs on the ~200 MB tree: peak RSS about 70 MB for one download and 80
 * MB for 8 at once, instead of about 85-110 and 115-140 MB once the heap has grown, at the same
 * download speed.
 */
const PEER_V8_FLAGS = '--semi-space-growth-factor=1 --optimize-for-size';

function cidr(value: string, previous: string[] | undefined): string[] {
  try {
    parseCidr(value);
  } catch (err) {
    if (err instanceof CidrError) throw new UserError(`--allow: ${err.message}`);
    throw err;
  }
  return [...(previous ?? []), value];
}

interface ServeCliOptions {
  port: number;
  bind: string;
  store?: string[];
  allow?: string[];
  maxUploads: number;
  maxUploadRate?: number;
  nice: number;
  stallTimeout: number;
  skipIface?: string[];
  mdns: boolean;
}

/** `10M`, `10M/s`, `500K`, `1G`: bytes per second. */
const byteRate = (value: string) => parseByteSize('--max-upload-rate')(value.replace(/\/s$/i, ''));

function listenError(err: unknown, opts: ServeCliOptions): never {
  const e = err as NodeJS.ErrnoException;
  const where = `${opts.bind} port ${opts.port}`;
  if (e.code === 'EADDRINUSE') throw new UserError(`cannot listen on ${where}: the port is in use (is another 0share peer running? choose another with --port)`);
  if (e.code === 'EACCES') throw new UserError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges; use the default ${DEFAULT_PORT})`);
  if (e.code === 'EADDRNOTAVAIL') throw new UserError(`cannot listen on ${where}: no interface has that address (check --bind)`);
  throw err;
}

export function registerServe(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('share the implementations in the stores with the local network (the default command)')
    .option('--port <n>', 'UDP and TCP port (0: any free port, logged at start)', wholeNumber('--port', 0, 65535), DEFAULT_PORT)
    .option('--bind <address>', 'address to listen on', '0.0.0.0')
    .option('--store <dir>', 'serve this store instead of the 0install ones (repeatable)', collect)
    .option('--allow <cidr>', 'sources that may query and download (repeatable; default: private, link-local and loopback addresses)', cidr)
    .option('--max-uploads <n>', 'uploads at once; more get 503 (Retry-After), as does an address over its fair share while others wait', wholeNumber('--max-uploads', 1, 1000), 8)
    .option('--max-upload-rate <rate>', 'bytes per second for all uploads together, e.g. 10M (default: unlimited)', byteRate)
    .option('--nice <n>', 'CPU nice value to serve at (0: leave it), with the lowest best-effort I/O priority', wholeNumber('--nice', 0, 19), 10)
    .option('--stall-timeout <ms>', 'drop a download whose client takes no data for this long', wholeNumber('--stall-timeout', 100, 3_600_000), 30_000)
    .option('--skip-iface <pattern>', 'do not advertise or join multicast groups on interfaces matching this (repeatable; docker*, br-*, veth*… always)', collect)
    .option('--no-mdns', 'do not advertise over DNS-SD (mDNS)')
    .action(async (opts: ServeCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ debug?: boolean }>();
      const logger = createLogger(globals.debug ? { level: 'debug' } : {});
      setFlagsFromString(PEER_V8_FLAGS);
      lowerPriority(opts.nice, logger);
      let peer: ServeHandle;
      try {
        peer = await serve({
          port: opts.port,
          bind: opts.bind,
          stores: opts.store?.map((s) => resolve(s)),
          allow: opts.allow,
          maxUploads: opts.maxUploads,
          maxUploadRate: opts.maxUploadRate,
          stallTimeout: opts.stallTimeout,
          skipIfaces: opts.skipIface,
          mdns: opts.mdns,
          logger,
        });
      } catch (err) {
        listenError(err, opts);
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          logger.info(`${signal}: shutting down`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void peer.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
