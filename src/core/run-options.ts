// Splits a `0share run|download` command line into 0share's own options, the 0install options
// (kept verbatim for `0install run|download`, and the solver subset for `0install select --xml`),
// the URI and the program's arguments. Like 0install, option parsing stops at the first operand.

export type Verb = 'run' | 'download';

interface OptSpec {
  long: string;
  short?: string;
  /** How many values follow the option (`--version-for URI RANGE` takes two). */
  values: 0 | 1 | 2;
  /** Whether `0install select` gets it too (it shapes the selections). */
  select: boolean;
}

/** The options of `0install run` and `0install download` (2.18). */
const ZEROINSTALL_OPTIONS: readonly OptSpec[] = [
  { long: 'console', short: 'c', values: 0, select: true },
  { long: 'dry-run', values: 0, select: false },
  { long: 'gui', short: 'g', values: 0, select: false },
  { long: 'verbose', short: 'v', values: 0, select: true },
  { long: 'with-store', values: 1, select: true },
  { long: 'offline', short: 'o', values: 0, select: true },
  { long: 'main', short: 'm', values: 1, select: false },
  { long: 'wrapper', short: 'w', values: 1, select: false },
  { long: 'show', values: 0, select: false },
  { long: 'xml', values: 0, select: false },
  { long: 'before', values: 1, select: true },
  { long: 'command', values: 1, select: true },
  { long: 'cpu', values: 1, select: true },
  { long: 'message', values: 1, select: true },
  { long: 'not-before', values: 1, select: true },
  { long: 'os', values: 1, select: true },
  { long: 'refresh', short: 'r', values: 0, select: true },
  { long: 'source', short: 's', values: 0, select: true },
  { long: 'version', values: 1, select: true },
  { long: 'version-for', values: 2, select: true },
  { long: 'may-compile', values: 0, select: true },
];

/** 0share's own options; never passed to 0install. */
const SHARE_OPTIONS: readonly OptSpec[] = [
  { long: 'host', short: 'H', values: 1, select: false },
  { long: 'timeout', values: 1, select: false },
  { long: 'port', values: 1, select: false },
  { long: 'system', values: 0, select: false },
  { long: 'skip-iface', values: 1, select: false },
  { long: 'no-mdns', values: 0, select: false },
  { long: 'whole-tar', values: 0, select: false },
  { long: 'help', short: 'h', values: 0, select: false },
];

export interface RunCommandLine {
  verb: Verb;
  /** Undefined when the command line has none (then `help` or an error). */
  uri?: string;
  /** Arguments after the URI (the program's, for `run`). */
  programArgs: string[];
  /** Every 0install option as given, in order, for `0install run|download`. */
  zeroinstallOptions: string[];
  /** The solver options among them, for `0install select --xml`. */
  selectOptions: string[];
  hosts: string[];
  timeout?: string;
  port?: string;
  system: boolean;
  /** Interface patterns discovery skips (--skip-iface, repeatable). */
  skipIfaces: string[];
  /** False with --no-mdns. */
  mdns: boolean;
  /** --whole-tar: the 2008 transfer mode only, never the swarm. */
  wholeTar: boolean;
  help: boolean;
  offline: boolean;
  dryRun: boolean;
  /** Extra stores given with --with-store (searched when deciding what is cached). */
  withStores: string[];
}

export class RunUsageError extends Error {
  override name = 'RunUsageError';
}

function findLong(name: string): { spec: OptSpec; share: boolean } | undefined {
  const z = ZEROINSTALL_OPTIONS.find((o) => o.long === name);
  if (z) return { spec: z, share: false };
  const s = SHARE_OPTIONS.find((o) => o.long === name);
  return s ? { spec: s, share: true } : undefined;
}

function findShort(ch: string): { spec: OptSpec; share: boolean } | undefined {
  const z = ZEROINSTALL_OPTIONS.find((o) => o.short === ch);
  if (z) return { spec: z, share: false };
  const s = SHARE_OPTIONS.find((o) => o.short === ch);
  return s ? { spec: s, share: true } : undefined;
}

export function parseRunCommandLine(verb: Verb, args: readonly string[]): RunCommandLine {
  const out: RunCommandLine = {
    verb, programArgs: [], zeroinstallOptions: [], selectOptions: [], hosts: [], system: false,
    skipIfaces: [], mdns: true, wholeTar: false, help: false, offline: false, dryRun: false, withStores: [],
  };

  const apply = (spec: OptSpec, share: boolean, values: string[], tokens: string[]) => {
    if (share) {
      if (spec.long === 'host') out.hosts.push(values[0]!);
      else if (spec.long === 'timeout') out.timeout = values[0];
      else if (spec.long === 'port') out.port = values[0];
      else if (spec.long === 'system') out.system = true;
      else if (spec.long === 'skip-iface') out.skipIfaces.push(values[0]!);
      else if (spec.long === 'no-mdns') out.mdns = false;
      else if (spec.long === 'whole-tar') out.wholeTar = true;
      else if (spec.long === 'help') out.help = true;
      return;
    }
    out.zeroinstallOptions.push(...tokens);
    if (spec.select) out.selectOptions.push(...tokens);
    if (spec.long === 'offline') out.offline = true;
    if (spec.long === 'dry-run') out.dryRun = true;
    if (spec.long === 'with-store') out.withStores.push(values[0]!);
  };

  const take = (i: number, n: number, what: string): string[] => {
    if (i + n > args.length) throw new RunUsageError(`option ${what} needs ${n === 1 ? 'a value' : `${n} values`}`);
    return args.slice(i, i + n);
  };

  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const found = findLong(name);
      if (!found) {
        // Unknown to 0share: hand it to 0install, which reports it in its own words.
        out.zeroinstallOptions.push(a);
        out.selectOptions.push(a);
        i++;
        continue;
      }
      const { spec, share } = found;
      if (eq >= 0) {
        if (spec.values === 0) throw new RunUsageError(`option --${name} takes no value`);
        const rest = take(i + 1, spec.values - 1, `--${name}`);
        apply(spec, share, [a.slice(eq + 1), ...rest], [a, ...rest]);
        i += spec.values;
      } else {
        const vals = take(i + 1, spec.values, `--${name}`);
        apply(spec, share, vals, [a, ...vals]);
        i += 1 + spec.values;
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // A cluster of short options: -vc, -m PATH, -mPATH.
      let j = 1;
      i++;
      while (j < a.length) {
        const ch = a[j]!;
        const found = findShort(ch);
        if (!found) {
          const token = `-${a.slice(j)}`;
          out.zeroinstallOptions.push(token);
          out.selectOptions.push(token);
          break;
        }
        const { spec, share } = found;
        if (spec.values === 0) {
          apply(spec, share, [], [`-${ch}`]);
          j++;
          continue;
        }
        const inline = a.slice(j + 1);
        if (inline) {
          apply(spec, share, [inline], [`-${ch}`, inline]);
        } else {
          const vals = take(i, spec.values, `-${ch}`);
          apply(spec, share, vals, [`-${ch}`, ...vals]);
          i += spec.values;
        }
        break;
      }
      continue;
    }
    break; // the first operand: the URI
  }
  if (i < args.length) {
    out.uri = args[i]!;
    out.programArgs = args.slice(i + 1);
  }
  return out;
}
