// Placeholder: replaced by the real `manifest` command.
import type { Command } from 'commander';

export function registerManifest(program: Command): void {
  void program;
}
