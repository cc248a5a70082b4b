// In-flight sharing, the client's side of one swarm: the holders discovery hears join the swarm
// as they are heard (complete holders, and partial ones: machines still fetching the digest
// themselves); the query for the digest goes out again every `requery` ms, so that machines that
// began fetching after this one (or whose partial dir appeared after the first query) are heard;
// and each partial holder in the swarm is asked for its /have every `havePoll` ms
// (src/io/peer-have.ts), each answer reaching the swarm machine as a HAVE event. A complete
// holder is never polled: it has everything. `shareInFlight` returns the one function that ends
// all of it, which the swarm's owner calls when the swarm ends.
import type { Digest } from '../core/digest.js';
import type { SwarmActor } from '../machines/swarm.machine.js';
import { peerKey, type Peer } from '../machines/types.js';
import { pollHave } from '../io/peer-have.js';

export interface SharingTiming {
  /** ms between re-sends of the query while a swarm runs. */
  readonly requery: number;
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
  readonly timing?: SharingTiming;
}

export function shareInFlight(o: SharingOptions): () => void {
  const { actor, digest } = o;
  const unsubscribe =
    o.holders?.(digest, (peer, partial) => {
      if (!o.skip(peerKey(peer))) actor.send({ type: 'PEER', peer, partial });
    }) ?? (() => undefined);
  const requery = o.requery;
  const timer = requery && o.timing ? setInterval(() => requery(digest), o.timing.requery) : undefined;
  const poller = o.timing ? pollHave({ digest, files: o.files, interval: o.timing.havePoll, onHave: (peer, files) => actor.send({ type: 'HAVE', peer, files }) }) : undefined;
  let polled = '';
  const sub = actor.subscribe((snap) => {
    const partials = Object.values(snap.context.peers)
      .filter((p) => p.has !== undefined && p.dropped === undefined)
      .map((p) => p.peer);
    const key = partials.map(peerKey).join(' ');
    if (key === polled) return;
    polled = key;
    poller?.track(partials);
  });
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(timer);
    poller?.close();
    sub.unsubscribe();
  };
}
