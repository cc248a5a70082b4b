// `0share manifest DIR [ALG]`: prints the manifest of a directory tree and then its digest line,
// byte for byte what `0install store manifest DIR [ALG]` prints. ALG defaults to sha1new, as in
// 0install's command; everything else in 0share (the digests it writes and asks for) uses sha256new.
import type { Command } from 'commander';
import { ALGORITHMS, formatDigest, isAlgorithm } from '../../core/digest.js';
import { ManifestError } from '../../core/manifest-format.js';
import { TreeError, manifestOfTree } from '../../io/tree-walk.js';
import { UserError } from '../cli-errors.js';

export function registerManifest(program: Command): void {
  program
    .command('manifest')
    .description("print a directory's 0install manifest and digest (as `0install store manifest`)")
    .argument('<dir>', 'the directory tree')
    .argument('[alg]', `digest algorithm: ${ALGORITHMS.join(', ')} (sha1new as in \`0install store manifest\`; use sha256new for new digests)`, 'sha1new')
    .action(printManifest);
}

/** `0share manifest DIR [ALG]` without options, run without commander; false for any other line. */
export async function manifestWithoutCommander(argv: string[]): Promise<boolean> {
  if (argv.length < 1 || argv.length > 2 || argv.some((a) => a.startsWith('-'))) return false;
  await printManifest(argv[0]!, argv[1] ?? 'sha1new');
  return true;
}

async function printManifest(dir: string, alg: string): Promise<void> {
  if (!isAlgorithm(alg)) {
    throw new UserError(`Unknown manifest digest algorithm '${alg}': use one of ${ALGORITHMS.join(', ')}`);
  }
  let result;
  try {
    result = await manifestOfTree(dir, alg);
  } catch (err) {
    if (err instanceof TreeError || err instanceof ManifestError) throw new UserError(err.message);
    throw err;
  }
  process.stdout.write(Buffer.concat([result.manifest, Buffer.from(`${formatDigest(result.digest)}\n`)]));
}
