// Finds and reads 0share's configuration files: the static peers (`$XDG_CONFIG_HOME/0share/peers`,
// default ~/.config/0share/peers, then /etc/0share/peers) and the settings (`…/0share/config`,
// /etc/0share/config). A missing file is no error; an unreadable one is logged and skipped.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFile, parsePeersFile } from '../core/config-files.js';
import type { Logger } from './logger.js';

/** The 0share config dirs, user's first: $XDG_CONFIG_HOME/0share (or ~/.config/0share) and /etc/0share. */
export function configDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return [join(xdg, '0share'), '/etc/0share'];
}

function readIfThere(path: string, log?: Logger): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') log?.warn(`cannot read ${path} (${code ?? (err as Error).message}); ignoring it`);
    return undefined;
  }
}

export interface StaticPeer {
  /** HOST[:PORT] as written. */
  readonly spec: string;
  /** `file:line`, for messages. */
  readonly from: string;
}

/** Every line of every peers file, the user's file first. */
export function readStaticPeers(env: NodeJS.ProcessEnv = process.env, log?: Logger): StaticPeer[] {
  return configDirs(env).flatMap((dir) => {
    const path = join(dir, 'peers');
    const text = readIfThere(path, log);
    return text === undefined ? [] : parsePeersFile(text).map((l) => ({ spec: l.spec, from: `${path}:${l.line}` }));
  });
}

/** The `skip-iface` patterns of every config file. */
export function readSkipIfaces(env: NodeJS.ProcessEnv = process.env, log?: Logger): string[] {
  return configDirs(env).flatMap((dir) => {
    const path = join(dir, 'config');
    const text = readIfThere(path, log);
    if (text === undefined) return [];
    const c = parseConfigFile(text);
    for (const u of c.unknown) log?.warn(`${path}: ignoring ${u} (known: skip-iface PATTERN…)`);
    return [...c.skipIfaces];
  });
}
