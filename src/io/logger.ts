// The pino logger for the CLI and the peer: always to stderr (stdout is for data), pretty on a
// TTY, JSON lines otherwise. Synchronous so nothing is lost on exit.
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty is loaded only for a terminal: it costs start-up time that JSON output does not need.
const require = createRequire(import.meta.url);

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Force JSON lines even on a TTY. */
  json?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.ZSHARE_LOG_LEVEL ?? 'info';
  const dest =
    process.stderr.isTTY && !opts.json
      ? (require('pino-pretty') as typeof PinoPretty)({ sync: true, destination: 2, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' })
      : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: undefined }, dest);
}

/** A logger that drops everything, for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
