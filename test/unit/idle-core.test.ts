// idleCore reads Linux's count of runnable tasks; this test itself is one of them.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { idleCore } from '../../src/io/idle-core.js';

it('says no when runnable tasks fill the cores, yes otherwise', () => {
  const before = Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[3]!.split('/')[0]);
  const answer = idleCore();
  const after = Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[3]!.split('/')[0]);
  expect(before).toBeGreaterThanOrEqual(1);
  // The count moves between the reads; the answer must match one of them when they agree.
  if (before === after) expect(answer).toBe(before < availableParallelism());
  else expect(typeof answer).toBe('boolean');
});
