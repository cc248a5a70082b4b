// The `run`/`download` wrappers' logger: pino is loaded only when a line is actually written. At
// the default level (warn) a run that peers cannot help writes nothing, and loading pino (and
// pino-pretty on a terminal) would add 10-50 ms to every `0share run`.
import type { Logger } from '../io/logger.js';
import { UserError } from './cli-errors.js';

const RANK: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export type LineLevel = 'debug' | 'info' | 'warn';

export class LazyLogger {
  private loaded?: Promise<Logger>;

  constructor(readonly level: string) {
    if (!Object.hasOwn(RANK, level)) throw new UserError(`log level '${level}' is not one of ${Object.keys(RANK).join(', ')} (check ZSHARE_LOG_LEVEL)`);
  }

  /** Whether lines at `level` are written. */
  enabled(level: LineLevel): boolean {
    return RANK[level]! >= RANK[this.level]!;
  }

  /** The pino logger, loaded on first use. */
  logger(): Promise<Logger> {
    this.loaded ??= import('../io/logger.js').then(({ createLogger }) => createLogger({ level: this.level }));
    return this.loaded;
  }

  /** Writes one line if its level is enabled (loading pino then). */
  async log(level: LineLevel, msg: string, fields?: object): Promise<void> {
    if (!this.enabled(level)) return;
    const log = await this.logger();
    if (fields) log[level](fields, msg);
    else log[level](msg);
  }
}
