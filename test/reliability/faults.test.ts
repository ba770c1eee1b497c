/**
 * Issue #8 point 1, scaled down: the runtime as a child process against its simulator with 10% 5xx,
 * 5% dropped connections, answers slower than the call timeout and content-filtered prompts, then a
 * 429 storm and an outage of a (scaled) minute each. Every job ends final, a failure carries its
 * upstream reason, nothing is exported or written twice. The full run is `npm run bench:reliability`.
 */
import { describe, expect, it } from 'vitest';
import { runFaults } from '../../bench/reliability/scenarios.js';

describe('faults through the simulator and the local runtime', () => {
  it('ends every job completed or failed with its upstream reason, once', async () => {
    const result = await runFaults(
      { noiseJobs: 120, episodeJobs: 40, windowSeconds: 3, tokensPerMinute: 60_000, modelTimeoutSeconds: 2, seed: 8, timeoutMs: 90_000 },
      (line) => console.log(line),
    );
    const [noise, storm, outage] = result.phases;
    for (const phase of result.phases) {
      expect(phase.notFinal, phase.name).toBe(0);
      expect(phase.export).toMatchObject({ lines: phase.jobs, missing: 0, duplicateLines: 0, failedWithoutReason: 0, filterMismatches: 0 });
      expect(phase.writtenTwice, phase.name).toBe(0);
    }
    // The marked prompts (1 in 50) failed with the content filter's 400, and the faults really happened.
    expect(noise!.export.failedBy['content_filter']).toBe(2);
    expect(noise!.simulator.serverErrors).toBeGreaterThan(0);
    expect(noise!.simulator.drops).toBeGreaterThan(0);
    expect(storm!.simulator.storm).toBeGreaterThan(0);
    expect(outage!.simulator.outage).toBeGreaterThan(0);
    expect(result.orchestrations.Running).toBe(0);
  }, 170_000);
});
