// Model-based tests of the swarm machine: every simple path through an abstract model of "two
// peers, two work units, one unit in flight per peer" (each peer may deliver, lie, fail, stall or
// be busy) is replayed against the real swarm actor with a fake fetcher and a SimulatedClock.
// After each step the real actor must agree with the model on its state, how many units are in,
// which peers hold a unit, and which are dropped; a liar's unit always ends up with another peer.
import { describe, expect, it } from 'vitest';
import { assign, createActor, setup, SimulatedClock } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { SwarmUnit } from '../../src/core/swarm-plan.js';
import { provideSwarmPorts, tieRank, UnitFailure, type SwarmActor, type SwarmTiming, type UnitRequest } from '../../src/machines/swarm.machine.js';
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

  it("a 503 while other units are in flight caps the peer at those (its share for this client), without a rest; each unit that ends raises the cap again", async () => {
    const asked: number[] = [];
    const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
    const units: SwarmUnit[] = Array.from({ length: 4 }, (_, id) => ({ id, pieces: [{ file: id, offset: 0, length: 100 }], bytes: 100 }));
    const actor = createActor(
      provideSwarmPorts({ fetchUnit: (req) => (asked.push(req.unit.id), new Promise<void>((resolve, reject) => pending.set(req.unit.id, { resolve, reject }))) }),
      { input: { units, peers: [PEER.P1], timing: { ...TIMING, perPeer: 3 }, seed: 1 }, clock: new SimulatedClock() },
    );
    actor.start();
    await flush();
    expect(asked).toHaveLength(3);
    const [a, , c] = asked as [number, number, number];
    pending.get(c)!.reject(new UnitFailure('is busy (HTTP 503)', 'busy'));
    await flush();
    // Two still in flight: the peer's share. Nothing more is asked, and it does not rest.
    expect(asked).toHaveLength(3);
    const p = actor.getSnapshot().context.peers[peerKey(PEER.P1)]!;
    expect(p.cap).toBe(2);
    expect(p.restUntil).toBe(0);
    pending.get(a)!.resolve();
    await flush();
    // One ended: the cap rises back to perPeer (3), and the two queued units go out at once.
    expect(asked).toHaveLength(5);
    expect(actor.getSnapshot().context.peers[peerKey(PEER.P1)]!.cap).toBeUndefined();
    actor.stop();
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

// A second model: one complete holder S (the seed) and one partial holder P that joins with
// nothing, two units (unit i is file i), one unit in flight per peer. P tells what it has through
// HAVE events, may answer 'missing' (409) or fail; S may deliver or fail; a swarm nobody can feed
// starves. The model hands units as the machine must: only to a peer that has the unit's files,
// P first and a unit P has only to P, rarest first, ties in the seeded order.
const SEED = 7;
const SP = { S: { host: '10.0.1.1', port: 38339 }, P: { host: '10.0.1.2', port: 38339 } };
type SPName = keyof typeof SP;

interface PartialModel {
  holds: Record<SPName, number | null>;
  queued: number[];
  done: number;
  dropped: SPName[];
  has: number[];
  lacks: number[];
  idled: boolean;
}

const pCan = (c: PartialModel, u: number) => !c.dropped.includes('P') && c.has.includes(u) && !c.lacks.includes(u);
const sCan = (c: PartialModel) => !c.dropped.includes('S');

function handSP(c: PartialModel): PartialModel {
  const rare = (u: number) => (sCan(c) ? 1 : 0) + (pCan(c, u) ? 1 : 0);
  const queue = [...c.queued].sort((a, b) => rare(a) - rare(b) || tieRank(SEED, a) - tieRank(SEED, b));
  const holds = { ...c.holds };
  const taken = new Set<number>();
  if (holds.P === null && !c.dropped.includes('P')) {
    const u = queue.find((x) => pCan(c, x));
    if (u !== undefined) (holds.P = u), taken.add(u);
  }
  if (holds.S === null && sCan(c)) {
    const u = queue.find((x) => !taken.has(x) && !pCan(c, x));
    if (u !== undefined) (holds.S = u), taken.add(u);
  }
  return { ...c, holds, queued: c.queued.filter((u) => !taken.has(u)) };
}

const freeSP = (c: PartialModel, p: SPName, u: number | null): PartialModel =>
  handSP({ ...c, holds: { ...c.holds, [p]: null }, queued: u === null ? c.queued : [...c.queued, u].sort() });
const spStuck = (c: PartialModel) => c.queued.length > 0 && c.holds.S === null && c.holds.P === null && !c.queued.some((u) => sCan(c) || pCan(c, u));

const partialModel = setup({
  types: { context: {} as PartialModel, events: {} as { type: string } },
  guards: {
    holds: ({ context }, p: { peer: SPName }) => context.holds[p.peer] !== null,
    allIn: ({ context }) => context.done === 2,
    nobodyLeft: ({ context }) => context.dropped.length === 2,
  },
  actions: {
    deliver: assign(({ context }, p: { peer: SPName }) => freeSP({ ...context, done: context.done + 1 }, p.peer, null)),
    fail: assign(({ context }, p: { peer: SPName }) => freeSP({ ...context, dropped: [...context.dropped, p.peer] }, p.peer, context.holds[p.peer]!)),
    missing: assign(({ context }) => freeSP({ ...context, lacks: [...context.lacks, context.holds.P!] }, 'P', context.holds.P!)),
    have: assign(({ context }, p: { files: number[] }) => handSP({ ...context, has: p.files, lacks: [] })),
  },
}).createMachine({
  id: 'partialModel',
  context: handSP({ holds: { S: null, P: null }, queued: [0, 1], done: 0, dropped: [], has: [], lacks: [], idled: false }),
  initial: 'fetching',
  states: {
    fetching: {
      always: [
        { guard: 'allIn', target: 'done' },
        { guard: 'nobodyLeft', target: 'failed' },
      ],
      on: {
        DONE_S: { guard: { type: 'holds', params: { peer: 'S' } }, actions: { type: 'deliver', params: { peer: 'S' } } },
        DONE_P: { guard: { type: 'holds', params: { peer: 'P' } }, actions: { type: 'deliver', params: { peer: 'P' } } },
        FAIL_S: { guard: { type: 'holds', params: { peer: 'S' } }, actions: { type: 'fail', params: { peer: 'S' } } },
        FAIL_P: { guard: { type: 'holds', params: { peer: 'P' } }, actions: { type: 'fail', params: { peer: 'P' } } },
        MISSING_P: { guard: { type: 'holds', params: { peer: 'P' } }, actions: 'missing' },
        HAVE_0: { guard: ({ context }) => !context.dropped.includes('P') && context.has.length === 0, actions: { type: 'have', params: { files: [0] } } },
        HAVE_01: { guard: ({ context }) => !context.dropped.includes('P') && context.has.length < 2, actions: { type: 'have', params: { files: [0, 1] } } },
        HAVE_AGAIN: { guard: ({ context }) => !context.dropped.includes('P') && context.lacks.length > 0, actions: { type: 'have', params: { files: [0, 1] } } },
        // P idle with nothing useful while S works: time passes, P is neither stalled nor dropped.
        IDLE_P: {
          guard: ({ context }) => !context.idled && context.done === 0 && context.holds.P === null && context.holds.S !== null && !context.dropped.includes('P'),
          actions: assign({ idled: true }),
        },
        STARVE: { guard: ({ context }) => spStuck(context), target: 'failed' },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
});

class PartialWorld {
  readonly clock = new SimulatedClock();
  readonly pending = new Map<number, Pending>();
  readonly actor: SwarmActor;

  constructor() {
    this.actor = createActor(
      provideSwarmPorts({
        fetchUnit: (req) =>
          new Promise<void>((resolve, reject) => {
            this.pending.set(req.unit.id, { req, resolve, reject });
            req.signal.addEventListener('abort', () => {
              this.pending.delete(req.unit.id);
              reject(new Error('aborted'));
            });
          }),
      }),
      { input: { units: UNITS, peers: [SP.S], timing: TIMING, seed: SEED }, clock: this.clock },
    );
    this.actor.start();
    this.actor.send({ type: 'PEER', peer: SP.P, partial: true });
  }

  /** The unit `peer` is fetching now, or null. */
  holding(peer: SPName): number | null {
    const p = [...this.pending.values()].find((x) => peerKey(x.req.peer) === peerKey(SP[peer]));
    return p ? p.req.unit.id : null;
  }

  async settle(peer: SPName, err?: Error): Promise<void> {
    const id = this.holding(peer);
    if (id === null) throw new Error(`${peer} holds no unit`);
    const p = this.pending.get(id)!;
    this.pending.delete(id);
    if (err) p.reject(err);
    else p.resolve();
    await flush();
  }

  /** Advances the clock past `stallTimeout`, S's unit (if any) making progress all along. */
  async wait(): Promise<void> {
    for (let t = 0; t <= TIMING.stallTimeout + TIMING.tick; t += TIMING.tick) {
      for (const p of this.pending.values()) if (peerKey(p.req.peer) === peerKey(SP.S)) p.req.onProgress((t / TIMING.tick + 1) * TIMING.minProgress);
      await flush();
      this.clock.increment(TIMING.tick);
      await flush();
    }
  }
}

const partialPaths = createTestModel(partialModel).getSimplePaths({
  serializeState: (s) => JSON.stringify([s.value, s.context]),
});

describe('swarm machine with a partial holder, model-based', () => {
  it('generates paths covering every scenario', () => {
    const described = partialPaths.map((p) => p.description).join('\n');
    for (const ev of ['DONE_S', 'DONE_P', 'FAIL_S', 'FAIL_P', 'MISSING_P', 'HAVE_0', 'HAVE_01', 'HAVE_AGAIN', 'IDLE_P', 'STARVE']) expect(described).toContain(ev);
    expect(partialPaths.some((p) => p.state.matches('done') && p.state.context.dropped.includes('S'))).toBe(true);
    expect(partialPaths.length).toBeGreaterThan(30);
  });

  for (const path of partialPaths) {
    it(path.description, async () => {
      const w = new PartialWorld();
      await flush();
      const peerState = (p: SPName) => w.actor.getSnapshot().context.peers[peerKey(SP[p])]!;
      const check = (m: PartialModel) => {
        const c = w.actor.getSnapshot().context;
        expect(Object.values(c.units).filter((u) => u.status === 'done').length).toBe(m.done);
        for (const p of ['S', 'P'] as const) {
          expect(w.holding(p), `the unit ${p} fetches`).toBe(m.holds[p]);
          expect(peerState(p).dropped !== undefined, `${p} dropped`).toBe(m.dropped.includes(p));
        }
      };
      const events = {
        DONE_S: () => w.settle('S'),
        DONE_P: () => w.settle('P'),
        FAIL_S: () => w.settle('S', new UnitFailure('closed the connection after 3 bytes', 'failed')),
        FAIL_P: () => w.settle('P', new UnitFailure('closed the connection after 3 bytes', 'failed')),
        MISSING_P: () => w.settle('P', new UnitFailure('does not have those files yet (HTTP 409)', 'missing')),
        HAVE_0: async () => (w.actor.send({ type: 'HAVE', peer: SP.P, files: [0] }), flush()),
        HAVE_01: async () => (w.actor.send({ type: 'HAVE', peer: SP.P, files: [0, 1] }), flush()),
        HAVE_AGAIN: async () => (w.actor.send({ type: 'HAVE', peer: SP.P, files: [0, 1] }), flush()),
        IDLE_P: () => w.wait(),
        STARVE: () => w.wait(),
      };
      await path.test({
        events,
        states: {
          fetching: (s) => {
            expect(w.actor.getSnapshot().value).toEqual({ fetching: 'running' });
            check(s.context as PartialModel);
          },
          done: (s) => {
            expect(w.actor.getSnapshot().output!.status).toBe('done');
            check(s.context as PartialModel);
          },
          failed: (s) => {
            const out = w.actor.getSnapshot().output!;
            expect(out.status).toBe('failed');
            const m = s.context as PartialModel;
            // Failed because nobody is left, or starved: never because the idle P was given up on.
            expect(out.starved).toBe(m.dropped.length < 2);
            expect(out.dropped.map((d) => (d.peer.host === SP.S.host ? 'S' : 'P')).sort()).toEqual([...m.dropped].sort());
          },
        },
      });
    });
  }
});

describe('swarm machine with partial holders, single behaviours', () => {
  const units = (n: number): SwarmUnit[] => Array.from({ length: n }, (_, id) => ({ id, pieces: [{ file: id, offset: 0, length: 100 }], bytes: 100 }));

  it('fetches with different seeds ask the seed for units in different orders; one seed, one order', async () => {
    const firstAsked = async (seed: number) => {
      const asked: number[] = [];
      const actor = createActor(provideSwarmPorts({ fetchUnit: (req) => (asked.push(req.unit.id), new Promise<void>(() => undefined)) }), {
        input: { units: units(8), peers: [SP.S], timing: { ...TIMING, perPeer: 3 }, seed },
        clock: new SimulatedClock(),
      });
      actor.start();
      await flush();
      actor.stop();
      return asked.join(',');
    };
    const orders = await Promise.all([1, 2, 3, 4].map(firstAsked));
    expect(new Set(orders).size).toBeGreaterThan(1);
    expect(await firstAsked(3)).toBe(orders[2]);
  });

  it('the rarest unit goes first: a complete holder takes what no partial holder has', async () => {
    const asked: [string, number][] = [];
    const actor = createActor(
      provideSwarmPorts({ fetchUnit: (req) => (asked.push([req.peer.host, req.unit.id]), new Promise<void>(() => undefined)) }),
      { input: { units: units(4), peers: [SP.S], timing: TIMING, seed: SEED }, clock: new SimulatedClock() },
    );
    actor.start();
    await flush();
    const first = asked[0]![1];
    // Another partial holder Q has every unit but `first`, and P has them all: S's next unit is
    // the one only it and P have (S is busy with `first` until it finishes).
    const Q = { host: '10.0.1.3', port: 38339 };
    actor.send({ type: 'PEER', peer: SP.P, partial: true });
    actor.send({ type: 'PEER', peer: Q, partial: true });
    actor.send({ type: 'HAVE', peer: Q, files: [0, 1, 2, 3].filter((f) => f !== first) });
    await flush();
    // Q took one unit it has, the rarest first, none of them what S fetches.
    expect(asked.slice(1).map(([h]) => h)).toEqual([Q.host]);
    expect(asked[1]![1]).not.toBe(first);
    actor.stop();
  });

  for (const [answer, failure] of [
    ['409', new UnitFailure('does not have those files yet (HTTP 409)', 'missing')],
    ['404 (it has just committed)', new UnitFailure('does not serve pieces (HTTP 404)', 'unsupported')],
  ] as const) {
    it(`a unit a partial holder has is left to it, not to the idle seed, until the holder answers ${answer} for it`, async () => {
      const asked: [string, number][] = [];
      const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
      const actor = createActor(
        provideSwarmPorts({
          fetchUnit: (req) => (asked.push([req.peer.host, req.unit.id]), new Promise<void>((resolve, reject) => pending.set(req.unit.id, { resolve, reject }))),
        }),
        { input: { units: units(3), peers: [SP.S], timing: TIMING, seed: SEED }, clock: new SimulatedClock() },
      );
      actor.start();
      actor.send({ type: 'PEER', peer: SP.P, partial: true });
      await flush();
      const [[, a]] = asked as [[string, number]];
      actor.send({ type: 'HAVE', peer: SP.P, files: [0, 1, 2] });
      await flush();
      const b = asked[1]![1];
      expect(asked[1]![0]).toBe(SP.P.host);
      pending.get(a)!.resolve();
      await flush();
      // S is free and one unit is queued, but P has it: it waits for P.
      expect(asked).toHaveLength(2);
      pending.get(b)!.reject(failure);
      await flush();
      // P takes the other unit; the one it lacks goes to S.
      const c = [0, 1, 2].find((u) => u !== a && u !== b)!;
      expect(asked.slice(2).sort()).toEqual(
        [
          [SP.P.host, c],
          [SP.S.host, b],
        ].sort(),
      );
      expect(actor.getSnapshot().context.peers[peerKey(SP.P)]!.dropped).toBeUndefined();
      actor.stop();
    });
  }

  it('a unit a partial holder is fetching is not asked of the seed while anything else is in flight, and is once nothing is', async () => {
    const asked: [string, number][] = [];
    const pending = new Map<number, () => void>();
    const actor = createActor(
      provideSwarmPorts({ fetchUnit: (req) => (asked.push([req.peer.host, req.unit.id]), new Promise<void>((resolve) => pending.set(req.unit.id, resolve))) }),
      { input: { units: units(3), peers: [SP.S], timing: TIMING, seed: SEED }, clock: new SimulatedClock() },
    );
    actor.start();
    await flush();
    const a = asked[0]![1];
    const [b, c] = [0, 1, 2].filter((u) => u !== a) as [number, number];
    // P is fetching b (another machine got it from the seed a moment ago), and has nothing yet.
    actor.send({ type: 'PEER', peer: SP.P, partial: true });
    actor.send({ type: 'HAVE', peer: SP.P, files: [], fetching: [b] });
    await flush();
    pending.get(a)!();
    await flush();
    // S is free: it takes c, which nobody has or is getting, not b.
    expect(asked.slice(1)).toEqual([[SP.S.host, c]]);
    pending.get(c)!();
    await flush();
    // Nothing in flight any more, b still on its way to P: S takes it rather than wait.
    expect(asked.slice(2)).toEqual([[SP.S.host, b]]);
    pending.get(b)!();
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
    actor.stop();
  });

  it('a partial holder that turns complete is asked for anything; HAVE from a complete holder changes nothing', async () => {
    const asked: [string, number][] = [];
    const pending: (() => void)[] = [];
    const actor = createActor(
      provideSwarmPorts({ fetchUnit: (req) => (asked.push([req.peer.host, req.unit.id]), new Promise<void>((r) => pending.push(r))) }),
      { input: { units: units(2), peers: [SP.S], timing: TIMING, seed: SEED }, clock: new SimulatedClock() },
    );
    actor.start();
    actor.send({ type: 'PEER', peer: SP.P, partial: true });
    await flush();
    expect(asked.map(([h]) => h)).toEqual([SP.S.host]);
    actor.send({ type: 'HAVE', peer: SP.S, files: [] });
    actor.send({ type: 'PEER', peer: SP.P });
    await flush();
    expect(asked.map(([h]) => h)).toEqual([SP.S.host, SP.P.host]);
    expect(actor.getSnapshot().context.peers[peerKey(SP.S)]!.has).toBeUndefined();
    for (const r of pending) r();
    await flush();
    expect(actor.getSnapshot().output?.status).toBe('done');
  });
});
