/**
 * Issue #8 point 5, scaled down: a batch through the runtime with an instant model and a quota nothing
 * reaches, so what is measured is the pipeline's own pace. Reports jobs/s and peak RSS; no timing
 * assertion (shared CI machines are noisy). The 20,000-job figure comes from `npm run bench:reliability`.
 */
import { describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/reliability/scenarios.js';

describe('load with an instant model', () => {
  it('completes the batch and reports the pipeline throughput', async () => {
    const result = await runLoad({ jobs: 300, timeoutMs: 150_000 }, (line) => console.log(line));
    console.log(`load: ${result.jobs} jobs in ${result.seconds.toFixed(1)} s = ${result.jobsPerSecond.toFixed(1)} jobs/s, peak RSS ${((result.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MB`);
    expect(result.export).toMatchObject({ lines: 300, completed: 300, missing: 0, duplicateLines: 0 });
    expect(result.throttled).toBe(0);
  }, 180_000);
});
