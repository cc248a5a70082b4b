// Helpers for the machines' port functions: a placeholder for ports an embedder has not
// provided, the one way an actor error becomes a reason string, and the mark of a failure that
// is this machine's own (a full disk, an unwritable store) rather than the peer's.

/** A port that rejects, so a machine used without `provide…Ports` fails visibly, not silently. */
export function missingPort(name: string): () => Promise<never> {
  return () => Promise.reject(new Error(`0share: the '${name}' port was not provided to the machine`));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A port rejects with this when the problem is local (no space, no permission in the store):
 * trying another peer would not help, so the transfer fails at once.
 */
export class LocalFailure extends Error {
  override name = 'LocalFailure';
}

export function isLocalFailure(err: unknown): boolean {
  return err instanceof LocalFailure;
}
