// `0share query`: ask the LAN who has these digests, retransmitting during the discovery
// window, and report every responder per digest when the window ends. No I/O here: the query
// is sent and replies arrive through the named actors built by `queryActors(ports)`.
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { formatDigest, type Digest } from '../core/digest.js';
import { errorMessage, missingPort } from './ports.js';
import { peerKey, type DiscoveryTiming, type Peer, type QueryPorts } from './types.js';

export interface QueryInput {
  readonly digests: readonly Digest[];
  readonly timing: DiscoveryTiming;
  /**
   * The only peers that can answer (the `-H` hosts), when known: once every one of them has
   * answered for every digest, the query ends without waiting out the window.
   */
  readonly hosts?: readonly Peer[];
}

export type QueryEvent = { type: 'REPLY'; digest: Digest; peer: Peer } | { type: 'CANCEL' };

export interface QueryContext {
  readonly digests: readonly Digest[];
  readonly timing: DiscoveryTiming;
  /** peerKeys of the only peers that can answer (empty when broadcasting). */
  readonly hosts: readonly string[];
  /** formatted digest → responders, in the order they answered */
  readonly peers: Readonly<Record<string, readonly Peer[]>>;
  readonly sends: number;
  readonly sendError?: string;
}

export interface QueryOutput {
  /** formatted digest → every peer that said it has it (empty when nobody did) */
  readonly peers: Readonly<Record<string, readonly Peer[]>>;
  readonly sendError?: string;
}

export function queryActors(ports: QueryPorts) {
  return {
    sendQuery: fromPromise<void, { digests: readonly Digest[] }>(({ input }) => ports.sendQuery(input.digests)),
    replies: fromCallback<QueryEvent, { digests: readonly Digest[] }>(({ input, sendBack }) => {
      const stops = input.digests.map((digest) => ports.replies(digest, (peer) => sendBack({ type: 'REPLY', digest, peer })));
      return () => stops.forEach((stop) => stop());
    }),
  };
}

const notProvided: QueryPorts = { sendQuery: missingPort('sendQuery'), replies: () => () => undefined };

export const queryMachine = setup({
  types: {
    context: {} as QueryContext,
    input: {} as QueryInput,
    events: {} as QueryEvent,
    output: {} as QueryOutput,
  },
  actors: queryActors(notProvided),
  delays: {
    discoveryWindow: ({ context }) => context.timing.discoveryWindow,
    retransmit: ({ context }) => context.timing.retransmit,
  },
  guards: {
    canRetransmit: ({ context }) => context.sends < context.timing.maxSends,
    allHeard: ({ context }) =>
      context.hosts.length > 0 &&
      Object.values(context.peers).every((peers) => context.hosts.every((h) => peers.some((p) => peerKey(p) === h))),
  },
  actions: {
    addPeer: assign(({ context, event }) => {
      if (event.type !== 'REPLY') return {};
      const key = formatDigest(event.digest);
      const known = context.peers[key] ?? [];
      if (known.some((p) => peerKey(p) === peerKey(event.peer))) return {};
      return { peers: { ...context.peers, [key]: [...known, event.peer] } };
    }),
  },
}).createMachine({
  id: 'query',
  context: ({ input }) => ({
    digests: input.digests,
    timing: input.timing,
    hosts: (input.hosts ?? []).map(peerKey),
    peers: Object.fromEntries(input.digests.map((d) => [formatDigest(d), []])),
    sends: 0,
  }),
  initial: 'listening',
  states: {
    listening: {
      invoke: { id: 'replies', src: 'replies', input: ({ context }) => ({ digests: context.digests }) },
      on: { REPLY: { actions: 'addPeer' }, CANCEL: { target: 'done' } },
      always: { guard: 'allHeard', target: 'done' },
      after: { discoveryWindow: { target: 'done' } },
      initial: 'broadcasting',
      states: {
        broadcasting: {
          entry: assign({ sends: ({ context }) => context.sends + 1 }),
          invoke: {
            id: 'sendQuery',
            src: 'sendQuery',
            input: ({ context }) => ({ digests: context.digests }),
            onDone: { target: 'awaitingReplies' },
            onError: { target: 'awaitingReplies', actions: assign({ sendError: ({ event }) => errorMessage(event.error) }) },
          },
        },
        awaitingReplies: {
          after: { retransmit: { guard: 'canRetransmit', target: 'broadcasting' } },
        },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ peers: context.peers, sendError: context.sendError }),
});

export function provideQueryPorts(ports: QueryPorts) {
  return queryMachine.provide({ actors: queryActors(ports) });
}

export type QueryMachine = typeof queryMachine;
export type QueryActor = ActorRefFrom<QueryMachine>;
export type QuerySnapshot = SnapshotFrom<QueryMachine>;
