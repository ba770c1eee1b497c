/**
 * The four workloads of `npm run bench` (issue #7). Windows are shortened (GATE_WINDOW_SECONDS) so a
 * run takes seconds; every time constant that is a fraction of Azure's minute is scaled the same way.
 */

export type ScenarioId = 'a' | 'b' | 'c' | 'd';

export interface Scenario {
  readonly id: ScenarioId;
  readonly title: string;
  readonly mode: 'standard' | 'provisioned';
  /** Tokens per (scaled) minute: the standard quota, or the PTU capacity at 100%. */
  readonly tokensPerWindow: number;
  readonly windowMs: number;
  /** Batch jobs, all submitted at once. */
  readonly jobs: number;
  /** Producers (TokenGate) or worker instances with their own limiter (peers) sharing the deployment. */
  readonly producers: number;
  /** Provisioned: the utilization to stay under (TokenGate PTU_MAX_UTILIZATION). */
  readonly ptuThreshold: number | null;
  /** Interactive requests arriving while the batch drains (evenly spaced). */
  readonly interactive: { readonly count: number; readonly firstAtMs: number; readonly everyMs: number } | null;
  /** Seed of the job mix (the same jobs for every contender). */
  readonly seed: number;
}

export const WINDOW_MS = Number(process.env.BENCH_WINDOW_SECONDS ?? 6) * 1000;
export const TOKENS_PER_WINDOW = Number(process.env.BENCH_TOKENS_PER_WINDOW ?? 30_000);
/** BENCH_SCALE shrinks the job counts for a smoke run (0.2 → a fifth). */
export const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const JOBS = Math.max(20, Math.round(Number(process.env.BENCH_JOBS ?? 160) * SCALE));

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'a',
    title: '(a) standard, one batch',
    mode: 'standard',
    tokensPerWindow: TOKENS_PER_WINDOW,
    windowMs: WINDOW_MS,
    jobs: JOBS,
    producers: 1,
    ptuThreshold: null,
    interactive: null,
    seed: 7,
  },
  {
    id: 'b',
    title: '(b) standard, 4 producers',
    mode: 'standard',
    tokensPerWindow: TOKENS_PER_WINDOW,
    windowMs: WINDOW_MS,
    jobs: JOBS,
    producers: 4,
    ptuThreshold: null,
    interactive: null,
    seed: 7,
  },
  {
    id: 'c',
    title: '(c) provisioned, threshold 0.7',
    mode: 'provisioned',
    tokensPerWindow: TOKENS_PER_WINDOW,
    windowMs: WINDOW_MS,
    // A PTU bucket is charged what calls really use (about 60% of the estimate here), so the same
    // drain time takes more jobs.
    jobs: Math.round(JOBS * 1.5),
    producers: 1,
    ptuThreshold: 0.7,
    interactive: null,
    seed: 11,
  },
  {
    id: 'd',
    title: '(d) standard, interactive during a batch',
    mode: 'standard',
    tokensPerWindow: TOKENS_PER_WINDOW,
    windowMs: WINDOW_MS,
    jobs: JOBS,
    producers: 1,
    ptuThreshold: null,
    // From one window into the drain, every 0.15 window: present all through the steady state.
    interactive: { count: Math.max(5, Math.round(20 * SCALE)), firstAtMs: WINDOW_MS, everyMs: Math.round(WINDOW_MS * 0.15) },
    seed: 7,
  },
];

/** Azure's ratio for chat models: 6 RPM per 1,000 TPM (enforced per sixth of the window). */
export function requestsPerWindow(scenario: Scenario): number {
  return (scenario.tokensPerWindow / 1000) * 6;
}

/** A duration given in Azure's real minute (e.g. the cookbook's 15 s cooldown), scaled to the bench window. */
export function scaledFromMinute(scenario: Scenario, ms: number): number {
  return (ms * scenario.windowMs) / 60_000;
}
