// Helpers for the machines' port functions: a placeholder for ports an embedder has not
// provided, and the one way an actor error becomes a reason string.

/** A port that rejects, so a machine used without `provide…Ports` fails visibly, not silently. */
export function missingPort(name: string): () => Promise<never> {
  return () => Promise.reject(new Error(`0share: the '${name}' port was not provided to the machine`));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
