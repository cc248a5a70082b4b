// Placeholder: replaced by the real `query` command.
import type { Command } from 'commander';

export function registerQuery(program: Command): void {
  void program;
}
