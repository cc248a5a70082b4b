// `0share verify DIGEST|DIR [DIGEST]`: checks a store entry against its digest like
// `0install store verify`; exit 0 only if it matches, otherwise says what differs (exit 1).
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { type Digest, formatDigest, parseDigestLoose } from '../../core/digest.js';
import { ManifestError } from '../../core/manifest-format.js';
import { StoreError, verifyEntry } from '../../io/store-add.js';
import { defaultStores, lookupDigest } from '../../io/stores.js';
import { TreeError } from '../../io/tree-walk.js';
import { UserError } from '../cli-errors.js';
import { collect, parseDigests } from './client-options.js';

/** The directory to verify: an existing directory as given, else a digest looked up in the stores. */
async function resolveTarget(target: string, stores: string[]): Promise<string> {
  if ((await stat(target).catch(() => undefined))?.isDirectory()) return target;
  let digest: Digest;
  try {
    digest = parseDigestLoose(target);
  } catch {
    throw new UserError(`'${target}' is neither a directory nor a digest (like sha256new_…); give a store entry's path or its digest`);
  }
  const path = await lookupDigest(stores, digest);
  if (!path) throw new UserError(`${formatDigest(digest)} is not in any store. Searched:\n${stores.map((s) => `- ${s}`).join('\n')}`);
  return path;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("check that a store entry's contents match its digest (as `0install store verify`)")
    .argument('<target>', 'a digest (looked up in the stores) or a directory')
    .argument('[digest]', 'the digest DIR should have (default: its name)')
    .option('--store <dir>', 'look in this store instead of the 0install ones (repeatable)', collect)
    .action(async (target: string, digestArg: string | undefined, opts: { store?: string[] }) => {
      const stores = opts.store ?? defaultStores();
      const path = await resolveTarget(target, stores);
      const [digest] = digestArg === undefined ? [] : parseDigests([digestArg]);
      let result;
      try {
        result = await verifyEntry(path, digest);
      } catch (err) {
        if (err instanceof TreeError || err instanceof StoreError || err instanceof ManifestError) throw new UserError(err.message);
        throw err;
      }
      if (result.ok) {
        process.stdout.write(`OK ${formatDigest(result.expected)} ${path}\n`);
        return;
      }
      const report = [
        `${path} does NOT verify:`,
        `  expected digest:       ${formatDigest(result.expected)}`,
        `  actual contents:       ${formatDigest(result.actual)}`,
        `  recorded in .manifest: ${result.recorded ? formatDigest(result.recorded) : '(no .manifest)'}`,
        'Differences:',
        ...result.differences.map((d) => `  ${d}`),
      ];
      throw new UserError(report.join('\n'));
    });
}
