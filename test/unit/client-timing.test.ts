// The client's derived timing: three sends spread over the window, and the least time peers get
// after the first query when the window was counted from the process start (`0share run`).
import { describe, expect, it } from 'vitest';
import { discoveryTiming, listenAfterAsk } from '../../src/api/client-timing.js';

describe('client timing', () => {
  it('spreads three sends over the window', () => {
    expect(discoveryTiming({})).toEqual({ discoveryWindow: 250, maxSends: 3, retransmit: 83 });
    expect(discoveryTiming({ timeout: 600 }).retransmit).toBe(200);
  });

  it('after the query, leaves time for the first send and one resend to be answered, never more than the window', () => {
    expect(listenAfterAsk({})).toBe(100);
    for (const timeout of [1, 20, 250, 600, 10_000]) {
      const { retransmit, discoveryWindow } = discoveryTiming({ timeout });
      const after = listenAfterAsk({ timeout });
      expect(after).toBeLessThanOrEqual(discoveryWindow);
      if (retransmit < discoveryWindow) expect(after).toBeGreaterThan(retransmit);
    }
  });
});
