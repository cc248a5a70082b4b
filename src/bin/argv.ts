// Maps the 2008 command line onto subcommands: `0share -f DIGEST [-f DIGEST…] [-H HOST]` is
// `0share fetch DIGEST…`; `0share` alone is `0share serve`.
const SUBCOMMANDS = new Set(['serve', 'fetch', 'query', 'manifest', 'list', 'verify', 'run', 'download', 'help']);

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
