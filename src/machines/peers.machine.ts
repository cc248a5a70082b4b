// `0share peers`: who is there. Says hello (the `0share-peers` datagram) during the discovery
// window, retransmitting, collects every peer that answers or that DNS-SD finds (with how it was
// found), then asks each for its version and implementation count, and ends with the list. No
// I/O here: the ports (hello, heard, describe) come from src/api/peers.ts.
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom } from 'xstate';
import { missingPort } from './ports.js';
import { peerKey, type DiscoveryTiming, type FoundVia, type Peer } from './types.js';

/** What a peer says about itself. */
export interface PeerInfo {
  readonly version?: string;
  readonly implementations?: number;
}

export interface Sighting {
  readonly peer: Peer;
  readonly via: FoundVia;
  /** What it said while being found (DNS-SD TXT), if anything. */
  readonly info?: PeerInfo;
}

export interface PeersPorts {
  /** Sends the hello to every target (rejects only when no target could be reached). */
  readonly hello: () => Promise<void>;
  /** Subscribes to peers as they are found; returns the unsubscribe function. */
  readonly heard: (onPeer: (s: Sighting) => void) => () => void;
  /** Asks one peer for its version and count (rejects with the reason it could not). */
  readonly describe: (peer: Peer) => Promise<PeerInfo>;
}

export interface KnownPeer {
  readonly peer: Peer;
  /** Every way it was found, first first. */
  readonly via: readonly FoundVia[];
  readonly info: PeerInfo;
  /** Time (`now()` of the ports' clock, ms) it was last heard from. */
  readonly lastSeen: number;
  /** Why describing it failed, if it did. */
  readonly error?: string;
  /** Other addresses of the same machine that answered (set by `peers()`, which lists each machine once). */
  readonly also?: readonly Peer[];
}

export interface PeersInput {
  readonly timing: DiscoveryTiming;
  /** The clock for lastSeen (default Date.now). */
  readonly now?: () => number;
}

export interface PeersOutput {
  readonly peers: readonly KnownPeer[];
  readonly sendError?: string;
}

type PeersEvent = { type: 'HEARD'; sighting: Sighting } | { type: 'CANCEL' };

interface PeersContext {
  readonly timing: DiscoveryTiming;
  readonly now: () => number;
  readonly peers: Readonly<Record<string, KnownPeer>>;
  readonly sends: number;
  readonly sendError?: string;
}

export function peersActors(ports: PeersPorts) {
  return {
    hello: fromPromise<void>(() => ports.hello()),
    heard: fromCallback<PeersEvent>(({ sendBack }) => ports.heard((sighting) => sendBack({ type: 'HEARD', sighting }))),
    describe: fromPromise<Record<string, KnownPeer>, { peers: Readonly<Record<string, KnownPeer>> }>(async ({ input }) => {
      const entries = await Promise.all(
        Object.entries(input.peers).map(async ([k, p]): Promise<[string, KnownPeer]> => {
          try {
            return [k, { ...p, info: { ...p.info, ...(await ports.describe(p.peer)) } }];
          } catch (err) {
            return [k, { ...p, error: err instanceof Error ? err.message : String(err) }];
          }
        }),
      );
      return Object.fromEntries(entries);
    }),
  };
}

const notProvided: PeersPorts = { hello: missingPort('hello'), heard: () => () => undefined, describe: missingPort('describe') };

export const peersMachine = setup({
  types: { context: {} as PeersContext, input: {} as PeersInput, events: {} as PeersEvent, output: {} as PeersOutput },
  actors: peersActors(notProvided),
  delays: {
    discoveryWindow: ({ context }) => context.timing.discoveryWindow,
    retransmit: ({ context }) => context.timing.retransmit,
  },
  guards: { canRetransmit: ({ context }) => context.sends < context.timing.maxSends },
  actions: {
    addPeer: assign(({ context, event }) => {
      if (event.type !== 'HEARD') return {};
      const { peer, via, info } = event.sighting;
      const key = peerKey(peer);
      const known = context.peers[key];
      const next: KnownPeer = {
        peer,
        via: known ? (known.via.includes(via) ? known.via : [...known.via, via]) : [via],
        info: { ...known?.info, ...info },
        lastSeen: context.now(),
      };
      return { peers: { ...context.peers, [key]: next } };
    }),
  },
}).createMachine({
  id: 'peers',
  context: ({ input }) => ({ timing: input.timing, now: input.now ?? Date.now, peers: {}, sends: 0 }),
  initial: 'listening',
  states: {
    listening: {
      invoke: { id: 'heard', src: 'heard' },
      on: { HEARD: { actions: 'addPeer' }, CANCEL: { target: 'done' } },
      after: { discoveryWindow: { target: 'describing' } },
      initial: 'saying',
      states: {
        saying: {
          entry: assign({ sends: ({ context }) => context.sends + 1 }),
          invoke: {
            id: 'hello',
            src: 'hello',
            onDone: { target: 'waiting' },
            onError: { target: 'waiting', actions: assign({ sendError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }) },
          },
        },
        waiting: { after: { retransmit: { guard: 'canRetransmit', target: 'saying' } } },
      },
    },
    describing: {
      invoke: {
        id: 'describe',
        src: 'describe',
        input: ({ context }) => ({ peers: context.peers }),
        onDone: { target: 'done', actions: assign({ peers: ({ event }) => event.output }) },
        onError: { target: 'done' },
      },
      on: { CANCEL: { target: 'done' } },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ peers: Object.values(context.peers), sendError: context.sendError }),
});

export function providePeersPorts(ports: PeersPorts) {
  return peersMachine.provide({ actors: peersActors(ports) });
}

export type PeersMachine = typeof peersMachine;
export type PeersActor = ActorRefFrom<PeersMachine>;
