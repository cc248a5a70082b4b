// ConnectionQueue: a connection's requests run one at a time in order, share one upload slot
// (kept while more wait, given back when none does or the connection closes), and a long queue
// stops the socket being read until it shrinks. A fake socket and slot counter stand in for I/O.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConnectionQueue } from '../../src/io/connection-queue.js';

function fakeSocket() {
  const s = Object.assign(new EventEmitter(), { paused: false, pause: () => void (s.paused = true), resume: () => void (s.paused = false) });
  return s;
}

function slots(max: number) {
  const state = { held: 0, taken: 0 };
  const acquire = () => {
    if (state.held >= max) return 'full' as const;
    state.held++;
    state.taken++;
    let done = false;
    return () => {
      if (!done) state.held--;
      done = true;
    };
  };
  return { state, acquire };
}

describe('ConnectionQueue', () => {
  it('runs requests in order, one at a time, within one slot given back when idle', () => {
    const sock = fakeSocket();
    const s = slots(1);
    const q = new ConnectionQueue(sock as unknown as Socket, s.acquire);
    const ran: number[] = [];
    const dones: Array<() => void> = [];
    for (let i = 0; i < 3; i++) {
      q.enqueue((done) => {
        ran.push(i);
        expect(q.acquireUpload()).toBeDefined();
        dones.push(done);
      });
    }
    expect(ran).toEqual([0]);
    expect(s.state).toEqual({ held: 1, taken: 1 });
    dones[0]!();
    dones[0]!(); // twice is once
    expect(ran).toEqual([0, 1]);
    dones[1]!();
    expect(ran).toEqual([0, 1, 2]);
    expect(s.state).toEqual({ held: 1, taken: 1 }); // the same slot throughout
    dones[2]!();
    expect(s.state.held).toBe(0);
  });

  it('at the cap the answer is the refusal', () => {
    const other = slots(1);
    other.acquire(); // another connection holds the only slot
    const q = new ConnectionQueue(fakeSocket() as unknown as Socket, other.acquire);
    let got: unknown = 'unset';
    q.enqueue(() => (got = q.acquireUpload()));
    expect(got).toBe('full');
  });

  it('stops reading at 32 waiting requests and reads again below 8', () => {
    const sock = fakeSocket();
    const q = new ConnectionQueue(sock as unknown as Socket, slots(8).acquire);
    const dones: Array<() => void> = [];
    for (let i = 0; i < 33; i++) q.enqueue((done) => dones.push(done));
    expect(sock.paused).toBe(true); // one running, 32 waiting
    while (dones.length < 25) dones[dones.length - 1]!();
    expect(sock.paused).toBe(true);
    dones[dones.length - 1]!(); // 7 left waiting
    expect(sock.paused).toBe(false);
  });

  it('closing the connection drops the waiting requests and gives the slot back', () => {
    const sock = fakeSocket();
    const s = slots(1);
    const q = new ConnectionQueue(sock as unknown as Socket, s.acquire);
    const ran: number[] = [];
    let first: () => void = () => {};
    q.enqueue((done) => {
      ran.push(0);
      q.acquireUpload();
      first = done;
    });
    q.enqueue(() => ran.push(1));
    sock.emit('close');
    expect(s.state.held).toBe(0);
    first();
    q.enqueue(() => ran.push(2));
    expect(ran).toEqual([0]);
  });
});
