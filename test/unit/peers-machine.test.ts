// The peers machine with fake ports and a simulated clock: hellos repeated within the window,
// sightings merged per peer (every way it was found, the latest time), then each described;
// a peer that cannot be described keeps its sighting with the reason; the hello's answers and
// how much larger than the hello they are.
import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { HELLO, HELLO_REPLY, isHello, isHelloReply } from '../../src/core/protocol.js';
import { providePeersPorts, type PeerInfo, type Sighting } from '../../src/machines/peers.machine.js';
import type { Peer } from '../../src/machines/types.js';

const timing = { discoveryWindow: 250, retransmit: 80, maxSends: 3 };
const A: Peer = { host: '10.0.0.2', port: 38339 };
const B: Peer = { host: 'fe80::2%eth0', port: 38339 };

function run(describePeer: (p: Peer) => Promise<PeerInfo>) {
  const clock = new SimulatedClock();
  let hellos = 0;
  let deliver: ((s: Sighting) => void) | undefined;
  let now = 1000;
  const actor = createActor(
    providePeersPorts({
      hello: async () => void hellos++,
      heard: (on) => {
        deliver = on;
        return () => void (deliver = undefined);
      },
      describe: describePeer,
    }),
    { input: { timing, now: () => now }, clock },
  );
  actor.start();
  return { actor, clock, hellos: () => hellos, sight: (s: Sighting) => deliver?.(s), setNow: (t: number) => void (now = t) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('peers machine', () => {
  it('says hello maxSends times in the window, merges sightings, then describes every peer', async () => {
    const r = run(async (p) => (p === A || p.host === A.host ? { version: '0.1.0', implementations: 3 } : { version: '0.2.0', implementations: 0 }));
    await settle();
    r.sight({ peer: A, via: 'broadcast' });
    r.sight({ peer: B, via: 'multicast' });
    r.setNow(2000);
    r.sight({ peer: A, via: 'mdns', info: { version: '0.0.9' } });
    r.sight({ peer: A, via: 'broadcast' });
    for (let t = 0; t < 300; t += 10) {
      r.clock.increment(10);
      await settle();
    }
    await settle();
    expect(r.hellos()).toBe(3);
    const snap = r.actor.getSnapshot();
    expect(snap.status).toBe('done');
    const byHost = Object.fromEntries(snap.output!.peers.map((p) => [p.peer.host, p]));
    expect(byHost[A.host]).toMatchObject({ via: ['broadcast', 'mdns'], info: { version: '0.1.0', implementations: 3 }, lastSeen: 2000 });
    expect(byHost[B.host]).toMatchObject({ via: ['multicast'], info: { version: '0.2.0', implementations: 0 }, lastSeen: 1000 });
  });

  it('keeps a peer it could not describe, with what DNS-SD said and the reason', async () => {
    const r = run(async () => {
      throw new Error('GET /stats answered HTTP 404 (an older peer)');
    });
    await settle();
    r.sight({ peer: A, via: 'mdns', info: { version: '0.1.0', implementations: 7 } });
    r.clock.increment(300);
    await settle();
    await settle();
    const [p] = r.actor.getSnapshot().output!.peers;
    expect(p).toMatchObject({ info: { version: '0.1.0', implementations: 7 }, error: 'GET /stats answered HTTP 404 (an older peer)' });
  });

  it('ends at once, with what it has, on CANCEL', async () => {
    const r = run(async () => ({}));
    await settle();
    r.sight({ peer: A, via: 'static' });
    r.actor.send({ type: 'CANCEL' });
    expect(r.actor.getSnapshot().output!.peers.map((p) => p.via)).toEqual([['static']]);
  });
});

describe('hello datagrams', () => {
  it('are recognised with or without a trailing newline, and the answer is shorter than the hello', () => {
    expect(isHello(Buffer.from(HELLO))).toBe(true);
    expect(isHello(Buffer.from(`${HELLO}\n`))).toBe(true);
    expect(isHello(Buffer.from('0share\nsha1=00'))).toBe(false);
    expect(isHelloReply(Buffer.from(HELLO_REPLY))).toBe(true);
    expect(isHelloReply(Buffer.from(HELLO))).toBe(false);
    expect(HELLO_REPLY.length).toBeLessThan(HELLO.length);
  });
});
