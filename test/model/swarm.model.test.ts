// Model-based tests of the swarm machine: every simple path through an abstract model of "two
// peers, two work units, one unit in flight per peer" (each peer may deliver, lie, fail, stall or
// be busy) is replayed against the real swarm actor with a fake fetcher and a SimulatedClock.
// After each step the real actor must agree with the model on its state, how many units are in,
// which peers hold a unit, and which are dropped; a liar's unit always ends up with another peer.
import { describe, expect, it } from 'vitest';
import { assign, createActor, setup, SimulatedClock } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { SwarmUnit } from '../../src/core/swarm-plan.js';
import { provideSwarmPorts, UnitFailure, type SwarmActor, type SwarmTiming, type UnitRequest } from '../../src/machines/swarm.machine.js';
import { peerKey } from '../../src/machines/types.js';

const TIMING: SwarmTiming = { tick: 10, stallTimeout: 1000, minProgress: 10, busyPause: 20, perPeer: 1 };
const PEERS = ['P1', 'P2'] as const;
type Name = (typeof PEERS)[number];
const PEER = { P1: { host: '10.0.0.1', port: 38339 }, P2: { host: '10.0.0.2', port: 38339 } };
const UNITS: SwarmUnit[] = [0, 1].map((id) => ({ id, pieces: [{ file: id, offset: 0, length: 100 }], bytes: 100 }));

interface Model {
  holds: Record<Name, boolean>;
  queued: number;
  done: number;
  dropped: Name[];
  resting: Name[];
}

const other = (p: Name): Name => (p === 'P1' ? 'P2' : 'P1');
const free = (c: Model, p: Name) => !c.holds[p] && !c.dropped.includes(p) && !c.resting.includes(p);

/** Hands queued units to free peers, P1 first (both are equally fast: neither has sent a byte). */
function hand(c: Model): Model {
  const holds = { ...c.holds };
  let queued = c.queued;
  for (const p of PEERS) {
    if (queued > 0 && free({ ...c, holds }, p)) {
      holds[p] = true;
      queued--;
    }
  }
  return { ...c, holds, queued };
}

const model = setup({
  types: { context: {} as Model, events: {} as { type: string } },
  guards: {
    holds: ({ context }, p: { peer: Name }) => context.holds[p.peer],
    allIn: ({ context }) => context.done === UNITS.length,
    nobodyLeft: ({ context }) => context.dropped.length === PEERS.length,
    nobodyResting: ({ context }) => context.resting.length === 0,
    resting: ({ context }) => context.resting.length > 0,
  },
  actions: {
    deliver: assign(({ context }, p: { peer: Name }) => hand({ ...context, holds: { ...context.holds, [p.peer]: false }, done: context.done + 1 })),
    drop: assign(({ context }, p: { peer: Name }) =>
      hand({ ...context, holds: { ...context.holds, [p.peer]: false }, queued: context.queued + 1, dropped: [...context.dropped, p.peer] }),
    ),
    rest: assign(({ context }, p: { peer: Name }) =>
      hand({ ...context, holds: { ...context.holds, [p.peer]: false }, queued: context.queued + 1, resting: [...context.resting, p.peer] }),
    ),
    wake: assign(({ context }) => hand({ ...context, resting: [] })),
  },
}).createMachine({
  id: 'swarmModel',
  context: hand({ holds: { P1: false, P2: false }, queued: UNITS.length, done: 0, dropped: [], resting: [] }),
  initial: 'fetching',
  states: {
    fetching: {
      always: [
        { guard: 'allIn', target: 'done' },
        { guard: 'nobodyLeft', target: 'failed' },
      ],
      on: Object.fromEntries<object>(
        PEERS.flatMap((peer): [string, object][] => [
          [`DONE_${peer}`, { guard: { type: 'holds', params: { peer } }, actions: { type: 'deliver', params: { peer } } }],
          [`LIE_${peer}`, { guard: { type: 'holds', params: { peer } }, actions: { type: 'drop', params: { peer } } }],
          [`FAIL_${peer}`, { guard: { type: 'holds', params: { peer } }, actions: { type: 'drop', params: { peer } } }],
          [`BUSY_${peer}`, { guard: { type: 'holds', params: { peer } }, actions: { type: 'rest', params: { peer } } }],
          [
            `STALL_${peer}`,
            { guard: ({ context }: { context: Model }) => context.holds[peer] && context.resting.length === 0, actions: { type: 'drop', params: { peer } } },
          ],
        ]).concat([['REST_END', { guard: 'resting', actions: 'wake' }]]),
      ) as never,
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
});

interface Pending {
  req: UnitRequest;
  resolve: () => void;
  reject: (e: Error) => void;
}

class World {
  readonly clock = new SimulatedClock();
  readonly pending = new Map<number, Pending>();
  readonly asked: { unit: number; peer: string }[] = [];
  readonly actor: SwarmActor;

  constructor() {
    this.actor = createActor(
      provideSwarmPorts({
        fetchUnit: (req) =>
          new Promise<void>((resolve, reject) => {
            this.asked.push({ unit: req.unit.id, peer: peerKey(req.peer) });
            this.pending.set(req.unit.id, { req, resolve, reject });
            req.signal.addEventListener('abort', () => {
              this.pending.delete(req.unit.id);
              reject(new Error('aborted'));
            });
          }),
      }),
      { input: { units: UNITS, peers: [PEER.P1, PEER.P2], timing: TIMING }, clock: this.clock },
    );
    this.actor.start();
  }

  /** The pending request of `peer`'s unit. */
  of(peer: Name): Pending {
    const key = peerKey(PEER[peer]);
    const p = [...this.pending.values()].find((x) => peerKey(x.req.peer) === key);
    if (!p) throw new Error(`${peer} holds no unit`);
    this.pending.delete(p.req.unit.id);
    return p;
  }

  async settle(p: Pending, err?: Error): Promise<void> {
    if (err) p.reject(err);
    else p.resolve();
    await flush();
  }

  /** Advance the clock by `ms` in ticks, feeding progress to `feed`'s unit, if it holds one. */
  async advance(ms: number, feed?: Name): Promise<void> {
    for (let t = 0; t < ms; t += TIMING.tick) {
      if (feed) {
        const key = peerKey(PEER[feed]);
        for (const p of this.pending.values()) if (peerKey(p.req.peer) === key) p.req.onProgress((t / TIMING.tick + 1) * TIMING.minProgress);
      }
      await flush();
      this.clock.increment(TIMING.tick);
      await flush();
    }
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r));

const paths = createTestModel(model).getSimplePaths({
  serializeState: (s) => JSON.stringify([s.value, s.context]),
});

describe('swarm machine, model-based', () => {
  it('generates paths covering every scenario', () => {
    const described = paths.map((p) => p.description).join('\n');
    for (const ev of ['DONE_P1', 'DONE_P2', 'LIE_P1', 'FAIL_P2', 'STALL_P1', 'BUSY_P2', 'REST_END']) expect(described).toContain(ev);
    expect(paths.some((p) => p.state.matches('failed'))).toBe(true);
    expect(paths.some((p) => p.state.matches('done') && p.state.context.dropped.length === 1)).toBe(true);
    expect(paths.length).toBeGreaterThan(30);
  });

  for (const path of paths) {
    it(path.description, async () => {
      const w = new World();
      await flush();
      const dropped = () =>
        Object.values(w.actor.getSnapshot().context.peers)
          .filter((p) => p.dropped !== undefined)
          .map((p) => (p.peer.host === PEER.P1.host ? 'P1' : 'P2'))
          .sort();
      const check = (m: Model) => {
        const c = w.actor.getSnapshot().context;
        expect(Object.values(c.units).filter((u) => u.status === 'done').length).toBe(m.done);
        for (const p of PEERS) expect(c.peers[peerKey(PEER[p])]!.active > 0, `${p} holds a unit`).toBe(m.holds[p]);
        expect(dropped()).toEqual([...m.dropped].sort());
        // A dropped peer is never asked again.
        for (const p of m.dropped) expect([...w.pending.values()].some((x) => peerKey(x.req.peer) === peerKey(PEER[p]))).toBe(false);
      };
      const events = Object.fromEntries(
        PEERS.flatMap((peer) => [
          [`DONE_${peer}`, () => w.settle(w.of(peer))],
          [`LIE_${peer}`, () => w.settle(w.of(peer), new UnitFailure("'x' does not match its manifest line", 'lied'))],
          [`FAIL_${peer}`, () => w.settle(w.of(peer), new UnitFailure('closed the connection after 3 bytes', 'failed'))],
          [`BUSY_${peer}`, () => w.settle(w.of(peer), new UnitFailure('is busy (HTTP 503)', 'busy'))],
          [`STALL_${peer}`, () => w.advance(TIMING.stallTimeout + TIMING.tick, other(peer))],
        ]).concat([['REST_END', () => w.advance(TIMING.busyPause)]]),
      );
      await path.test({
        events,
        states: {
          fetching: (s) => {
            expect(w.actor.getSnapshot().value).toEqual({ fetching: 'running' });
            check(s.context as Model);
          },
          done: (s) => {
            expect(w.actor.getSnapshot().status).toBe('done');
            expect(w.actor.getSnapshot().output!.status).toBe('done');
            check(s.context as Model);
          },
          failed: (s) => {
            expect(w.actor.getSnapshot().output!.status).toBe('failed');
            expect(dropped()).toEqual([...(s.context as Model).dropped].sort());
          },
        },
      });
      // Each unit was asked of a peer at most once per attempt, and never again of one that dropped out for it.
      const byUnit = new Map<number, string[]>();
      for (const a of w.asked) byUnit.set(a.unit, [...(byUnit.get(a.unit) ?? []), a.peer]);
      for (const peers of byUnit.values()) expect(peers.length).toBeLessThanOrEqual(path.steps.length + 1);
    });
  }
});

describe('swarm machine, single behaviours', () => {
  it('a peer that joins later gets work; a unit that failed part-way is asked again only for the files not yet in', async () => {
    const clock = new SimulatedClock();
    const batch: SwarmUnit = { id: 0, pieces: [0, 1, 2].map((file) => ({ file, offset: 0, length: 10 })), bytes: 30 };
    const asked: UnitRequest[] = [];
    const answers = [new UnitFailure('is busy (HTTP 503)', 'busy'), new UnitFailure("'f1' does not match its manifest line", 'lied', [0])];
    const actor = createActor(
      provideSwarmPorts({
        fetchUnit: (req) => {
          asked.push(req);
          const a = answers.shift();
          return a ? Promise.reject(a) : Promise.resolve();
        },
      }),
      { input: { units: [batch], peers: [PEER.P1], timing: TIMING }, clock },
    );
    actor.start();
    await flush();
    expect(actor.getSnapshot().value).toEqual({ fetching: 'running' }); // P1 is busy, resting
    actor.send({ type: 'PEER', peer: PEER.P2 });
    await flush();
    expect(actor.getSnapshot().context.peers[peerKey(PEER.P2)]!.dropped).toMatch(/does not match the manifest/);
    for (let t = 0; t <= TIMING.busyPause; t += TIMING.tick) {
      clock.increment(TIMING.tick);
      await flush();
    }
    expect(actor.getSnapshot().output?.status).toBe('done');
    expect(asked.map((r) => [r.peer.host, r.unit.pieces.map((p) => p.file)])).toEqual([
      ['10.0.0.1', [0, 1, 2]],
      ['10.0.0.2', [0, 1, 2]],
      ['10.0.0.1', [1, 2]],
    ]);
  });

  it('a large file whose ranges came from several peers and do not match is fetched again whole from one peer', async () => {
    const clock = new SimulatedClock();
    const ranges: SwarmUnit[] = [0, 1].map((i) => ({ id: i, pieces: [{ file: 7, offset: i * 50, length: 50 }], bytes: 50, rangeOf: 7 }));
    const asked: UnitRequest[] = [];
    const actor = createActor(
      provideSwarmPorts({
        fetchUnit: (req) => {
          asked.push(req);
          return asked.length === 2 ? Promise.reject(new UnitFailure("'big' does not match", 'mixed', [], 7)) : Promise.resolve();
        },
      }),
      { input: { units: ranges, peers: [PEER.P1, PEER.P2], timing: TIMING }, clock },
    );
    actor.start();
    await flush();
    expect(actor.getSnapshot().output?.status).toBe('done');
    expect(asked).toHaveLength(3);
    expect(asked[2]!.unit.pieces).toEqual([
      { file: 7, offset: 0, length: 50 },
      { file: 7, offset: 50, length: 50 },
    ]);
    // Mixed sources: nobody can be blamed alone, so nobody is dropped.
    expect(actor.getSnapshot().output!.dropped).toEqual([]);
  });
});
