// The pino logger for the CLI and the peer: always to stderr (stdout is for data), pretty on a
// TTY, JSON lines otherwise. Synchronous so nothing is lost on exit.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

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
      ? pretty({ sync: true, destination: 2, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' })
      : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: undefined }, dest);
}

/** A logger that drops everything, for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
