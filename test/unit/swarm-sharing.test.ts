// shareInFlight's holders: a machine is one peer of the swarm however many of its addresses
// answer. A holder whose machine is in the swarm under another address waits on standby (never
// asked, never polled), and joins when that address is dropped, or when it turns out to be
// another machine after all; holders of other machines join at once.
import { describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import type { SwarmUnit } from '../../src/core/swarm-plan.js';
import { shareInFlight } from '../../src/api/swarm-sharing.js';
import { provideSwarmPorts, type SwarmTiming, type UnitRequest } from '../../src/machines/swarm.machine.js';
import { peerKey, type Peer } from '../../src/machines/types.js';

const TIMING: SwarmTiming = { tick: 10_000, stallTimeout: 60_000, minProgress: 1, busyPause: 10, perPeer: 1 };
const UNITS: SwarmUnit[] = [0, 1, 2, 3].map((id) => ({ id, pieces: [{ file: id, offset: 0, length: 10 }], bytes: 10 }));
const DIGEST = { alg: 'sha256new' as const, value: 'A'.repeat(52) };
const H4: Peer = { host: '10.0.0.2', port: 38339 };
const H6: Peer = { host: 'fe80::2%eth0', port: 38339 };
const K4: Peer = { host: '10.0.0.3', port: 38339 };
const K6: Peer = { host: 'fe80::3%eth0', port: 38339 };

/** A swarm started with `first`, whose fetcher keeps every unit in flight until the test ends it. */
function swarm(first: Peer) {
  const asked: UnitRequest[] = [];
  const actor = createActor(provideSwarmPorts({ fetchUnit: (req) => (asked.push(req), new Promise<void>(() => undefined)) }), {
    input: { units: UNITS, peers: [first], timing: TIMING, seed: 1 },
  });
  actor.start();
  return { actor, asked, peers: () => Object.values(actor.getSnapshot().context.peers).filter((p) => p.dropped === undefined).map((p) => p.peer.host) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

type ShareOptions = Parameters<typeof shareInFlight>[0];

/** machineOf from a table of peerKey → machine (live: a test may change it); an address it lacks is its own machine. */
const machinesOf = (machine: Record<string, string>) => (p: Peer) => machine[peerKey(p)] ?? peerKey(p);

/** shareInFlight over swarm `s`, its holders feed captured: `emit` hands it a holder. */
function share(s: ReturnType<typeof swarm>, opts: Omit<ShareOptions, 'digest' | 'files' | 'actor' | 'holders'>) {
  let feed: (p: Peer, partial?: boolean) => void = () => undefined;
  const stop = shareInFlight({ digest: DIGEST, files: UNITS.length, actor: s.actor, holders: (_, onPeer) => ((feed = onPeer), () => undefined), ...opts });
  return { stop, emit: (p: Peer, partial?: boolean) => feed(p, partial) };
}

describe('shareInFlight: one peer per machine', () => {
  it('keeps a machine’s other address on standby, adds other machines, and lets the standby in when its machine’s address is dropped', async () => {
    const machine: Record<string, string> = { [peerKey(H4)]: '#h', [peerKey(H6)]: '#h', [peerKey(K4)]: '#k', [peerKey(K6)]: '#k' };
    const s = swarm(H4);
    const { stop, emit } = share(s, {
      skip: (k) => k === peerKey(H4),
      machineOf: machinesOf(machine),
    });
    emit(H6);
    emit(K6, true);
    emit(K4, true);
    emit(K4); // K4 complete later: K6 is its machine's peer; K4 stays on standby
    expect(s.peers()).toEqual([H4.host, K6.host]);
    expect(s.asked.map((r) => r.peer.host)).not.toContain(H6.host);
    // H4 fails: its machine's other address takes its place, as a complete holder.
    const h4Unit = s.asked.find((r) => r.peer.host === H4.host)!;
    s.actor.send({ type: 'UNIT_FAILED', unit: h4Unit.unit.id, fault: 'failed', reason: 'connection reset', done: [] });
    await settle();
    expect(s.peers()).toEqual([K6.host, H6.host]);
    expect(s.actor.getSnapshot().context.peers[peerKey(H6)]!.has).toBeUndefined();
    stop();
    s.actor.stop();
  });

  it('without machineOf every address is its own peer (as before instance ids)', () => {
    const s = swarm(H4);
    const { stop, emit } = share(s, { skip: (k) => k === peerKey(H4) });
    emit(H6);
    expect(s.peers()).toEqual([H4.host, H6.host]);
    stop();
    s.actor.stop();
  });

  it('a standby address whose machine turns out to be another one joins at the next re-query', async () => {
    const machine: Record<string, string> = { [peerKey(H4)]: '#h', [peerKey(H6)]: '#h' };
    const s = swarm(H4);
    const requeried: string[] = [];
    const { stop, emit } = share(s, {
      skip: (k) => k === peerKey(H4),
      requery: () => requeried.push('q'),
      machineOf: machinesOf(machine),
      timing: { requery: 20, requeryMax: 80, havePoll: 60_000 },
    });
    emit(H6);
    expect(s.peers()).toEqual([H4.host]);
    delete machine[peerKey(H6)]; // say, H6 also claimed a second id: no longer known as H4's machine
    for (let i = 0; i < 50 && s.peers().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(requeried.length).toBeGreaterThan(0);
    expect(s.peers()).toEqual([H4.host, H6.host]);
    stop();
    s.actor.stop();
  });

  it('a dropped address is not brought back by its standby sibling when the sibling is to be skipped', async () => {
    const machine: Record<string, string> = { [peerKey(H4)]: '#h', [peerKey(H6)]: '#h' };
    const s = swarm(H4);
    const skipped = new Set([peerKey(H4)]);
    const { stop, emit } = share(s, {
      skip: (k) => skipped.has(k),
      machineOf: machinesOf(machine),
    });
    emit(H6);
    skipped.add(peerKey(H6)); // e.g. an earlier swarm of this digest dropped it
    const unit = s.asked.find((r) => r.peer.host === H4.host)!;
    s.actor.send({ type: 'UNIT_FAILED', unit: unit.unit.id, fault: 'lied', reason: 'bad hash', done: [] });
    await settle();
    expect(s.peers()).toEqual([]);
    stop();
    s.actor.stop();
  });
  it('sends the query again after 1, 2, 4, 8 intervals, then every requeryMax', () => {
    vi.useFakeTimers();
    try {
      const s = swarm(H4);
      const at: number[] = [];
      const { stop } = share(s, { skip: () => false, requery: () => at.push(Date.now()), timing: { requery: 100, requeryMax: 400, havePoll: 60_000 } });
      const t0 = Date.now();
      vi.advanceTimersByTime(2_000);
      expect(at.map((t) => t - t0)).toEqual([100, 200, 400, 800, 1200, 1600, 2000]);
      stop();
      vi.advanceTimersByTime(1_000);
      expect(at).toHaveLength(7);
      s.actor.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
