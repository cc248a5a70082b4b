// Model-based tests of the transfer machine: every simple path through a small abstract model of
// "two peers on a LAN" (who answers, what each one does when asked) is replayed against the real
// transfer actor, with in-memory transports and a SimulatedClock. After each step the real actor
// must be in the state the model predicts; at the end nothing may be left in a temp dir.
// Twice: broadcasting (anyone may answer until the window ends), and with the two peers given as
// `-H` hosts (once both have answered, nobody else can, so the window closes early).
import { describe, expect, it } from 'vitest';
import { assign, createActor, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { parseDigest } from '../../src/core/digest.js';
import { LocalFailure } from '../../src/machines/ports.js';
import { provideTransferPorts, type TransferActor } from '../../src/machines/transfer.machine.js';
import type { DownloadRequest, Staged, TransferPorts, TransferTiming } from '../../src/machines/types.js';
import { FakeLan, flush } from './fake-lan.js';

const DIGEST = parseDigest('sha256new_' + 'A'.repeat(52));
const TIMING: TransferTiming = { discoveryWindow: 1000, retransmit: 100, maxSends: 3, connectTimeout: 5000, stallTimeout: 50, minProgress: 1 };
const PEERS = ['10.0.0.1', '10.0.0.2'] as const;
type PeerName = (typeof PEERS)[number];

interface ModelContext {
  replied: PeerName[];
  queue: PeerName[];
  current: PeerName | null;
  attempts: number;
  /** How each tried peer failed, in order. */
  failures: string[];
  sends: number;
  elapsed: number;
}

type Kind = 'refuse' | 'drop' | 'corrupt' | 'stall';

/** The current peer failed with `kind`: try the next responder, or wait for more while the window is open. */
function peerFails(kind: Kind) {
  return [
    { guard: 'hasQueue', target: 'trying', reenter: true, actions: [{ type: 'fail', params: { kind } }, 'next'] },
    { target: 'awaiting', actions: [{ type: 'fail', params: { kind } }, 'clearCurrent'] },
  ] as const;
}

/** A reply from `peer`: ignored if it already answered, tried at once if idle, else queued. */
function reply(peer: PeerName) {
  return [
    { guard: { type: 'hasReplied', params: { peer } } },
    { guard: 'idle', target: 'trying', actions: { type: 'tryNow', params: { peer } } },
    { actions: { type: 'enqueue', params: { peer } } },
  ] as const;
}

const lanModel = (hosts: boolean) => setup({
  types: { context: {} as ModelContext },
  guards: {
    allReplied: ({ context }) => hosts && context.replied.length === PEERS.length,
    hasQueue: ({ context }) => context.queue.length > 0,
    idle: ({ context }) => context.current === null,
    hasReplied: ({ context }, p: { peer: PeerName }) => context.replied.includes(p.peer),
    canRetransmit: ({ context }) => context.sends < TIMING.maxSends,
  },
  actions: {
    fail: assign(({ context }, p: { kind: Kind }) => ({
      attempts: context.attempts + 1,
      failures: [...context.failures, p.kind],
      elapsed: context.elapsed + (p.kind === 'stall' ? TIMING.stallTimeout : 0),
    })),
    next: assign(({ context }) => ({ current: context.queue[0]!, queue: context.queue.slice(1) })),
    clearCurrent: assign({ current: null }),
    tryNow: assign(({ context }, p: { peer: PeerName }) => ({ replied: [...context.replied, p.peer], current: p.peer })),
    enqueue: assign(({ context }, p: { peer: PeerName }) => ({ replied: [...context.replied, p.peer], queue: [...context.queue, p.peer] })),
    retransmitted: assign(({ context }) => ({ sends: context.sends + 1, elapsed: context.elapsed + TIMING.retransmit })),
  },
}).createMachine({
  id: 'lan',
  context: { replied: [], queue: [], current: null, attempts: 0, failures: [], sends: 0, elapsed: 0 },
  initial: 'checking',
  states: {
    checking: { on: { CACHE_HIT: 'cached', CACHE_MISS: { target: 'awaiting', actions: assign({ sends: 1 }) } } },
    awaiting: {
      always: { guard: 'allReplied', target: 'failed' },
      on: {
        REPLY_1: [...reply('10.0.0.1')],
        REPLY_2: [...reply('10.0.0.2')],
        RETRANSMIT: { guard: 'canRetransmit', actions: 'retransmitted' },
        WINDOW_END: 'failed',
      },
    },
    trying: {
      on: {
        REPLY_1: [...reply('10.0.0.1')],
        REPLY_2: [...reply('10.0.0.2')],
        GOOD: 'committed',
        REFUSE: [...peerFails('refuse')],
        DROP: [...peerFails('drop')],
        CORRUPT: [...peerFails('corrupt')],
        STALL: [...peerFails('stall')],
      },
    },
    cached: { type: 'final' },
    committed: { type: 'final' },
    failed: { type: 'final' },
  },
});

const REASON: Record<string, RegExp> = {
  refuse: /busy \(HTTP 503\)/,
  drop: /closed the connection after 100 bytes/,
  corrupt: /does not match the digest/,
  stall: /stalled: no data for 50 ms after 10 bytes/,
};

/** The real machine's attempts, one per failed peer, each with the reason the model expects. */
function expectAttempts(attempts: readonly { reason: string }[], failures: string[]): void {
  expect(attempts).toHaveLength(failures.length);
  attempts.forEach((a, i) => expect(a.reason).toMatch(REASON[failures[i]!]!));
}

interface World {
  lan: FakeLan;
  actor: TransferActor;
}

const HOSTS = PEERS.map((host) => ({ host, port: 38339 }));

/** The real transfer actor on a fresh FakeLan; `ports` replaces some of the LAN's ports. */
function start(opts: { hosts?: boolean; timing?: TransferTiming; ports?: (lan: FakeLan) => Partial<TransferPorts> } = {}): World {
  const lan = new FakeLan();
  const input = { digest: DIGEST, timing: opts.timing ?? TIMING, ...(opts.hosts ? { hosts: HOSTS } : {}) };
  const actor = createActor(provideTransferPorts({ ...lan.ports, ...opts.ports?.(lan) }), { input, clock: lan.clock });
  actor.subscribe({ error: () => undefined });
  actor.start();
  return { lan, actor };
}

/** Nothing in the cache; both peers answer. */
async function bothReply(lan: FakeLan): Promise<void> {
  await lan.answerLookup(undefined);
  await lan.reply('10.0.0.1', DIGEST);
  await lan.reply('10.0.0.2', DIGEST);
}

// Shortest paths to every distinct final situation (who answered, who was tried, how many sends).
const pathsOf = (hosts: boolean) =>
  createTestModel(lanModel(hosts)).getShortestPaths({
    toState: (s) => s.status === 'done',
    serializeState: (s) => JSON.stringify([s.value, s.context.replied, s.context.failures, s.context.sends]),
  });
const paths = pathsOf(false);
const hostPaths = pathsOf(true);

describe('transfer machine, model-based', () => {
  it('generates paths covering every scenario', () => {
    const described = paths.map((p) => p.description).join('\n');
    for (const ev of ['CACHE_HIT', 'WINDOW_END', 'REPLY_2', 'REFUSE', 'DROP', 'CORRUPT', 'STALL', 'GOOD', 'RETRANSMIT']) expect(described).toContain(ev);
    // The scenarios of issue 3, each as a generated path.
    expect(described).toMatch(/xstate\.init → CACHE_MISS → WINDOW_END$/m); // no reply
    expect(described).toMatch(/CACHE_MISS → REPLY_\d → GOOD$/m); // one reply
    expect(described).toMatch(/REPLY_1 → REPLY_2 → (REFUSE|DROP|CORRUPT|STALL) → GOOD$/m); // several replies, fallback
    expect(described).toMatch(/REPLY_\d → REPLY_\d → CORRUPT → GOOD$/m); // corrupt data, then a good peer
    expect(described).toMatch(/REPLY_\d → STALL → WINDOW_END$/m); // a stall, nobody else
    expect(described).toMatch(/REPLY_\d → DROP → WINDOW_END$/m); // dropped mid-stream
    expect(described).toMatch(/REPLY_\d → REFUSE → WINDOW_END$/m); // refused
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.every((p) => p.state.status === 'done')).toBe(true);
  });

  it('with -H hosts, generates paths that end as soon as every host has answered and failed', () => {
    const failedEarly = hostPaths.filter((p) => p.state.matches('failed') && !p.description.includes('WINDOW_END'));
    expect(failedEarly.map((p) => p.description).join('\n')).toMatch(/REPLY_\d → REPLY_\d → (REFUSE|DROP|CORRUPT|STALL) → (REFUSE|DROP|CORRUPT|STALL)$/m);
    expect(hostPaths.some((p) => p.description.endsWith('CACHE_MISS → WINDOW_END'))).toBe(true); // nobody answers
  });

  const variants = [
    { hosts: false, name: '', paths },
    { hosts: true, name: '[-H A -H B] ', paths: hostPaths },
  ];
  for (const { hosts, name, paths } of variants) for (const path of paths) {
    it(name + path.description, async () => {
      const w = start({ hosts });
      const ctx = () => w.actor.getSnapshot().context;
      await path.test({
        events: {
          CACHE_HIT: () => w.lan.answerLookup('/store/cached'),
          CACHE_MISS: () => w.lan.answerLookup(undefined),
          REPLY_1: () => w.lan.reply('10.0.0.1', DIGEST),
          REPLY_2: () => w.lan.reply('10.0.0.2', DIGEST),
          RETRANSMIT: () => w.lan.advance(TIMING.retransmit),
          WINDOW_END: ({ state }) => w.lan.advance(TIMING.discoveryWindow - state.context.elapsed),
          GOOD: () => w.lan.good(),
          REFUSE: () => w.lan.refuse(),
          DROP: () => w.lan.drop(),
          CORRUPT: () => w.lan.corrupt(),
          STALL: () => w.lan.stall(TIMING.stallTimeout),
        },
        states: {
          checking: () => expect(w.actor.getSnapshot().value).toBe('checkingCache'),
          awaiting: (s) => {
            expect(w.actor.getSnapshot().value).toBe('awaitingReplies');
            expect(w.lan.sends).toBe(s.context.sends);
            expectAttempts(ctx().attempts, s.context.failures);
            expect(w.lan.tmpDirs.size).toBe(0);
          },
          trying: (s) => {
            expect(w.actor.getSnapshot().matches('transferring')).toBe(true);
            expect(ctx().current?.host).toBe(s.context.current);
            expectAttempts(ctx().attempts, s.context.failures);
            expect(ctx().candidates.map((p) => p.host)).toEqual(s.context.queue);
          },
          cached: () => {
            const out = w.actor.getSnapshot().output!;
            expect(out).toMatchObject({ status: 'cached', path: '/store/cached', bytes: 0, attempts: [] });
            expect(w.lan.sends).toBe(0);
          },
          committed: (s) => {
            const out = w.actor.getSnapshot().output!;
            expect(out.status).toBe('committed');
            expect(out.peer?.host).toBe(s.context.current);
            expectAttempts(out.attempts, s.context.failures);
            expect(out.bytes).toBe(200);
            expect(w.lan.store.size).toBe(1);
            expect(w.lan.tmpDirs.size).toBe(0);
          },
          failed: (s) => {
            const out = w.actor.getSnapshot().output!;
            expect(out.status).toBe('failed');
            expect(out.failure).toBe(s.context.attempts ? 'peers-failed' : 'no-reply');
            expectAttempts(out.attempts, s.context.failures);
            expect(w.lan.store.size).toBe(0);
            expect(w.lan.tmpDirs.size).toBe(0);
          },
        },
      });
      await flush();
      // Every path ends in a final state; the actor's subscriptions are gone with it.
      expect(w.actor.getSnapshot().status).toBe('done');
      expect(w.lan.listening).toBe(0);
      // A peer is never tried twice.
      expect(new Set(w.lan.downloadsFrom).size).toBe(w.lan.downloadsFrom.length);
    });
  }
});

describe('transfer machine, edge cases', () => {
  it('records a failing query send and reports it with the no-reply failure', async () => {
    const { lan, actor } = start({ ports: () => ({ sendQuery: () => Promise.reject(new Error('send ENETUNREACH 255.255.255.255:38339')) }) });
    await lan.answerLookup(undefined);
    await lan.advance(TIMING.discoveryWindow);
    await lan.advance(TIMING.discoveryWindow);
    expect(actor.getSnapshot().output).toMatchObject({ status: 'failed', failure: 'no-reply', sendError: 'send ENETUNREACH 255.255.255.255:38339' });
  });

  it('CANCEL during a download aborts it and removes its temp dir', async () => {
    const { lan, actor } = start();
    await lan.answerLookup(undefined);
    await lan.reply('10.0.0.1', DIGEST);
    expect(lan.downloadsFrom).toEqual(['10.0.0.1']);
    actor.send({ type: 'CANCEL' });
    await flush();
    expect(actor.getSnapshot().output).toMatchObject({ status: 'failed', failure: 'cancelled' });
    expect(lan.tmpDirs.size).toBe(0);
  });

  it('a download that finishes after its peer was dropped is discarded, not committed', async () => {
    let finish: (() => void) | undefined;
    const { lan, actor } = start({
      ports: (lan) => ({
        download: () =>
          new Promise<Staged>((resolve) => {
            lan.tmpDirs.add('/store/tmp-late');
            finish = () => resolve({ tmpDir: '/store/tmp-late', manifest: new Uint8Array(), bytes: 1 });
          }),
      }),
    });
    await lan.answerLookup(undefined);
    await lan.reply('10.0.0.1', DIGEST);
    await lan.advance(TIMING.connectTimeout);
    expect(actor.getSnapshot().context.attempts[0]?.reason).toMatch(/did not answer the download within 5000 ms/);
    finish!();
    await flush();
    expect(lan.tmpDirs.size).toBe(0);
    expect(lan.store.size).toBe(0);
  });

  it('a peer that drips data below minProgress per stall window is dropped as too slow', async () => {
    let req: DownloadRequest | undefined;
    const { lan, actor } = start({
      timing: { ...TIMING, minProgress: 1000 },
      ports: () => ({ download: (r) => ((req = r), new Promise<never>(() => undefined)) }),
    });
    await lan.answerLookup(undefined);
    await lan.reply('10.0.0.1', DIGEST);
    req!.onConnected();
    for (let t = 0; t < 4; t++) {
      req!.onProgress(100 * (t + 1));
      await lan.advance(10);
    }
    expect(actor.getSnapshot().matches('transferring')).toBe(true);
    await lan.advance(10);
    expect(actor.getSnapshot().context.attempts[0]?.reason).toBe('stalled: less than 1000 bytes in 50 ms (400 bytes received)');
    expect(req!.signal.aborted).toBe(true);
  });

  it('a local failure (disk full) ends the transfer at once instead of blaming the next peer', async () => {
    const { lan, actor } = start({ ports: () => ({ download: () => Promise.reject(new LocalFailure('could not write it here: ENOSPC')) }) });
    await bothReply(lan);
    await flush();
    expect(actor.getSnapshot().output).toMatchObject({ status: 'failed', failure: 'local', localError: 'could not write it here: ENOSPC', attempts: [] });
  });

  it('a commit that fails locally is not the peer’s fault either', async () => {
    const { lan, actor } = start({ ports: () => ({ commit: () => Promise.reject(new LocalFailure('EACCES: permission denied, rename')) }) });
    await bothReply(lan);
    await lan.good();
    expect(actor.getSnapshot().output).toMatchObject({ status: 'failed', failure: 'local', localError: 'EACCES: permission denied, rename', attempts: [] });
    expect(lan.downloadsFrom).toEqual(['10.0.0.1']);
  });

  it('an unknown-port machine fails visibly', async () => {
    const { transferMachine } = await import('../../src/machines/transfer.machine.js');
    const clock = new FakeLan().clock;
    const actor = createActor(transferMachine, { input: { digest: DIGEST, timing: TIMING }, clock }).start();
    await flush();
    clock.increment(TIMING.discoveryWindow);
    await flush();
    expect(actor.getSnapshot().output).toMatchObject({ status: 'failed', sendError: expect.stringMatching(/'sendQuery' port was not provided/) });
  });
});
