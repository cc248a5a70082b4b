// The 0share library: digests and manifests, stores, the protocol codecs and the machines.
export * from './core/digest.js';
export * from './core/base32.js';
export * from './core/manifest-format.js';
export * from './core/protocol.js';
