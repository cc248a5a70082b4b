// User-facing failures: a message that says what went wrong and what to do, an exit code,
// and no stack trace unless --debug.
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export function reportError(err: unknown, debug: boolean): number {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`0share: ${e.message}\n`);
  if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
  else if (!(e instanceof UserError)) process.stderr.write('(run with --debug for details)\n');
  return e instanceof UserError ? e.exitCode : 1;
}
