// Model-based tests of the query machine: paths through an abstract model (peers answering for
// one of two digests, retransmits, the window ending) are replayed against the real query actor
// with in-memory transports and a SimulatedClock; the output must list exactly who answered.
// Also with both peers given as `-H` hosts: once each has answered for both digests, the query
// ends without waiting out the window.
import { describe, expect, it } from 'vitest';
import { assign, createActor, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { provideQueryPorts } from '../../src/machines/query.machine.js';
import type { DiscoveryTiming } from '../../src/machines/types.js';
import { FakeLan } from './fake-lan.js';

const D1 = parseDigest('sha256new_' + 'A'.repeat(52));
const D2 = parseDigest('sha1new=' + 'a'.repeat(40));
const TIMING: DiscoveryTiming = { discoveryWindow: 1000, retransmit: 100, maxSends: 3 };

interface ModelContext {
  /** "peer digest" pairs heard, deduplicated */
  heard: string[];
  sends: number;
  elapsed: number;
}

const answer = (pair: string) => ({ actions: { type: 'hear', params: { pair } } }) as const;

const ALL_PAIRS = ['10.0.0.1 1', '10.0.0.1 2', '10.0.0.2 1', '10.0.0.2 2'];

const queryModel = (hosts: boolean) => setup({
  types: { context: {} as ModelContext },
  guards: {
    canRetransmit: ({ context }) => context.sends < TIMING.maxSends,
    allHeard: ({ context }) => hosts && ALL_PAIRS.every((p) => context.heard.includes(p)),
  },
  actions: {
    hear: assign(({ context }, p: { pair: string }) => (context.heard.includes(p.pair) ? {} : { heard: [...context.heard, p.pair].sort() })),
  },
}).createMachine({
  id: 'queryModel',
  context: { heard: [], sends: 1, elapsed: 0 },
  initial: 'listening',
  states: {
    listening: {
      always: { guard: 'allHeard', target: 'done' },
      on: {
        A_HAS_1: answer('10.0.0.1 1'),
        A_HAS_2: answer('10.0.0.1 2'),
        B_HAS_1: answer('10.0.0.2 1'),
        ...(hosts ? { B_HAS_2: answer('10.0.0.2 2') } : {}),
        RETRANSMIT: {
          guard: 'canRetransmit',
          actions: assign(({ context }) => ({ sends: context.sends + 1, elapsed: context.elapsed + TIMING.retransmit })),
        },
        WINDOW_END: 'done',
      },
    },
    done: { type: 'final' },
  },
});

const pathsOf = (hosts: boolean) =>
  createTestModel(queryModel(hosts)).getShortestPaths({
    toState: (s) => s.status === 'done',
    serializeState: (s) => JSON.stringify([s.value, s.context.heard, s.context.sends]),
  });
const paths = pathsOf(false);
const hostPaths = pathsOf(true);
const HOSTS = [{ host: '10.0.0.1', port: 38339 }, { host: '10.0.0.2', port: 38339 }];

describe('query machine, model-based', () => {
  it('generates paths for no reply, one reply, several replies and retransmits', () => {
    const d = paths.map((p) => p.description);
    expect(d.some((x) => x.endsWith('xstate.init → WINDOW_END'))).toBe(true);
    expect(d.some((x) => /A_HAS_1.*B_HAS_1/.test(x))).toBe(true);
    expect(d.some((x) => x.includes('RETRANSMIT → RETRANSMIT'))).toBe(true);
  });

  it('with -H hosts, generates paths that end once both hosts answered for both digests', () => {
    const early = hostPaths.filter((p) => !p.description.includes('WINDOW_END')).map((p) => p.description);
    expect(early.length).toBeGreaterThan(0);
    expect(early.every((d) => ['A_HAS_1', 'A_HAS_2', 'B_HAS_1', 'B_HAS_2'].every((e) => d.includes(e)))).toBe(true);
  });

  const variants = [
    { hosts: false, name: '', paths },
    { hosts: true, name: '[-H A -H B] ', paths: hostPaths },
  ];
  for (const { hosts, name, paths } of variants) for (const path of paths) {
    it(name + path.description, async () => {
      const lan = new FakeLan();
      const input = { digests: [D1, D2], timing: TIMING, ...(hosts ? { hosts: HOSTS } : {}) };
      const actor = createActor(provideQueryPorts(lan.ports), { input, clock: lan.clock });
      actor.subscribe({ error: () => undefined });
      actor.start();
      await path.test({
        events: {
          A_HAS_1: () => lan.reply('10.0.0.1', D1),
          A_HAS_2: () => lan.reply('10.0.0.1', D2),
          B_HAS_1: () => lan.reply('10.0.0.2', D1),
          B_HAS_2: () => lan.reply('10.0.0.2', D2),
          RETRANSMIT: () => lan.advance(TIMING.retransmit),
          WINDOW_END: ({ state }) => lan.advance(TIMING.discoveryWindow - state.context.elapsed),
        },
        states: {
          listening: (s) => {
            expect(actor.getSnapshot().status).toBe('active');
            expect(lan.sends).toBe(s.context.sends);
          },
          done: (s) => {
            const out = actor.getSnapshot().output!;
            const heard = Object.entries(out.peers)
              .flatMap(([d, peers]) => peers.map((p) => `${p.host} ${d === formatDigest(D1) ? 1 : 2}`))
              .sort();
            expect(heard).toEqual(s.context.heard);
            expect(Object.keys(out.peers).sort()).toEqual([formatDigest(D1), formatDigest(D2)].sort());
            expect(lan.listening).toBe(0);
          },
        },
      });
    });
  }
});
