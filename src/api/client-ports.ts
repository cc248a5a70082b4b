// Wires the transfer machine to the real world: the stores, the download into a temp dir (the
// swarm, or the whole tar: src/api/swarm-download.ts), and the verify-then-commit step (user store, or the system store with `system`). The query
// ports come from the discovery socket's Responders (src/api/responders.ts).
import { formatDigest, sameDigest, type Digest } from '../core/digest.js';
import { manifestDigest } from '../core/manifest-format.js';
import { LocalFailure } from '../machines/ports.js';
import type { TransferPorts } from '../machines/types.js';
import { discardStaged } from '../io/http-download.js';
import { releasePartial } from '../io/partial-dir.js';
import { commitStaged, removeTree } from '../io/store-add.js';
import { lookupDigest } from '../io/stores.js';
import { commitToSystemStore } from '../io/system-store.js';
import { untrackTmpDir } from '../io/tmp-registry.js';
import { swarmOrTar, type SwarmDownloadOptions } from './swarm-download.js';

export interface TransferPortOptions {
  /** Stores to look in; the first receives downloads (their temp dirs too). */
  stores: readonly string[];
  /** Commit into the system store instead of the user store. */
  system?: boolean;
  maxBytes?: number;
  env?: NodeJS.ProcessEnv;
  /** How the swarm finds peers, its timing and what it reports (see SwarmDownloadOptions). */
  swarm: Omit<SwarmDownloadOptions, 'store' | 'maxBytes' | 'reuseFrom'>;
}

async function commit(opts: TransferPortOptions, digest: Digest, tmpDir: string, manifest: Uint8Array): Promise<string> {
  const actual = manifestDigest(manifest, digest.alg);
  if (!sameDigest(actual, digest)) {
    await removeTree(tmpDir);
    throw new Error(`sent data that does not match the digest (what arrived has digest ${formatDigest(actual)})`);
  }
  // What arrived is right; failing to store it is this machine's problem, not the peer's.
  try {
    if (opts.system) return await commitToSystemStore({ tmpDir, digest, manifest, env: opts.env });
    // The staged tree comes from our extractor, which leaves it in store form.
    return await commitStaged({ tmpDir, store: opts.stores[0]!, digest, manifest, permissionsFixed: true });
  } catch (err) {
    throw new LocalFailure((err as Error).message);
  }
}

/**
 * The store and download ports (`fetch` provides `sendQuery` and `replies` itself, from the
 * session's shared first query), and `settled()`: resolves once every download, commit and
 * discard started has finished (temp dirs gone or committed).
 */
export function transferPorts(opts: TransferPortOptions): Omit<TransferPorts, 'sendQuery' | 'replies'> & { settled(): Promise<void> } {
  const store = opts.stores[0]!;
  const download = swarmOrTar({ ...opts.swarm, store, reuseFrom: opts.stores, maxBytes: opts.maxBytes });
  const inFlight = new Set<Promise<unknown>>();
  const tracked = <T>(p: Promise<T>): Promise<T> => {
    const quiet = p.then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(quiet);
    void quiet.then(() => inFlight.delete(quiet));
    return p;
  };
  return {
    lookup: (digest) => lookupDigest(opts.stores, digest),
    download: (req) => tracked(download(req)),
    commit: ({ digest, staged }) =>
      tracked(
        (async () => {
          try {
            return await commit(opts, digest, staged.tmpDir, staged.manifest);
          } finally {
            untrackTmpDir(staged.tmpDir);
            // A swarm's partial dir stays locked until it is renamed (or removed), so no second fetch takes it meanwhile.
            await releasePartial(staged.tmpDir);
          }
        })(),
      ),
    discard: (staged) => tracked(discardStaged(staged).finally(() => releasePartial(staged.tmpDir))),
    async settled() {
      while (inFlight.size) await Promise.all(inFlight);
    },
  };
}
