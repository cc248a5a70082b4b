// `0share list`: every implementation in the stores, one per line as tab-separated
// `digest  store  bytes  size` (size human-readable), or a JSON array with --json.
import type { Command } from 'commander';
import { formatBytes } from '../../core/format-units.js';
import { defaultStores, implementationSize, listImplementations } from '../../io/stores.js';
import { collect } from './client-options.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the implementations in the 0install stores (tab-separated: digest, store, bytes, size)')
    .option('--store <dir>', 'look in this store instead of the 0install ones (repeatable)', collect)
    .option('--json', 'print a JSON array of {digest, store, path, bytes}')
    .action(async (opts: { store?: string[]; json?: boolean }) => {
      const stores = opts.store ?? defaultStores();
      const rows = [];
      for (const impl of await listImplementations(stores)) {
        rows.push({ digest: impl.name, store: impl.store, path: impl.path, bytes: await implementationSize(impl.path) });
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(rows.map((r) => `${r.digest}\t${r.store}\t${r.bytes}\t${formatBytes(r.bytes)}\n`).join(''));
    });
}
