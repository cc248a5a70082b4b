// Plain data shared by the client machines and the I/O that drives them: peers, attempts,
// timings and the ports (functions) through which a machine reaches the network and the store.
import type { Digest } from '../core/digest.js';

/** A peer as it answered discovery: its address, and the port that serves UDP and HTTP. */
export interface Peer {
  readonly host: string;
  readonly port: number;
}

/** How a peer was found: IPv4 broadcast, IPv6 multicast, a static peers file, DNS-SD, or `-H`. */
export type FoundVia = 'broadcast' | 'multicast' | 'static' | 'mdns' | 'host';

export function peerKey(p: Peer): string {
  return p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

/** One peer that was tried for a digest and why it did not work out. */
export interface Attempt {
  readonly peer: Peer;
  readonly reason: string;
}

/** What a download left in a temp dir of the store, ready to be verified and committed. */
export interface Staged {
  readonly tmpDir: string;
  /** The manifest built from what was received. */
  readonly manifest: Uint8Array;
  /** Bytes received over the wire. */
  readonly bytes: number;
  /** Bytes from each source (peerKey), when they came from several (swarm mode). */
  readonly sources?: Readonly<Record<string, number>>;
}

/** Discovery timing, in milliseconds. */
export interface DiscoveryTiming {
  /** After this long from the start no new responders are awaited (`--timeout`). */
  readonly discoveryWindow: number;
  /** Pause between retransmissions of the query. */
  readonly retransmit: number;
  /** Number of times the query is sent, the first included. */
  readonly maxSends: number;
}

export interface TransferTiming extends DiscoveryTiming {
  /** Longest wait for a peer to accept the download. */
  readonly connectTimeout: number;
  /** A peer must send at least `minProgress` bytes every `stallTimeout` ms or it is dropped. */
  readonly stallTimeout: number;
  /** Bytes per stall window below which a peer counts as stalled (catches a slow drip). */
  readonly minProgress: number;
}

/** Sends the query for these digests (broadcast or to the `-H` hosts). Rejects on a send error. */
export type SendQueryPort = (digests: readonly Digest[]) => Promise<void>;

/** Subscribes to replies offering `digest`; returns the unsubscribe function. */
export type RepliesPort = (digest: Digest, onPeer: (peer: Peer) => void) => () => void;

export interface DownloadRequest {
  readonly digest: Digest;
  readonly peer: Peer;
  readonly signal: AbortSignal;
  /**
   * The peer accepted the request and data is about to flow; `expectedBytes` is the size of the
   * tree's files when the peer said it (X-0share-Size), for progress display only.
   */
  readonly onConnected: (expectedBytes?: number) => void;
  /** Total bytes received so far. */
  readonly onProgress: (bytes: number) => void;
}

/**
 * The I/O a transfer needs, as plain functions. Each must turn failures into rejected promises
 * with a message that names what went wrong; none of them throws synchronously.
 */
export interface TransferPorts {
  /** Path of an existing entry for the digest in any store, if there is one. */
  readonly lookup: (digest: Digest) => Promise<string | undefined>;
  readonly sendQuery: SendQueryPort;
  readonly replies: RepliesPort;
  /** Receives the implementation into a temp dir; removes that dir itself on any failure or abort. */
  readonly download: (req: DownloadRequest) => Promise<Staged>;
  /** Verifies the staged tree against the digest and moves it into the store; removes it on failure. */
  readonly commit: (req: { digest: Digest; peer: Peer; staged: Staged }) => Promise<string>;
  /** Removes a staged tree nobody will commit (a download that finished just as it was abandoned). */
  readonly discard: (staged: Staged) => Promise<void>;
}

export interface QueryPorts {
  readonly sendQuery: SendQueryPort;
  readonly replies: RepliesPort;
}
