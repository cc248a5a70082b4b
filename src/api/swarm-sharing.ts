// In-flight sharing, the client's side of one swarm: the holders discovery hears join the swarm
// as they are heard (complete holders, and partial ones: machines still fetching the digest
// themselves); the query for the digest goes out again after `requery` ms, then at doubling gaps
// up to `requeryMax` (1, 2, 4, 8, 12… s by default), so that machines that began fetching after
// this one (or whose partial dir appeared after the first query) are heard, while 8 machines
// fetching at once do not keep every peer busy answering (each query reaches every host, and
// every holder answers it);
// and each partial holder in the swarm is asked for its /have every `havePoll` ms
// and what it is fetching (src/io/peer-have.ts), each answer reaching the swarm machine as a HAVE event. A complete
// holder is never polled: it has everything. A machine is one peer of the swarm however many
// of its addresses answer (`machineOf`: its IPv4 and IPv6 link-local addresses): a holder whose
// machine is in the swarm under another address waits on standby, and joins if that address is
// dropped (or if it turns out not to be the same machine after all). `shareInFlight` returns the
// one function that ends all of it, which the swarm's owner calls when the swarm ends.
import type { Digest } from '../core/digest.js';
import type { SwarmActor } from '../machines/swarm.machine.js';
import { peerKey, type Peer } from '../machines/types.js';
import { pollHave } from '../io/peer-have.js';

export interface SharingTiming {
  /** ms before the first re-send of the query while a swarm runs; the gaps then double… */
  readonly requery: number;
  /** …up to this many ms (a multiple of `requery`). */
  readonly requeryMax: number;
  /** ms between a partial holder's /have answer and the next request. */
  readonly havePoll: number;
}

export interface SharingOptions {
  readonly digest: Digest;
  /** Files and symlinks of the manifest (the have bitmap's length). */
  readonly files: number;
  readonly actor: SwarmActor;
  /** peerKeys not to add: the responder the swarm started with, and those this digest's swarms dropped. */
  readonly skip: (key: string) => boolean;
  /** Every holder of the digest, those heard so far first; returns the unsubscribe function. */
  readonly holders?: (digest: Digest, onPeer: (peer: Peer, partial?: boolean) => void) => () => void;
  /** Sends the query for the digest again. */
  readonly requery?: (digest: Digest) => void;
  /** The machine a holder's address belongs to (default: the address itself). */
  readonly machineOf?: (peer: Peer) => string;
  readonly timing?: SharingTiming;
}

export function shareInFlight(o: SharingOptions): () => void {
  const { actor, digest } = o;
  const machineOf = o.machineOf ?? peerKey;
  let closed = false;
  /** Holders whose machine is in the swarm under another address, by peerKey; complete once heard so. */
  const standby = new Map<string, { peer: Peer; partial: boolean }>();
  /** Whether another address of `peer`'s machine is in the swarm and not dropped. */
  const represented = (peer: Peer) => {
    const k = peerKey(peer);
    const m = machineOf(peer);
    return Object.values(actor.getSnapshot().context.peers).some((p) => p.dropped === undefined && peerKey(p.peer) !== k && machineOf(p.peer) === m);
  };
  const offer = (peer: Peer, partial = false) => {
    const k = peerKey(peer);
    if (o.skip(k)) return;
    if (actor.getSnapshot().context.peers[k] === undefined && represented(peer)) {
      standby.set(k, { peer, partial: partial && standby.get(k)?.partial !== false });
      return;
    }
    standby.delete(k);
    actor.send({ type: 'PEER', peer, partial });
  };
  /** Standby holders whose machine has no address in the swarm any more join it. */
  const promote = () => {
    for (const [k, s] of standby) {
      if (o.skip(k)) standby.delete(k);
      else if (!represented(s.peer)) offer(s.peer, s.partial);
    }
  };
  const unsubscribe = o.holders?.(digest, offer) ?? (() => undefined);
  const requery = o.requery;
  // Ticks every `requery` ms: standby holders are looked at each tick, the query goes out at
  // ticks 1, 2, 4, 8, then every requeryMax / requery ticks.
  const maxGap = o.timing ? Math.max(1, Math.round(o.timing.requeryMax / o.timing.requery)) : 1;
  let tick = 0;
  let nextQuery = 1;
  const timer =
    requery && o.timing
      ? setInterval(() => {
          if (++tick >= nextQuery) {
            requery(digest);
            nextQuery = tick + Math.min(tick, maxGap);
          }
          promote();
        }, o.timing.requery)
      : undefined;
  const poller = o.timing ? pollHave({ digest, files: o.files, interval: o.timing.havePoll, onHave: (peer, files, fetching) => actor.send({ type: 'HAVE', peer, files, fetching }) }) : undefined;
  let polled = '';
  let live = '';
  const sub = actor.subscribe((snap) => {
    const peers = Object.values(snap.context.peers).filter((p) => p.dropped === undefined);
    const liveKey = peers.map((p) => peerKey(p.peer)).join(' ');
    // A peer dropped: its machine's standby address may take its place (after this update).
    if (liveKey !== live && standby.size) queueMicrotask(() => closed || promote());
    live = liveKey;
    const partials = peers.filter((p) => p.has !== undefined).map((p) => p.peer);
    const key = partials.map(peerKey).join(' ');
    if (key === polled) return;
    polled = key;
    poller?.track(partials);
  });
  return () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(timer);
    poller?.close();
    sub.unsubscribe();
  };
}
