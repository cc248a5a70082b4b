// Placeholder: replaced by the real `list` command.
import type { Command } from 'commander';

export function registerList(program: Command): void {
  void program;
}
