// Model-based tests of the peers machine (`0share peers`): paths through an abstract model
// (two peers seen by broadcast, multicast or DNS-SD with a TXT record, hellos retransmitted, the
// window ending, each peer described or not, CANCEL at any point) are replayed against the real
// actor with fake ports and a SimulatedClock. At the end the output must list exactly the peers
// seen, each with every way it was found (first first), what it said of itself (described over
// TXT), or the reason it could not be described; and no port may still be subscribed.
import { describe, expect, it } from 'vitest';
import { assign, createActor, setup, SimulatedClock } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { providePeersPorts, type PeerInfo, type Sighting } from '../../src/machines/peers.machine.js';
import type { DiscoveryTiming, FoundVia, Peer } from '../../src/machines/types.js';

const TIMING: DiscoveryTiming = { discoveryWindow: 1000, retransmit: 100, maxSends: 3 };
const A: Peer = { host: '10.0.0.1', port: 38339 };
const B: Peer = { host: 'fe80::2%eth0', port: 38339 };
/** What each peer says when described: A answers, B cannot be described. */
const A_INFO: PeerInfo = { version: '0.2.0', implementations: 4 };
const TXT: PeerInfo = { version: '0.1.0', implementations: 9 };
const B_ERROR = 'GET /stats answered HTTP 404';

interface ModelContext {
  /** Per peer host, every way it was found, first first. */
  via: Record<string, FoundVia[]>;
  txt: boolean;
  sends: number;
  elapsed: number;
  /** Whether the describe step finished (false when cancelled before it did). */
  described: boolean;
  /** CANCEL came while the peers were being described. */
  cancelledDescribing: boolean;
}

const seen = (host: string, via: FoundVia, txt = false) => ({ actions: { type: 'see', params: { host, via, txt } } }) as const;

const peersModel = setup({
  types: { context: {} as ModelContext },
  guards: {
    canRetransmit: ({ context }) => context.sends < TIMING.maxSends,
    nobody: ({ context }) => Object.keys(context.via).length === 0,
  },
  actions: {
    see: assign(({ context }, p: { host: string; via: FoundVia; txt: boolean }) => {
      const known = context.via[p.host] ?? [];
      return { via: { ...context.via, [p.host]: known.includes(p.via) ? known : [...known, p.via] }, txt: context.txt || p.txt };
    }),
  },
}).createMachine({
  id: 'peersModel',
  context: { via: {}, txt: false, sends: 1, elapsed: 0, described: false, cancelledDescribing: false },
  initial: 'listening',
  states: {
    listening: {
      on: {
        A_BROADCAST: seen(A.host, 'broadcast'),
        A_MDNS: seen(A.host, 'mdns', true),
        B_MULTICAST: seen(B.host, 'multicast'),
        RETRANSMIT: {
          guard: 'canRetransmit',
          actions: assign(({ context }) => ({ sends: context.sends + 1, elapsed: context.elapsed + TIMING.retransmit })),
        },
        // With nobody to describe, the describe step ends at once.
        WINDOW_END: [{ guard: 'nobody', target: 'done', actions: assign({ described: true }) }, { target: 'describing' }],
        CANCEL: 'done',
      },
    },
    describing: {
      on: { DESCRIBED: { target: 'done', actions: assign({ described: true }) }, CANCEL: { target: 'done', actions: assign({ cancelledDescribing: true }) } },
    },
    done: { type: 'final' },
  },
});

const paths = createTestModel(peersModel).getShortestPaths({
  toState: (s) => s.status === 'done',
  serializeState: (s) => JSON.stringify([s.value, s.context]),
});

function fakePorts() {
  const clock = new SimulatedClock();
  let hellos = 0;
  let subscribed = 0;
  let deliver: ((s: Sighting) => void) | undefined;
  const pending: (() => void)[] = [];
  const ports = providePeersPorts({
    hello: async () => void hellos++,
    heard: (on) => {
      subscribed++;
      deliver = on;
      return () => {
        subscribed--;
        deliver = undefined;
      };
    },
    // Each description waits until the test lets it through, so CANCEL can come first.
    describe: (p) =>
      new Promise<PeerInfo>((resolve, reject) =>
        pending.push(() => (p.host === A.host ? resolve(A_INFO) : reject(new Error(B_ERROR)))),
      ),
  });
  return {
    ports,
    clock,
    hellos: () => hellos,
    subscribed: () => subscribed,
    sight: (s: Sighting) => deliver?.(s),
    release: () => pending.splice(0).forEach((go) => go()),
  };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

describe('peers machine, model-based', () => {
  it('generates paths for no peer, both peers, several ways of finding one, retransmits and cancels', () => {
    const d = paths.map((p) => p.description);
    expect(d.some((x) => x.endsWith('xstate.init → WINDOW_END'))).toBe(true);
    expect(d.some((x) => x.endsWith('B_MULTICAST → WINDOW_END → DESCRIBED'))).toBe(true);
    expect(d.some((x) => /A_BROADCAST.*A_MDNS/.test(x))).toBe(true);
    expect(d.some((x) => /B_MULTICAST.*WINDOW_END → CANCEL/.test(x))).toBe(true);
    expect(d.some((x) => x.includes('RETRANSMIT → RETRANSMIT'))).toBe(true);
  });

  for (const path of paths) {
    it(path.description, async () => {
      const lan = fakePorts();
      const actor = createActor(lan.ports, { input: { timing: TIMING, now: () => lan.clock.now() }, clock: lan.clock });
      actor.subscribe({ error: () => undefined });
      actor.start();
      await settle();
      await path.test({
        events: {
          A_BROADCAST: () => lan.sight({ peer: A, via: 'broadcast' }),
          A_MDNS: () => lan.sight({ peer: A, via: 'mdns', info: TXT }),
          B_MULTICAST: () => lan.sight({ peer: B, via: 'multicast' }),
          RETRANSMIT: async () => {
            lan.clock.increment(TIMING.retransmit);
            await settle();
          },
          WINDOW_END: async ({ state }) => {
            lan.clock.increment(TIMING.discoveryWindow - state.context.elapsed);
            await settle();
          },
          DESCRIBED: async () => {
            lan.release();
            await settle();
          },
          CANCEL: () => actor.send({ type: 'CANCEL' }),
        },
        states: {
          listening: (s) => {
            expect(actor.getSnapshot().value).toMatchObject({ listening: expect.anything() });
            expect(lan.hellos()).toBe(s.context.sends);
          },
          describing: () => {
            expect(actor.getSnapshot().value).toBe('describing');
            expect(lan.subscribed()).toBe(0);
          },
          done: (s) => {
            const snap = actor.getSnapshot();
            expect(snap.status).toBe('done');
            expect(lan.subscribed()).toBe(0);
            const out = Object.fromEntries(snap.output!.peers.map((p) => [p.peer.host, p]));
            expect(Object.keys(out).sort()).toEqual(Object.keys(s.context.via).sort());
            const a = out[A.host];
            if (a) {
              expect(a.via).toEqual(s.context.via[A.host]);
              const said = s.context.txt ? TXT : {};
              expect(a.info).toEqual(s.context.described ? { ...said, ...A_INFO } : said);
              expect(a.error).toBeUndefined();
            }
            const b = out[B.host];
            if (b) {
              expect(b.via).toEqual(['multicast']);
              expect(b.info).toEqual({});
              expect(b.error).toBe(s.context.described ? B_ERROR : undefined);
            }
          },
        },
      });
    });
  }
});
