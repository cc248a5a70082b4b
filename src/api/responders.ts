// Who has answered for which digest: one subscription to the discovery socket's replies, kept
// per digest, so that a listener for a digest hears every responder, also those heard before it
// listened (fetch's machines start after the first query, some queued behind others).
import { formatDigest } from '../core/digest.js';
import { peerKey, type Peer } from '../machines/types.js';
import type { Discovery, FoundVia } from '../io/udp-discovery.js';

export class Responders {
  private readonly heard = new Map<string, Peer[]>();
  private readonly listeners = new Map<string, Set<(peer: Peer) => void>>();
  /** peerKey of everyone who answered at all. */
  private readonly anyReply = new Set<string>();
  private readonly sub: { unsubscribe(): void };

  /** Records `discovery`'s replies from now until `close()`; `onNew` hears each new (digest, peer) pair, and how the peer was found. */
  constructor(discovery: Discovery, onNew?: (digest: string, peer: Peer, via: FoundVia) => void) {
    this.sub = discovery.replies.subscribe((r) => {
      this.anyReply.add(peerKey(r.peer));
      for (const d of r.digests) {
        const key = formatDigest(d);
        if (this.add(key, r.peer)) onNew?.(key, r.peer, r.via);
      }
    });
  }

  /** Whether anyone has answered for `key` (a formatted digest). */
  answered(key: string): boolean {
    return this.heard.has(key);
  }

  /** Every responder for `key`, those heard so far first (on a microtask, so never during the caller's own start). */
  listen(key: string, onPeer: (peer: Peer) => void): () => void {
    let stopped = false;
    queueMicrotask(() => {
      if (stopped) return;
      for (const p of this.heard.get(key) ?? []) onPeer(p);
      const set = this.listeners.get(key) ?? new Set();
      set.add(onPeer);
      this.listeners.set(key, set);
    });
    return () => {
      stopped = true;
      this.listeners.get(key)?.delete(onPeer);
    };
  }

  /** Those of `hosts` (the `-H` hosts) that have not answered anything, in their order. */
  unanswered(hosts: readonly Peer[] | undefined): Peer[] {
    return (hosts ?? []).filter((h) => !this.anyReply.has(peerKey(h)));
  }

  close(): void {
    this.sub.unsubscribe();
  }

  /** Records a responder; false if it was already known for that digest. */
  private add(key: string, peer: Peer): boolean {
    const peers = this.heard.get(key) ?? [];
    if (peers.some((p) => peerKey(p) === peerKey(peer))) return false;
    this.heard.set(key, [...peers, peer]);
    for (const l of this.listeners.get(key) ?? []) l(peer);
    return true;
  }
}
