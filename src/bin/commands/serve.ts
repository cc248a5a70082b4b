// Placeholder: replaced by the real `serve` command.
import type { Command } from 'commander';

export function registerServe(program: Command): void {
  void program;
}
