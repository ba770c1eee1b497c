/**
 * Issue #8 point 2, scaled down: kill -9 the runtime at random (seeded) moments during a batch, restart
 * it on the same data folder each time; every job ends with exactly one result. The simulator runs as
 * its own process, so it counts model calls made twice across the crashes (a call that finished but
 * whose result was lost); they are reported, not failed on: at-least-once activities allow them.
 */
import { describe, expect, it } from 'vitest';
import { runCrashes } from '../../bench/reliability/scenarios.js';

describe('kill -9 during a batch', () => {
  it('gives every job exactly one result after three crashes', async () => {
    const result = await runCrashes(
      { jobs: 150, kills: 3, windowSeconds: 3, tokensPerMinute: 9_000, seed: 8, minUpMs: 1500, maxUpMs: 4000, timeoutMs: 120_000 },
      (line) => console.log(line),
    );
    console.log(`crashes: ${result.kills} kill -9, ${result.duplicateModelCalls} duplicate model calls of ${result.modelCalls} calls`, result.duplicated);
    expect(result.kills).toBeGreaterThanOrEqual(1);
    expect(result.export).toMatchObject({ lines: 150, completed: 150, missing: 0, duplicateLines: 0 });
    expect(result.writtenTwice).toBe(0);
    expect(result.orchestrations).toEqual({ Running: 0, Completed: 150, Failed: 0 });
  }, 200_000);
});
