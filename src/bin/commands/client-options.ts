// Options and argument/option parsers shared by the subcommands: the discovery options of the
// clients (fetch, query), digest arguments (also list, verify) and number/list parsers (also serve, run).
import type { Command } from 'commander';
import { DEFAULT_WINDOW } from '../../api/client-timing.js';
import { DigestError, parseDigestLoose, type Digest } from '../../core/digest.js';
import { DEFAULT_PORT } from '../../core/protocol.js';
import { UserError } from '../cli-errors.js';

/** The DIGEST arguments; a malformed one is the user's to fix. */
export function parseDigests(args: readonly string[]): Digest[] {
  return args.map((a) => {
    try {
      return parseDigestLoose(a);
    } catch (err) {
      if (err instanceof DigestError) throw new UserError(err.message);
      throw err;
    }
  });
}

/** A repeatable option: every value, in order (undefined when never given). */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function wholeNumber(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new UserError(`${name} must be a whole number from ${min} to ${max}, not '${value}'`);
    return n;
  };
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `123`, `64K`, `2G`, `1.5GiB` → bytes. */
export function parseByteSize(name: string) {
  return (value: string): number => {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
    const n = m ? Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`${name} must be a size such as 500M or 2G, not '${value}'`);
    return n;
  };
}

/** The discovery options as commander parsed them. */
export interface DiscoveryCliOptions {
  host?: string[];
  timeout: number;
  port: number;
  skipIface?: string[];
  mdns: boolean;
  broadcast?: string[];
}

/** How a client finds peers: -H hosts, the discovery window, the peers' port, skipped interfaces, DNS-SD, and (for tests) the broadcast address. */
export function discoveryOptions(cmd: Command): Command {
  return cmd
    .option('-H, --host <host[:port]>', 'ask this peer directly instead of broadcasting (repeatable; IPv6 as ::1 or [fe80::1%eth0]:PORT)', collect)
    .option('--timeout <ms>', 'how long to wait for peers to answer', wholeNumber('--timeout', 1, 600_000), DEFAULT_WINDOW)
    .option('--port <n>', "the peers' port (UDP and TCP)", wholeNumber('--port', 1, 65535), DEFAULT_PORT)
    .option('--skip-iface <pattern>', 'do not query on interfaces matching this (e.g. eth1, vpn*; repeatable; docker*, br-*, veth*… always)', collect)
    .option('--no-mdns', 'do not look for peers over DNS-SD (mDNS)')
    .addOption(cmd.createOption('--broadcast <address>', 'broadcast here instead of on every interface (tests)').argParser(collect).hideHelp());
}
