// One HTTP request to the peer, as a state machine: check the source against --allow, check the
// method and route, then either answer a page route (`/`, `/stats`, and from loopback only the
// local fetch records, `/local/fetches`) or find the
// implementation in the stores, take an upload slot (not for the manifest and mtimes routes;
// refused when all are taken, or when this
// source already holds its fair share while others wait), stream the body with a stall timer that
// each PROGRESS resets, and end as done, rejected (with the status to send) or aborted (client
// gone, stalled, read error). The I/O lives in the ports (src/io).
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { Digest } from '../core/digest.js';
import { isLoopback } from '../core/cidr.js';
import {
  type ImplementationRoute,
  isLocalRoute,
  isPageRoute,
  methodsOf,
  type PageRoute,
  parseRequestTarget,
  type RequestTarget,
  type RouteKind,
} from '../core/http-route.js';

/** What a partial holder (a fetch in flight on the peer's machine) serves from its staging dir. */
export interface PartialServed {
  /** The staging dir's `.manifest`, whose hash is the digest. */
  readonly manifest: Uint8Array;
  /** Which of these files (indexes in manifest order of files and symlinks) are verified there now. */
  readonly verified: (files: readonly number[]) => Promise<ReadonlySet<number>>;
}

/** An implementation found in a store, ready to be served. */
export interface ServedImplementation {
  /** The digest directory (never a symlink), or a partial holder's staging dir. */
  readonly dir: string;
  /** Total bytes of the tree's files, when known cheaply. */
  readonly size?: number;
  /** Set when only a fetch in flight holds it: only the manifest and verified files are served. */
  readonly partial?: PartialServed;
}

export interface BodyRequest {
  readonly kind: RouteKind;
  readonly digest: Digest;
  readonly found: ServedImplementation;
  /** HEAD: send the headers only. */
  readonly head: boolean;
  /** Plain tar instead of gzip. */
  readonly plainTar: boolean;
  /** Aborted when the session leaves the streaming state: stop reading, destroy the response. */
  readonly signal: AbortSignal;
}

/** Why a body was refused before any byte: a bad request, not held here, not verified here yet. */
export type RefusalStatus = 400 | 404 | 409;

/** Callbacks through which the body sender reports; call exactly one of finished/failed. */
export interface BodyEvents {
  /** Total bytes the client has taken so far. */
  progress(bytes: number): void;
  finished(bytes: number): void;
  failed(reason: string): void;
  /** Nothing was sent: the request cannot be served (a bad piece list, a piece this peer lacks, or has not verified yet: 409). */
  refused(status: RefusalStatus, reason: string): void;
}

/** The I/O one session needs, as plain functions. */
export interface ServerSessionPorts {
  readonly isAllowed: (peer: string) => boolean;
  /** The implementation in the stores, or undefined when no store has it (or only as a symlink). */
  readonly resolve: (digest: Digest, kind: RouteKind) => Promise<ServedImplementation | undefined>;
  /**
   * Takes one of the upload slots for the source `peer`: its release function, or why not ('full':
   * every slot is taken; 'share': this source holds its fair share while other sources wait).
   */
  readonly acquireUpload: (peer: string) => (() => void) | 'full' | 'share';
  /** Writes the 200 response for the request; reports through `events`. */
  readonly sendBody: (req: BodyRequest, events: BodyEvents) => void;
  /**
   * Answers a page route (status page, stats, the local fetch records) and writes the whole
   * response, refusals included; resolves with the status and body bytes sent.
   */
  readonly sendPage: (req: PageRequest) => Promise<PageResult>;
}

export interface PageRequest {
  readonly route: PageRoute;
  /** HEAD: send the headers only. */
  readonly head: boolean;
}

export interface PageResult {
  readonly status: number;
  readonly bytes: number;
  /** Why it was refused (status 400 and up). */
  readonly reason?: string;
}

export interface ServerSessionInput {
  readonly method: string;
  /** The request target exactly as received. */
  readonly target: string;
  /** Source address of the connection. */
  readonly peer: string;
  /** The request has `X-0share-Encoding: tar`. */
  readonly wantsPlainTar: boolean;
  /** ms without progress after which a response is abandoned. */
  readonly stallTimeout: number;
  readonly ports: ServerSessionPorts;
}

export type SessionOutcome = 'done' | 'rejected' | 'aborted';

export interface ServerSessionOutput {
  readonly outcome: SessionOutcome;
  /** The status sent (or, for 499, none: the client left before any response). */
  readonly status: number;
  /** Body bytes the client took. */
  readonly bytes: number;
  readonly reason?: string;
  /** The request target as the session parsed it. */
  readonly route: RequestTarget;
}

export type ServerSessionEvent =
  | { type: 'CLIENT_CLOSED' }
  | { type: 'GRANTED' }
  | { type: 'BUSY'; why: 'full' | 'share' }
  | { type: 'PROGRESS'; bytes: number }
  | { type: 'FINISHED'; bytes: number }
  | { type: 'FAILED'; reason: string }
  | { type: 'REFUSED'; status: RefusalStatus; reason: string };

interface Context {
  input: ServerSessionInput;
  /** The request target, parsed once; past `routing` it is a valid route. */
  route: RequestTarget;
  found?: ServedImplementation;
  status: number;
  bytes: number;
  outcome: SessionOutcome;
  reason?: string;
}

/** The route in the states after `routing` that serve an implementation, which only such a route reaches. */
const routeOf = (context: Context): ImplementationRoute => context.route as ImplementationRoute;
/** The route in `paging`, which only a page route reaches. */
const pageOf = (context: Context): PageRoute => context.route as PageRoute;

export const serverSessionMachine = setup({
  types: {
    input: {} as ServerSessionInput,
    context: {} as Context,
    events: {} as ServerSessionEvent,
    output: {} as ServerSessionOutput,
  },
  actors: {
    checkAccess: fromPromise<boolean, ServerSessionInput>(async ({ input }) => input.ports.isAllowed(input.peer)),
    resolve: fromPromise<ServedImplementation | undefined, { ports: ServerSessionPorts; digest: Digest; kind: RouteKind }>(
      ({ input }) => input.ports.resolve(input.digest, input.kind),
    ),
    page: fromPromise<PageResult, { ports: ServerSessionPorts; req: PageRequest }>(({ input }) => input.ports.sendPage(input.req)),
    uploadSlot: fromCallback<ServerSessionEvent, ServerSessionInput & { kind: RouteKind }>(({ input, sendBack }) => {
      // The manifest and the mtimes are small text a fetch needs before (or beside) its pieces:
      // they take no upload slot, so a seed whose slots are full still lets new clients start
      // their swarm (whose piece requests wait their turn on 503) instead of failing on a 503.
      if (input.kind === 'manifest' || input.kind === 'mtimes') {
        sendBack({ type: 'GRANTED' });
        return () => undefined;
      }
      const slot = input.ports.acquireUpload(input.peer);
      sendBack(typeof slot === 'function' ? { type: 'GRANTED' } : { type: 'BUSY', why: slot });
      return () => (typeof slot === 'function' ? slot() : undefined);
    }),
    body: fromCallback<ServerSessionEvent, { ports: ServerSessionPorts; req: Omit<BodyRequest, 'signal'> }>(({ input, sendBack }) => {
      const ctl = new AbortController();
      try {
        input.ports.sendBody(
          { ...input.req, signal: ctl.signal },
          {
            progress: (bytes) => sendBack({ type: 'PROGRESS', bytes }),
            finished: (bytes) => sendBack({ type: 'FINISHED', bytes }),
            failed: (reason) => sendBack({ type: 'FAILED', reason }),
            refused: (status, reason) => sendBack({ type: 'REFUSED', status, reason }),
          },
        );
      } catch (err) {
        sendBack({ type: 'FAILED', reason: err instanceof Error ? err.message : String(err) });
      }
      return () => ctl.abort();
    }),
  },
  guards: {
    localFromOutside: ({ context }) => isLocalRoute(context.route) && !isLoopback(context.input.peer),
    methodNotAllowed: ({ context }) => !methodsOf(context.route).includes(context.input.method),
    badTarget: ({ context }) => !context.route.ok,
    isPage: ({ context }) => isPageRoute(context.route),
  },
  delays: {
    stall: ({ context }) => context.input.stallTimeout,
  },
}).createMachine({
  id: 'serverSession',
  context: ({ input }) => ({ input, route: parseRequestTarget(input.target), status: 0, bytes: 0, outcome: 'aborted' }),
  initial: 'checkingAccess',
  on: {
    CLIENT_CLOSED: { target: '.aborted', actions: assign({ reason: 'client closed the connection' }) },
  },
  states: {
    checkingAccess: {
      invoke: {
        id: 'access',
        src: 'checkAccess',
        input: ({ context }) => context.input,
        onDone: [
          // The local routes answer this machine's processes whatever --allow says.
          { guard: ({ event, context }) => event.output || (isLocalRoute(context.route) && isLoopback(context.input.peer)), target: 'routing' },
          { target: 'rejected', actions: assign({ status: 403, reason: 'source not allowed (--allow)' }) },
        ],
        onError: { target: 'rejected', actions: assign({ status: 500, reason: 'access check failed' }) },
      },
    },
    routing: {
      always: [
        { guard: 'localFromOutside', target: 'rejected', actions: assign({ status: 403, reason: 'local routes answer only this machine (loopback)' }) },
        { guard: 'methodNotAllowed', target: 'rejected', actions: assign({ status: 405, reason: 'method not allowed' }) },
        {
          guard: 'badTarget',
          target: 'rejected',
          actions: assign(({ context }) => (context.route.ok ? {} : { status: context.route.status, reason: context.route.reason })),
        },
        { guard: 'isPage', target: 'paging' },
        { target: 'resolving' },
      ],
    },
    paging: {
      invoke: {
        id: 'page',
        src: 'page',
        input: ({ context }) => ({ ports: context.input.ports, req: { route: pageOf(context), head: context.input.method === 'HEAD' } }),
        onDone: [
          { guard: ({ event }) => event.output.status < 400, target: 'done', actions: assign({ status: ({ event }) => event.output.status, bytes: ({ event }) => event.output.bytes }) },
          { target: 'rejected', actions: assign({ status: ({ event }) => event.output.status, reason: ({ event }) => event.output.reason }) },
        ],
        onError: {
          target: 'aborted',
          actions: assign({ reason: ({ event }) => `page failed: ${event.error instanceof Error ? event.error.message : String(event.error)}` }),
        },
      },
    },
    resolving: {
      invoke: {
        id: 'resolve',
        src: 'resolve',
        input: ({ context }) => ({ ports: context.input.ports, digest: routeOf(context).digest, kind: routeOf(context).kind }),
        onDone: [
          { guard: ({ event }) => event.output !== undefined, target: 'uploading', actions: assign({ found: ({ event }) => event.output }) },
          { target: 'rejected', actions: assign({ status: 404, reason: 'not in any store' }) },
        ],
        onError: {
          target: 'rejected',
          actions: assign({ status: 500, reason: ({ event }) => `store lookup failed: ${event.error instanceof Error ? event.error.message : String(event.error)}` }),
        },
      },
    },
    uploading: {
      invoke: { id: 'slot', src: 'uploadSlot', input: ({ context }) => ({ ...context.input, kind: routeOf(context).kind }) },
      initial: 'admitting',
      states: {
        admitting: {
          on: {
            GRANTED: { target: 'streaming', actions: assign({ status: 200 }) },
            BUSY: [
              { guard: ({ event }) => event.why === 'share', target: '#serverSession.rejected', actions: assign({ status: 503, reason: 'fair share: this source holds its share of uploads while others wait' }) },
              { target: '#serverSession.rejected', actions: assign({ status: 503, reason: 'too many uploads' }) },
            ],
          },
        },
        streaming: {
          invoke: {
            id: 'body',
            src: 'body',
            input: ({ context }) => {
              const { kind, digest, plainTar } = routeOf(context);
              const { method, wantsPlainTar, ports } = context.input;
              return { ports, req: { kind, digest, found: context.found!, head: method === 'HEAD', plainTar: wantsPlainTar || plainTar } };
            },
          },
          initial: 'flowing',
          states: {
            flowing: {
              after: { stall: { target: '#serverSession.aborted', actions: assign({ reason: 'client stopped reading' }) } },
              on: { PROGRESS: { target: 'flowing', reenter: true, actions: assign({ bytes: ({ event }) => event.bytes }) } },
            },
          },
          on: {
            FINISHED: { target: '#serverSession.done', actions: assign({ bytes: ({ event }) => event.bytes }) },
            FAILED: { target: '#serverSession.aborted', actions: assign({ reason: ({ event }) => event.reason }) },
            REFUSED: { target: '#serverSession.rejected', actions: assign({ status: ({ event }) => event.status, reason: ({ event }) => event.reason }) },
          },
        },
      },
    },
    done: { type: 'final', entry: assign({ outcome: 'done' }) },
    rejected: { type: 'final', entry: assign({ outcome: 'rejected' }) },
    aborted: {
      type: 'final',
      entry: assign({ outcome: 'aborted', status: ({ context }) => context.status || 499 }),
    },
  },
  output: ({ context }) => ({ outcome: context.outcome, status: context.status, bytes: context.bytes, reason: context.reason, route: context.route }),
});
