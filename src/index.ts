// The 0share library: the programmatic API (fetch, query, serve), digests and manifests,
// stores, the protocol codecs, the safe tar extractor and packer, and the machines.
export { fetch, fetchSelections, type FetchEvent, type FetchOptions, type FetchResult, type SelectionResult } from './api/fetch.js';
export { query, type QueryOptions, type QueryResult } from './api/query.js';
export { peers, type PeersOptions } from './api/peers.js';
export { serve, type ServeHandle, type ServeOptions } from './api/serve.js';

export * from './core/digest.js';
export * from './core/base32.js';
export * from './core/manifest-format.js';
export * from './core/protocol.js';
export { renderStatusPage, statsDocument, escapeHtml, type StatusSnapshot, type UploadView, type FetchView, type InFlightView, type RequestView } from './core/status-page.js';
export { PeerStats } from './io/peer-stats.js';
export * from './core/piece-list.js';
export * from './core/swarm-plan.js';
export * from './core/have-bitmap.js';
export * from './core/partial-holder.js';
export { selectionsDigests, SelectionsError, type SelectionDigests } from './core/selections.js';

export { defaultStores, lookupDigest, lookupAny, listImplementations, type StoredImplementation } from './io/stores.js';
export { findPartial, verifiedFiles, listPartials, type PartialHolding } from './io/partial-holders.js';
export { makeTmpDir, commitStaged, addDirectory, removeTree, verifyEntry, StoreError, type VerifyResult } from './io/store-add.js';
export { walkTree, manifestOfTree, TreeError } from './io/tree-walk.js';
export { extractTar, ExtractError, type ExtractOptions, type ExtractResult } from './io/tar-extract.js';
export { packTree, PackError } from './io/tar-pack.js';

export * from './machines/index.js';
