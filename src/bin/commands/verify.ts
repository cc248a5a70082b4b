// Placeholder: replaced by the real `verify` command.
import type { Command } from 'commander';

export function registerVerify(program: Command): void {
  void program;
}
