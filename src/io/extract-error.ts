// What the safe extractor (src/io/tar-extract.ts) resolves with and rejects with: the manifest
// entries of the tree it wrote, or an ExtractError whose code says whose fault it was.
import type { ManifestEntry } from '../core/manifest-format.js';

export type ExtractErrorCode = 'unsafe' | 'limit' | 'corrupt' | 'truncated' | 'stalled' | 'aborted' | 'io';

export class ExtractError extends Error {
  override name = 'ExtractError';
  constructor(
    message: string,
    readonly code: ExtractErrorCode,
    /** The offending entry's name as it appears in the archive, when there is one. */
    readonly entry?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface ExtractResult {
  entries: ManifestEntry[];
  manifest: Buffer;
  /** File content bytes written. */
  bytes: number;
}
