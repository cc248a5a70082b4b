// The life of one digest on the client: look in the stores, ask the LAN who has it (with
// retransmits, for a bounded discovery window), download from the first responder, verify and
// commit; on any peer failure record why and move on to the next responder.
//
// The machine does no I/O. It reaches the network and the store only through the five named
// actors below, built from plain port functions by `transferActors(ports)`; `transferMachine`
// carries ports that fail with "not provided", so an embedder calls
// `provideTransferPorts(ports)` (or `transferMachine.provide({ actors: transferActors(ports) })`).
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import type { Digest } from '../core/digest.js';
import { errorMessage, isLocalFailure, missingPort } from './ports.js';
import { peerKey, type Attempt, type Peer, type Staged, type TransferPorts, type TransferTiming } from './types.js';

export interface TransferInput {
  readonly digest: Digest;
  readonly timing: TransferTiming;
  /**
   * The only peers that can answer (the `-H` hosts), when known: once every one of them has
   * answered, nobody else will, so the window closes early. Absent when broadcasting.
   */
  readonly hosts?: readonly Peer[];
}

export type TransferEvent =
  | { type: 'REPLY'; peer: Peer }
  | { type: 'CONNECTED'; expected?: number }
  | { type: 'PROGRESS'; bytes: number }
  | { type: 'RECEIVED'; staged: Staged }
  | { type: 'DOWNLOAD_FAILED'; reason: string; local: boolean }
  | { type: 'CANCEL' };

export type TransferStatus = 'committed' | 'cached' | 'failed';
/**
 * Why a digest failed as a whole: nobody answered, everyone who answered failed, the caller gave
 * up, or it could not be stored here (`localError`).
 */
export type TransferFailure = 'no-reply' | 'peers-failed' | 'cancelled' | 'local';

export interface TransferContext {
  readonly digest: Digest;
  readonly timing: TransferTiming;
  /** peerKeys of the only peers that can answer (empty when broadcasting). */
  readonly hosts: readonly string[];
  /** Responders not tried yet, in the order they answered. */
  readonly candidates: readonly Peer[];
  /** Every responder ever heard from (peerKey), so a peer is tried at most once. */
  readonly seen: readonly string[];
  readonly current?: Peer;
  readonly attempts: readonly Attempt[];
  readonly sends: number;
  readonly windowOpen: boolean;
  /** Bytes received from the current (or committing) peer. */
  readonly bytes: number;
  /** The size of the tree's files as the current peer announced it, if it did (progress display only). */
  readonly expected?: number;
  /** `bytes` when the stall timer last restarted. */
  readonly mark: number;
  readonly staged?: Staged;
  /** What each source sent, for a tree that came from several (swarm mode). */
  readonly sources?: Readonly<Record<string, number>>;
  readonly sendError?: string;
  readonly localError?: string;
  readonly status?: TransferStatus;
  readonly failure?: TransferFailure;
  readonly path?: string;
}

export interface TransferOutput {
  readonly digest: Digest;
  readonly status: TransferStatus;
  /** Where the implementation is now (committed or cached). */
  readonly path?: string;
  /** The peer it came from (committed): the first responder, in swarm mode. */
  readonly peer?: Peer;
  /** Bytes from each source (peerKey), in swarm mode. */
  readonly sources?: Readonly<Record<string, number>>;
  readonly attempts: readonly Attempt[];
  readonly bytes: number;
  readonly failure?: TransferFailure;
  /** The last error from sending the query (e.g. "Network is unreachable"). */
  readonly sendError?: string;
  /** Why it could not be stored here (failure 'local'). */
  readonly localError?: string;
}

/** The actor logic behind each named actor of the machine, built from plain port functions. */
export function transferActors(ports: TransferPorts) {
  return {
    checkCache: fromPromise<string | undefined, { digest: Digest }>(({ input }) => ports.lookup(input.digest)),
    sendQuery: fromPromise<void, { digest: Digest }>(({ input }) => ports.sendQuery([input.digest])),
    replies: fromCallback<TransferEvent, { digest: Digest }>(({ input, sendBack }) =>
      ports.replies(input.digest, (peer) => sendBack({ type: 'REPLY', peer })),
    ),
    download: fromCallback<TransferEvent, { digest: Digest; peer: Peer }>(({ input, sendBack }) => {
      const ac = new AbortController();
      ports
        .download({
          digest: input.digest,
          peer: input.peer,
          signal: ac.signal,
          onConnected: (expected) => sendBack({ type: 'CONNECTED', expected }),
          onProgress: (bytes) => sendBack({ type: 'PROGRESS', bytes }),
        })
        .then(
          (staged) => {
            // Finished just as the machine moved on: nobody owns the tree any more.
            if (ac.signal.aborted) void ports.discard(staged).catch(() => undefined);
            else sendBack({ type: 'RECEIVED', staged });
          },
          (err: unknown) => sendBack({ type: 'DOWNLOAD_FAILED', reason: errorMessage(err), local: isLocalFailure(err) }),
        );
      return () => ac.abort();
    }),
    commit: fromPromise<string, { digest: Digest; peer: Peer; staged: Staged }>(({ input }) => ports.commit(input)),
  };
}

const notProvided: TransferPorts = {
  lookup: missingPort('lookup'),
  sendQuery: missingPort('sendQuery'),
  replies: () => () => undefined,
  download: missingPort('download'),
  commit: missingPort('commit'),
  discard: missingPort('discard'),
};

function recordAttempt(context: TransferContext, reason: string): Partial<TransferContext> {
  return { attempts: [...context.attempts, { peer: context.current!, reason }], staged: undefined };
}

export const transferMachine = setup({
  types: {
    context: {} as TransferContext,
    input: {} as TransferInput,
    events: {} as TransferEvent,
    output: {} as TransferOutput,
  },
  actors: transferActors(notProvided),
  delays: {
    discoveryWindow: ({ context }) => context.timing.discoveryWindow,
    retransmit: ({ context }) => context.timing.retransmit,
    connectTimeout: ({ context }) => context.timing.connectTimeout,
    stallTimeout: ({ context }) => context.timing.stallTimeout,
  },
  guards: {
    hasCandidate: ({ context }) => context.candidates.length > 0,
    windowOpen: ({ context }) => context.windowOpen,
    canRetransmit: ({ context }) => context.windowOpen && context.sends < context.timing.maxSends,
  },
  actions: {
    addCandidate: assign(({ context, event }) => {
      if (event.type !== 'REPLY') return {};
      const key = peerKey(event.peer);
      if (context.seen.includes(key)) return {};
      return { seen: [...context.seen, key], candidates: [...context.candidates, event.peer] };
    }),
    takeCandidate: assign(({ context }) => ({
      current: context.candidates[0],
      candidates: context.candidates.slice(1),
      bytes: 0,
      mark: 0,
      expected: undefined,
    })),
    closeWindow: assign({ windowOpen: false }),
    // Every possible responder has answered: there is nothing more to wait for.
    closeWindowIfAllHeard: assign(({ context }) =>
      context.hosts.length > 0 && context.hosts.every((h) => context.seen.includes(h)) ? { windowOpen: false } : {},
    ),
  },
}).createMachine({
  id: 'transfer',
  context: ({ input }) => ({
    digest: input.digest,
    timing: input.timing,
    hosts: (input.hosts ?? []).map(peerKey),
    candidates: [],
    seen: [],
    attempts: [],
    sends: 0,
    windowOpen: true,
    bytes: 0,
    mark: 0,
  }),
  // Replies are collected for the whole life of the transfer: later ones are the fallbacks.
  invoke: { id: 'replies', src: 'replies', input: ({ context }) => ({ digest: context.digest }) },
  after: { discoveryWindow: { actions: 'closeWindow' } },
  on: {
    REPLY: { actions: ['addCandidate', 'closeWindowIfAllHeard'] },
    CANCEL: { target: '.failed', actions: assign({ failure: 'cancelled' as const }) },
  },
  initial: 'checkingCache',
  states: {
    checkingCache: {
      invoke: {
        id: 'checkCache',
        src: 'checkCache',
        input: ({ context }) => ({ digest: context.digest }),
        onDone: [
          { guard: ({ event }) => event.output !== undefined, target: 'cached', actions: assign({ path: ({ event }) => event.output }) },
          { target: 'broadcasting' },
        ],
        // An unreadable store is not a reason to give up: look on the network instead.
        onError: { target: 'broadcasting' },
      },
    },
    broadcasting: {
      entry: assign({ sends: ({ context }) => context.sends + 1 }),
      invoke: {
        id: 'sendQuery',
        src: 'sendQuery',
        input: ({ context }) => ({ digest: context.digest }),
        onDone: { target: 'awaitingReplies' },
        onError: { target: 'awaitingReplies', actions: assign({ sendError: ({ event }) => errorMessage(event.error) }) },
      },
    },
    awaitingReplies: {
      always: [
        { guard: 'hasCandidate', target: 'transferring' },
        {
          guard: ({ context }) => !context.windowOpen,
          target: 'failed',
          actions: assign({ failure: ({ context }) => (context.attempts.length ? 'peers-failed' : 'no-reply') }),
        },
      ],
      after: { retransmit: { guard: 'canRetransmit', target: 'broadcasting' } },
    },
    transferring: {
      entry: 'takeCandidate',
      invoke: {
        id: 'download',
        src: 'download',
        input: ({ context }) => ({ digest: context.digest, peer: context.current! }),
      },
      initial: 'connecting',
      states: {
        connecting: {
          on: {
            CONNECTED: { target: 'streaming', actions: assign({ expected: ({ event }) => event.expected }) },
            PROGRESS: { target: 'streaming', actions: assign({ bytes: ({ event }) => event.bytes, mark: ({ event }) => event.bytes }) },
          },
          after: {
            connectTimeout: {
              target: '#transfer.peerFailed',
              actions: assign(({ context }) => recordAttempt(context, `did not answer the download within ${context.timing.connectTimeout} ms`)),
            },
          },
        },
        streaming: {
          on: {
            // A peer that sent a first part (a swarm's manifest) before it could announce the size.
            CONNECTED: { actions: assign({ expected: ({ event }) => event.expected }) },
            // Enough new data restarts the stall timer; a trickle below minProgress does not.
            PROGRESS: [
              {
                guard: ({ context, event }) => event.bytes - context.mark >= context.timing.minProgress,
                target: 'streaming',
                reenter: true,
                actions: assign({ bytes: ({ event }) => event.bytes, mark: ({ event }) => event.bytes }),
              },
              { actions: assign({ bytes: ({ event }) => event.bytes }) },
            ],
          },
          after: {
            stallTimeout: {
              target: '#transfer.peerFailed',
              actions: assign(({ context }) =>
                recordAttempt(
                  context,
                  context.bytes === context.mark
                    ? `stalled: no data for ${context.timing.stallTimeout} ms after ${context.bytes} bytes`
                    : `stalled: less than ${context.timing.minProgress} bytes in ${context.timing.stallTimeout} ms (${context.bytes} bytes received)`,
                ),
              ),
            },
          },
        },
      },
      on: {
        RECEIVED: {
          target: 'verifying',
          actions: assign({ staged: ({ event }) => event.staged, bytes: ({ event }) => event.staged.bytes, sources: ({ event }) => event.staged.sources }),
        },
        DOWNLOAD_FAILED: [
          { guard: ({ event }) => event.local, target: 'failed', actions: assign({ failure: 'local' as const, localError: ({ event }) => event.reason }) },
          { target: 'peerFailed', actions: assign(({ context, event }) => recordAttempt(context, event.reason)) },
        ],
      },
    },
    verifying: {
      invoke: {
        id: 'commit',
        src: 'commit',
        input: ({ context }) => ({ digest: context.digest, peer: context.current!, staged: context.staged! }),
        onDone: { target: 'committed', actions: assign({ path: ({ event }) => event.output, staged: undefined }) },
        onError: [
          {
            guard: ({ event }) => isLocalFailure(event.error),
            target: 'failed',
            actions: assign({ failure: 'local' as const, localError: ({ event }) => errorMessage(event.error) }),
          },
          { target: 'peerFailed', actions: assign(({ context, event }) => recordAttempt(context, errorMessage(event.error))) },
        ],
      },
    },
    peerFailed: {
      always: [
        { guard: 'hasCandidate', target: 'transferring' },
        { guard: 'windowOpen', target: 'awaitingReplies' },
        { target: 'failed', actions: assign({ failure: 'peers-failed' as const }) },
      ],
    },
    cached: { type: 'final', entry: assign({ status: 'cached' as const }) },
    committed: { type: 'final', entry: assign({ status: 'committed' as const }) },
    failed: { type: 'final', entry: assign({ status: 'failed' as const }) },
  },
  output: ({ context }) => ({
    digest: context.digest,
    status: context.status ?? 'failed',
    path: context.path,
    peer: context.status === 'committed' ? context.current : undefined,
    ...(context.status === 'committed' && context.sources ? { sources: context.sources } : {}),
    attempts: context.attempts,
    bytes: context.bytes,
    failure: context.failure,
    sendError: context.sendError,
    localError: context.localError,
  }),
});

/** `transferMachine` wired to real (or fake) I/O. */
export function provideTransferPorts(ports: TransferPorts) {
  return transferMachine.provide({ actors: transferActors(ports) });
}

export type TransferMachine = typeof transferMachine;
export type TransferActor = ActorRefFrom<TransferMachine>;
export type TransferSnapshot = SnapshotFrom<TransferMachine>;
