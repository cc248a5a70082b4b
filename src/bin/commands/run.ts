// Placeholder: replaced by the real `run` command.
import type { Command } from 'commander';

export function registerRun(program: Command): void {
  void program;
}
