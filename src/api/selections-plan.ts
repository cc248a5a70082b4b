// Which implementations of a selections document the stores already hold: a selection is cached
// when any of its digests is in any store; otherwise it is to be fetched by its best digest.
// Loads no network code, so a cached `0share run` settles this before any client code loads.
import { bestDigest, type Digest } from '../core/digest.js';
import { selectionsDigests, type SelectionDigests } from '../core/selections.js';
import { lookupAny } from '../io/stores.js';

export type PlannedSelection =
  | { readonly sel: SelectionDigests; readonly cached: { digest: Digest; path: string }; readonly best?: undefined }
  | { readonly sel: SelectionDigests; readonly cached?: undefined; readonly best: Digest };

/** Each selection of `xml` (in the document's order), with where it is stored or what to fetch. */
export function planSelections(xml: string, stores: readonly string[]): Promise<PlannedSelection[]> {
  return Promise.all(
    selectionsDigests(xml).map(async (sel): Promise<PlannedSelection> => {
      const found = await lookupAny(stores, sel.digests);
      return found ? { sel, cached: found } : { sel, best: bestDigest(sel.digests)! };
    }),
  );
}
