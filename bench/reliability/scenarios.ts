/**
 * The reliability scenarios of issue #8 (faults, crashes, load), each driving the local runtime as a
 * child process and returning what it measured. `npm run bench:reliability` runs them at full size;
 * the tests in test/reliability run them scaled down and assert on the same results.
 *
 * Time is scaled as in the demos: one window (GATE_WINDOW_SECONDS) stands for Azure's minute, and the
 * retry policy's defaults (1 s first backoff, 60 s ceiling) are scaled by the same factor, so "down for
 * a minute" or "retry-after 30 s" mean what they would on Azure against the app's own defaults.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../src/local/simulator/prng.js';
import type { SimulatorFaultState, SimulatorSummary } from '../../src/local/simulator/server.js';
import { batchStatus, checkExport, ExportCheck, exportResults, finalWrites, requestsFor, sleep, submit, waitForBatch, writtenTwice } from './batch.js';
import { ChildService, startRuntime, startSimulatorProcess } from './processes.js';

export interface LocalStatus {
  readonly simulator: SimulatorSummary | null;
  readonly orchestrations: Readonly<Record<'Running' | 'Completed' | 'Failed', number>>;
  readonly recovered: Readonly<Record<string, number>>;
}

/** A data folder removed at the end of the run unless RELIABILITY_KEEP_DATA is set. */
function dataDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'tokengate-reliability-'));
  return { path, remove: () => (process.env.RELIABILITY_KEEP_DATA ? undefined : rmSync(path, { recursive: true, force: true })) };
}

/** Settings for one scaled run: `windowSeconds` stands for a minute. */
function scaledEnv(windowSeconds: number, extra: Record<string, string>): Record<string, string> {
  const scale = windowSeconds / 60;
  return {
    GATE_WINDOW_SECONDS: String(windowSeconds),
    GATE_START_TOLERANCE_MS: '300',
    JOB_RETRY_BASE_MS: String(Math.max(1, Math.round(1000 * scale))),
    JOB_RETRY_MAX_MS: String(Math.max(1, Math.round(60_000 * scale))),
    ...extra,
  };
}

const putFaults = (rt: ChildService, faults: Record<string, unknown>) =>
  rt.json<SimulatorFaultState>('/local/simulator/faults', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });

/** Waits until `share` of the batch is final (so a fault starts while work is in flight). */
async function untilShareFinal(rt: ChildService, batchId: string, total: number, share: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { counts, done } = await batchStatus(rt, batchId);
    if (done || (counts.completed ?? 0) + (counts.failed ?? 0) >= share * total) return;
    if (Date.now() > deadline) throw new Error(`batch ${batchId}: ${share * 100}% not final within ${timeoutMs} ms`);
    await sleep(200);
  }
}

// --- 1. faults -------------------------------------------------------------------------------------

export interface FaultsConfig {
  /** Jobs of the noise batch (random 5xx, drops, slow answers). */
  readonly noiseJobs: number;
  /** Jobs of the storm batch and of the outage batch, each. */
  readonly episodeJobs: number;
  readonly windowSeconds: number;
  readonly tokensPerMinute: number;
  readonly modelTimeoutSeconds: number;
  readonly seed: number;
  /** Per batch. */
  readonly timeoutMs: number;
}

export interface PhaseResult {
  readonly name: string;
  readonly jobs: number;
  readonly seconds: number;
  readonly export: ExportCheck;
  /** Jobs whose final result the store wrote more than once. */
  readonly writtenTwice: number;
  /** Jobs not final when the batch reported done (must be 0). */
  readonly notFinal: number;
  readonly simulator: Partial<SimulatorSummary>;
}

export interface FaultsResult {
  readonly phases: readonly PhaseResult[];
  readonly orchestrations: LocalStatus['orchestrations'];
}

const MARKER = '[[blocked-by-content-filter]]';

/** Simulator counters that changed between two summaries. */
function delta(before: SimulatorSummary, after: SimulatorSummary): Partial<SimulatorSummary> {
  const pick = ['requests', 'completed', 'serverErrors', 'drops', 'slow', 'abandoned', 'contentFiltered', 'outage', 'storm'] as const;
  const out: Record<string, unknown> = {};
  for (const key of pick) out[key] = after[key] - before[key];
  out['throttled'] = { rate_limit: after.throttled.rate_limit - before.throttled.rate_limit, overloaded: after.throttled.overloaded - before.throttled.overloaded };
  out['jobs'] = { answered: after.jobs.answered - before.jobs.answered, duplicates: after.jobs.duplicates - before.jobs.duplicates, duplicated: [] };
  return out as Partial<SimulatorSummary>;
}

export async function runFaults(config: FaultsConfig, log: (line: string) => void = () => undefined): Promise<FaultsResult> {
  const dir = dataDir();
  const timeoutMs = config.modelTimeoutSeconds * 1000;
  const rt = await startRuntime(
    dir.path,
    scaledEnv(config.windowSeconds, {
      GATE_TOKENS_PER_MINUTE: String(config.tokensPerMinute),
      MODEL_TIMEOUT_SECONDS: String(config.modelTimeoutSeconds),
      SIMULATOR_SEED: String(config.seed),
      SIMULATOR_LATENCY_BASE_MS: '20',
      SIMULATOR_LATENCY_PER_TOKEN_MS: '0.5',
    }),
  );
  const phases: PhaseResult[] = [];
  try {
    const status = () => rt.json<LocalStatus>('/local/status');
    const phase = async (name: string, jobs: number, during: (batchId: string) => Promise<void>) => {
      const requests = requestsFor(jobs, name, { marker: MARKER, filterEvery: 50 });
      const before = (await status()).simulator!;
      const started = Date.now();
      const { batchId } = await submit(rt, requests);
      await during(batchId);
      const done = await waitForBatch(rt, batchId, config.timeoutMs);
      const seconds = (Date.now() - started) / 1000;
      const lines = await exportResults(rt, batchId);
      const result: PhaseResult = {
        name,
        jobs,
        seconds,
        export: checkExport(lines, requests, MARKER),
        writtenTwice: writtenTwice(finalWrites(dir.path)),
        notFinal: jobs - (done.counts.completed ?? 0) - (done.counts.failed ?? 0),
        simulator: delta(before, (await status()).simulator!),
      };
      log(`faults/${name}: ${JSON.stringify({ seconds: result.seconds, export: result.export, simulator: result.simulator })}`);
      phases.push(result);
    };

    // 10% 5xx, 5% dropped connections, 3% answers slower than the call timeout, 1 in 50 prompts filtered.
    await putFaults(rt, { serverErrorRate: 0.1, dropRate: 0.05, slowRate: 0.03, slowMs: timeoutMs * 2, contentFilterMarker: MARKER });
    await phase('noise', config.noiseJobs, async () => undefined);
    await putFaults(rt, { serverErrorRate: 0, dropRate: 0, slowRate: 0 });

    // A 429 storm for one minute, every answer saying retry after half a minute.
    const minuteMs = config.windowSeconds * 1000;
    await phase('storm', config.episodeJobs, async (batchId) => {
      await untilShareFinal(rt, batchId, config.episodeJobs, 0.1, config.timeoutMs);
      await putFaults(rt, { storm: { retryAfterMs: minuteMs / 2 } });
      await sleep(minuteMs);
      await putFaults(rt, { storm: null });
    });

    // The endpoint down for a minute: 503s for the first half, connections closed unanswered for the second.
    await phase('outage', config.episodeJobs, async (batchId) => {
      await untilShareFinal(rt, batchId, config.episodeJobs, 0.1, config.timeoutMs);
      await putFaults(rt, { down: '503' });
      await sleep(minuteMs / 2);
      await putFaults(rt, { down: 'reset' });
      await sleep(minuteMs / 2);
      await putFaults(rt, { down: null });
    });
    return { phases, orchestrations: (await status()).orchestrations };
  } finally {
    await rt.stop();
    dir.remove();
  }
}

// --- 2. crashes ------------------------------------------------------------------------------------

export interface CrashConfig {
  readonly jobs: number;
  readonly kills: number;
  readonly windowSeconds: number;
  /** Low enough that the batch outlasts the kills. */
  readonly tokensPerMinute: number;
  readonly seed: number;
  /** A kill comes at a random moment between `minUpMs` and `maxUpMs` after the runtime is up. */
  readonly minUpMs: number;
  readonly maxUpMs: number;
  readonly timeoutMs: number;
}

export interface CrashResult {
  readonly jobs: number;
  readonly kills: number;
  /** Jobs final at each kill. */
  readonly finalAtKill: readonly number[];
  readonly seconds: number;
  readonly export: ExportCheck;
  readonly writtenTwice: number;
  /** 200 answers beyond one per job, counted by the simulator (which outlives the runtime). */
  readonly duplicateModelCalls: number;
  readonly duplicated: SimulatorSummary['jobs']['duplicated'];
  readonly modelCalls: number;
  readonly recovered: Readonly<Record<string, number>>[];
  readonly orchestrations: LocalStatus['orchestrations'];
}

export async function runCrashes(config: CrashConfig, log: (line: string) => void = () => undefined): Promise<CrashResult> {
  const dir = dataDir();
  const random = seededRandom(config.seed);
  const settings = scaledEnv(config.windowSeconds, { GATE_TOKENS_PER_MINUTE: String(config.tokensPerMinute) });
  // The model lives outside the runtime, as Azure does: it keeps its windows and counts across crashes.
  const simulator = await startSimulatorProcess({ ...settings, SIMULATOR_SEED: String(config.seed), SIMULATOR_LATENCY_BASE_MS: '30', SIMULATOR_LATENCY_PER_TOKEN_MS: '1' });
  const env = { ...settings, AZURE_OPENAI_ENDPOINT: simulator.url, AZURE_OPENAI_API_KEY: 'local-simulator' };
  const requests = requestsFor(config.jobs, 'crash');
  const writes = new Map<string, Set<string>>();
  const finalAtKill: number[] = [];
  const recovered: Record<string, number>[] = [];
  let rt = await startRuntime(dir.path, env);
  try {
    const started = Date.now();
    const { batchId } = await submit(rt, requests);
    while (finalAtKill.length < config.kills) {
      await sleep(config.minUpMs + random() * (config.maxUpMs - config.minUpMs));
      const { counts, done } = await batchStatus(rt, batchId);
      if (done) break;
      await rt.kill9();
      finalAtKill.push((counts.completed ?? 0) + (counts.failed ?? 0));
      log(`crash ${finalAtKill.length}: kill -9 with ${finalAtKill[finalAtKill.length - 1]} of ${config.jobs} final`);
      // Read before the restart compacts it away.
      finalWrites(dir.path, writes);
      rt = await startRuntime(dir.path, env);
      recovered.push((await rt.json<LocalStatus>('/local/status')).recovered);
    }
    await waitForBatch(rt, batchId, config.timeoutMs);
    const seconds = (Date.now() - started) / 1000;
    const lines = await exportResults(rt, batchId);
    finalWrites(dir.path, writes);
    const sim = await simulator.json<SimulatorSummary>('/simulator/stats');
    return {
      jobs: config.jobs,
      kills: finalAtKill.length,
      finalAtKill,
      seconds,
      export: checkExport(lines, requests),
      writtenTwice: writtenTwice(writes),
      duplicateModelCalls: sim.jobs.duplicates,
      duplicated: sim.jobs.duplicated,
      modelCalls: sim.requests,
      recovered,
      orchestrations: (await rt.json<LocalStatus>('/local/status')).orchestrations,
    };
  } finally {
    await rt.stop();
    await simulator.stop();
    dir.remove();
  }
}

// --- 5. load ---------------------------------------------------------------------------------------

export interface LoadConfig {
  readonly jobs: number;
  readonly timeoutMs: number;
}

export interface LoadResult {
  readonly jobs: number;
  readonly submitSeconds: number;
  /** From the first byte of the submission to the batch reported done. */
  readonly seconds: number;
  readonly jobsPerSecond: number;
  /** Peak resident set of the runtime process (VmHWM), bytes; null where /proc is missing. */
  readonly peakRssBytes: number | null;
  readonly export: ExportCheck;
  readonly simulatorCalls: number;
  readonly throttled: number;
}

export async function runLoad(config: LoadConfig, log: (line: string) => void = () => undefined): Promise<LoadResult> {
  const dir = dataDir();
  // An instant model and a quota nothing reaches: what is left is the pipeline's own pace.
  const rt = await startRuntime(dir.path, {
    GATE_WINDOW_SECONDS: '60',
    GATE_TOKENS_PER_MINUTE: '1000000000',
    GATE_REQUESTS_PER_MINUTE: '100000000',
    GATE_MIN_INTERVAL_MS: '0',
    SIMULATOR_LATENCY_BASE_MS: '0',
    SIMULATOR_LATENCY_PER_TOKEN_MS: '0',
    PRODUCER_MAX_ITEMS: String(Math.max(10_000, config.jobs)),
    PRODUCER_MAX_BODY_BYTES: String(Math.max(10_485_760, config.jobs * 400)),
  });
  try {
    const requests = requestsFor(config.jobs, 'load');
    const started = Date.now();
    const { batchId } = await submit(rt, requests);
    const submitSeconds = (Date.now() - started) / 1000;
    let lastLog = Date.now();
    const deadline = started + config.timeoutMs;
    for (;;) {
      const { counts, done } = await batchStatus(rt, batchId);
      if (done) break;
      if (Date.now() > deadline) throw new Error(`load batch not done after ${config.timeoutMs} ms: ${JSON.stringify(counts)}`);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(`load: ${JSON.stringify(counts)} after ${((Date.now() - started) / 1000).toFixed(0)} s, rss peak ${((rt.peakRss() ?? 0) / 2 ** 20).toFixed(0)} MB`);
      }
      await sleep(1000);
    }
    const seconds = (Date.now() - started) / 1000;
    const peakRssBytes = rt.peakRss();
    const lines = await exportResults(rt, batchId);
    const sim = (await rt.json<LocalStatus>('/local/status')).simulator!;
    return {
      jobs: config.jobs,
      submitSeconds,
      seconds,
      jobsPerSecond: config.jobs / seconds,
      peakRssBytes,
      export: checkExport(lines, requests),
      simulatorCalls: sim.requests,
      throttled: sim.throttled.rate_limit + sim.throttled.overloaded,
    };
  } finally {
    await rt.stop();
    dir.remove();
  }
}
