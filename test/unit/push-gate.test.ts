// PushGate, the backpressure the tar packer and the piece route share: push marks the gate blocked
// once the stream's buffer is full, drained waits until the stream reads again, and a closed
// stream or an aborted signal makes every step throw (the named message, or the abort reason).
import { describe, expect, it } from 'vitest';
import { PushGate } from '../../src/io/push-gate.js';

describe('PushGate', () => {
  it('blocks when the stream has enough and lets the producer on once it is read', async () => {
    const gate = new PushGate('the stream was closed');
    const big = Buffer.alloc(gate.out.readableHighWaterMark);
    gate.push(big);
    expect(gate.isBlocked).toBe(true);
    let on = false;
    const waiting = gate.drained().then(() => (on = true));
    await new Promise((r) => setImmediate(r));
    expect(on).toBe(false);
    gate.out.read();
    await waiting;
    expect(gate.isBlocked).toBe(false);
  });

  it('throws at the next step once the stream is destroyed, or the signal aborted', async () => {
    const gate = new PushGate('the stream was closed');
    gate.push(Buffer.alloc(gate.out.readableHighWaterMark));
    const waiting = gate.drained();
    gate.out.destroy();
    await expect(waiting).rejects.toThrow('the stream was closed');
    expect(() => gate.push(Buffer.from('x'))).toThrow('the stream was closed');
    const ac = new AbortController();
    const aborted = new PushGate('closed', ac.signal);
    ac.abort(new Error('stop'));
    expect(() => aborted.check()).toThrow('stop');
  });
});
