// `0share serve` (also bare `0share`): the peer. Answers UDP queries and serves implementations
// over HTTP on --port, read-only from the stores, until SIGINT or SIGTERM.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { type ServeHandle, serve } from '../../api/serve.js';
import { CidrError, parseCidr } from '../../core/cidr.js';
import { DEFAULT_PORT } from '../../core/protocol.js';
import { createLogger } from '../../io/logger.js';
import { defaultStores } from '../../io/stores.js';
import { UserError } from '../cli-errors.js';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function wholeNumber(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new UserError(`${name} must be a whole number from ${min} to ${max}, not '${value}'`);
    return n;
  };
}

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
  stallTimeout: number;
}

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
    .option('--max-uploads <n>', 'uploads at once; more get 503 (Retry-After)', wholeNumber('--max-uploads', 1, 1000), 8)
    .option('--stall-timeout <seconds>', 'drop a download whose client takes no data for this long', wholeNumber('--stall-timeout', 1, 3600), 30)
    .action(async (opts: ServeCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ debug?: boolean }>();
      const logger = createLogger(globals.debug ? { level: 'debug' } : {});
      let peer: ServeHandle;
      try {
        peer = await serve({
          port: opts.port,
          bind: opts.bind,
          stores: opts.store?.map((s) => resolve(s)) ?? defaultStores(),
          allow: opts.allow,
          maxUploads: opts.maxUploads,
          stallTimeout: opts.stallTimeout * 1000,
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
