// Maps the 2008 command line onto subcommands: `0share -f DIGEST [-f DIGEST…] [-H HOST]` is
// `0share fetch DIGEST…`; `0share` alone (or with only serve's options) is `0share serve`.
// A word where the subcommand goes that names none is an error, not an argument of serve.
const SUBCOMMANDS = new Set(['serve', 'fetch', 'query', 'manifest', 'list', 'verify', 'run', 'download', 'peers', 'why', 'service', 'help']);

/** The program's own options, which may come before the subcommand. */
const GLOBAL_OPTIONS = new Set(['--debug']);

/** The word in the subcommand's place (after the program's own options), if it is not an option. */
function commandWord(args: readonly string[]): string | undefined {
  const word = args.find((a) => !GLOBAL_OPTIONS.has(a));
  return word === undefined || word.startsWith('-') ? undefined : word;
}

/** The word in the subcommand's place when it is none of `commands` (`0share bogus`). */
export function unknownCommand(args: readonly string[], commands: readonly string[]): string | undefined {
  const word = commandWord(args);
  return word !== undefined && !commands.includes(word) ? word : undefined;
}

export function normalizeArgv(args: readonly string[]): string[] {
  const first = args.find((a) => !a.startsWith('-'));
  if (first !== undefined && SUBCOMMANDS.has(first)) return [...args];
  if (!args.some((a) => a === '-f' || a === '--fetch' || a.startsWith('--fetch='))) return [...args];
  const digests: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ((a === '-f' || a === '--fetch') && i + 1 < args.length) digests.push(args[++i]!);
    else if (a.startsWith('--fetch=')) digests.push(a.slice('--fetch='.length));
    else rest.push(a);
  }
  return ['fetch', ...digests, ...rest];
}
