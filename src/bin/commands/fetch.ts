// Placeholder: replaced by the real `fetch` command.
import type { Command } from 'commander';

export function registerFetch(program: Command): void {
  void program;
}
