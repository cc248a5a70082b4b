// Who has answered for which digest: one subscription to the discovery socket's replies (and one
// to its partial replies), kept per digest, so that a listener for a digest hears every
// responder, also those heard before it listened (fetch's machines start after the first query,
// some queued behind others). The transfer machine hears only the complete holders (`listen`):
// a partial holder cannot send the whole tar. A swarm hears both (`holders`), each peer once,
// a partial holder again if it later answers as complete (it has committed the digest).
// A complete holder whose machine already answered for the digest from another address (its IPv4
// and its IPv6 link-local address: discovery's `machineOf`) is still a fallback for the transfer
// machine, but `onNew` names it as that machine's other address (`sameAs`), for `0share why`.
import { formatDigest } from '../core/digest.js';
import { peerKey, type Peer } from '../machines/types.js';
import type { Discovery, FoundVia, Reply } from '../io/udp-discovery.js';

type Listener = (peer: Peer, partial: boolean) => void;

export class Responders {
  private readonly heard = new Map<string, Peer[]>();
  private readonly partial = new Map<string, Peer[]>();
  private readonly listeners = new Map<string, Set<Listener>>();
  /** peerKey of everyone who answered at all. */
  private readonly anyReply = new Set<string>();
  private readonly subs: { unsubscribe(): void }[];

  /**
   * Records `discovery`'s replies from now until `close()`; `onNew` hears each new (digest,
   * complete holder) pair, how the peer was found, and the address its machine first answered
   * from for that digest when this is another address of the same machine.
   */
  constructor(
    private readonly discovery: Discovery,
    onNew?: (digest: string, peer: Peer, via: FoundVia, sameAs?: Peer) => void,
  ) {
    const on = (partial: boolean) => (r: Reply) => {
      this.anyReply.add(peerKey(r.peer));
      for (const d of r.digests) {
        const key = formatDigest(d);
        if (this.add(key, r.peer, partial) && !partial) onNew?.(key, r.peer, r.via, this.firstOfMachine(key, r.peer));
      }
    };
    this.subs = [discovery.replies.subscribe(on(false)), discovery.partials.subscribe(on(true))];
  }

  /** Whether anyone has answered for `key` (a formatted digest) as a complete holder. */
  answered(key: string): boolean {
    return this.heard.has(key);
  }

  /** Every complete holder of `key`, those heard so far first (on a microtask, so never during the caller's own start). */
  listen(key: string, onPeer: (peer: Peer) => void): () => void {
    return this.subscribe(key, (peer, partial) => partial || onPeer(peer), false);
  }

  /** Every holder of `key`, complete (`partial` false) or partial, those heard so far first (on a microtask). */
  holders(key: string, onPeer: (peer: Peer, partial: boolean) => void): () => void {
    return this.subscribe(key, onPeer, true);
  }

  /** Those of `hosts` (the `-H` hosts) that have not answered anything, in their order. */
  unanswered(hosts: readonly Peer[] | undefined): Peer[] {
    return (hosts ?? []).filter((h) => !this.anyReply.has(peerKey(h)));
  }

  /** The complete holder of `key` heard before `peer` from the same machine, if any. */
  private firstOfMachine(key: string, peer: Peer): Peer | undefined {
    const k = peerKey(peer);
    const machine = this.discovery.machineOf(peer);
    return (this.heard.get(key) ?? []).find((p) => peerKey(p) !== k && this.discovery.machineOf(p) === machine);
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
  }

  private subscribe(key: string, listener: Listener, partials: boolean): () => void {
    let stopped = false;
    queueMicrotask(() => {
      if (stopped) return;
      for (const p of this.heard.get(key) ?? []) listener(p, false);
      if (partials) for (const p of this.partial.get(key) ?? []) listener(p, true);
      const set = this.listeners.get(key) ?? new Set();
      set.add(listener);
      this.listeners.set(key, set);
    });
    return () => {
      stopped = true;
      this.listeners.get(key)?.delete(listener);
    };
  }

  /** Records a holder; false if it was already known for that digest as such (or as complete). */
  private add(key: string, peer: Peer, partial: boolean): boolean {
    const k = peerKey(peer);
    const known = (m: Map<string, Peer[]>) => (m.get(key) ?? []).some((p) => peerKey(p) === k);
    if (known(this.heard) || (partial && known(this.partial))) return false;
    const into = partial ? this.partial : this.heard;
    into.set(key, [...(into.get(key) ?? []), peer]);
    for (const l of this.listeners.get(key) ?? []) l(peer, partial);
    return true;
  }
}
