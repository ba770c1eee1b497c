/** One run's figures (bench/figures.ts) from its raw facts (bench/runContender.ts), plus the chart's series. */
import { busiestWindow } from '../src/local/busiestWindow.js';
import { ContenderId } from './contender.js';
import {
  Admission,
  integrity,
  interactiveWaits,
  lastAnswered,
  meanWindowShare,
  median,
  percentile,
  steadyInterval,
  throttleCauses,
  utilizationFigures,
} from './figures.js';
import { IdealDrain } from './ideal.js';
import type { RawRun } from './runContender.js';
import { Scenario } from './scenarios.js';

export interface RunFigures {
  readonly contender: ContenderId;
  readonly scenario: Scenario['id'];
  readonly jobs: number;
  /** Standard: charged tokens per window; provisioned: used tokens per window; share of the quota, steady state. */
  readonly steadyShare: number | null;
  readonly steadyFromMs: number | null;
  readonly steadyToMs: number | null;
  /** Submission → the last job's answer in the caller's hands. */
  readonly drainMs: number | null;
  readonly idealDrainMs: number;
  readonly drainRatio: number | null;
  readonly calls: number;
  readonly throttled: number;
  readonly throttledPer100Calls: number;
  /** Standard: which window each 429 came from (replayed from the deployment's admissions). */
  readonly throttleCauses: { readonly tokenWindow: number; readonly requestWindow: number } | null;
  readonly lost: number;
  readonly duplicated: number;
  readonly interactive: { readonly count: number; readonly served: number; readonly p50Ms: number | null; readonly p95Ms: number | null; readonly maxMs: number | null } | null;
  readonly ptu: { readonly meanUtilization: number | null; readonly maxUtilization: number | null; readonly threshold: number } | null;
  /** Busiest rolling window of charged tokens, share of quota (standard). */
  readonly busiestWindowShare: number | null;
  /** Process CPU (contender + its simulator and recorder) per job. */
  readonly cpuMsPerJob: number;
  /** Submission → the deployment's first admission. */
  readonly firstAdmissionMs: number | null;
  /** The deployment's answer → the result in the caller's hands, median over jobs. */
  readonly afterAnswerP50Ms: number | null;
  readonly wallMs: number;
  readonly notes: Readonly<Record<string, string | number>>;
  /** [seconds since submission, share of quota in the trailing window (standard) or utilization (PTU)]. */
  readonly series: readonly (readonly [number, number])[];
}

/** JSON has no Infinity: a percentile that lands on a request never served is reported as -1. */
const finite = (value: number | null) => (value === null ? null : Number.isFinite(value) ? value : -1);

function occupancySeries(admissions: readonly Admission[], origin: number, endMs: number, windowMs: number, quota: number): [number, number][] {
  const step = windowMs / 30;
  const series: [number, number][] = [];
  for (let t = 0; t <= endMs + windowMs; t += step) {
    const at = origin + t;
    let sum = 0;
    for (const a of admissions) if (a.at <= at && a.at > at - windowMs) sum += a.tokens;
    series.push([Math.round(t) / 1000, sum / quota]);
  }
  return series;
}

export function summarize(raw: RawRun, scenario: Scenario, ideal: IdealDrain, chargeOf: (tag: string) => number | undefined): RunFigures {
  const W = scenario.windowMs;
  const quota = scenario.tokensPerWindow;
  const provisioned = scenario.mode === 'provisioned';
  const answered = raw.calls.filter((c) => c.status === 200 && c.tag !== null);
  // PTU buckets are charged what calls use; standard windows what they are estimated at admission.
  const admissions: Admission[] = provisioned ? answered.map((c) => ({ at: c.at, tokens: c.usedTokens ?? 0 })) : [...raw.admissions];
  const steady = steadyInterval(admissions, W);
  const ok = raw.outcomes.filter((o) => o.ok && o.doneAt !== null);
  const drainMs = ok.length > 0 ? Math.max(...ok.map((o) => o.doneAt!)) - raw.submittedAt : null;
  const throttled = raw.throttled.rate_limit + raw.throttled.overloaded;
  const interactiveTags = new Set(raw.outcomes.filter((o) => o.tag.startsWith('i')).map((o) => o.tag));
  const waits = interactiveWaits(raw.outcomes, raw.calls, (tag) => interactiveTags.has(tag));
  const last = lastAnswered(raw.calls);
  const afterAnswer = ok.flatMap((o) => {
    const call = last.get(o.tag);
    return call?.answeredAt != null ? [Math.max(0, o.doneAt! - call.answeredAt)] : [];
  });
  const firstAdmission = raw.admissions.length > 0 ? Math.min(...raw.admissions.map((a) => a.at)) - raw.submittedAt : null;
  const utilization = provisioned ? utilizationFigures(raw.utilization, steady?.from ?? -Infinity, steady?.to ?? Infinity) : null;
  const endMs = drainMs ?? raw.finishedAt - raw.submittedAt;
  return {
    contender: raw.contender,
    scenario: raw.scenario,
    jobs: raw.outcomes.length,
    steadyShare: steady ? meanWindowShare(admissions, steady.from, steady.to, W, quota) : null,
    steadyFromMs: steady ? steady.from - raw.submittedAt : null,
    steadyToMs: steady ? steady.to - raw.submittedAt : null,
    drainMs,
    idealDrainMs: ideal.lastAnswerMs,
    drainRatio: drainMs === null ? null : drainMs / ideal.lastAnswerMs,
    calls: raw.requests,
    throttled,
    throttledPer100Calls: raw.requests > 0 ? (throttled / raw.requests) * 100 : 0,
    throttleCauses: provisioned ? null : throttleCauses(raw.calls, raw.admissions, chargeOf, W, quota),
    ...integrity(raw.outcomes, raw.calls),
    interactive:
      waits.length > 0
        ? {
            count: waits.length,
            served: waits.filter(Number.isFinite).length,
            p50Ms: finite(percentile(waits, 0.5)),
            p95Ms: finite(percentile(waits, 0.95)),
            maxMs: finite(percentile(waits, 1)),
          }
        : null,
    ptu: utilization ? { meanUtilization: utilization.mean, maxUtilization: utilization.max, threshold: scenario.ptuThreshold ?? 1 } : null,
    busiestWindowShare: provisioned ? null : busiestWindow(raw.admissions, W) / quota,
    cpuMsPerJob: raw.cpuMs / Math.max(1, raw.outcomes.length),
    firstAdmissionMs: firstAdmission,
    afterAnswerP50Ms: median(afterAnswer),
    wallMs: raw.finishedAt - raw.startedAt,
    notes: raw.notes,
    series: provisioned
      ? raw.utilization.filter((_, i) => i % 10 === 0).map(([t, u]) => [Math.round(t - raw.submittedAt) / 1000, u] as const)
      : occupancySeries(admissions, raw.submittedAt, endMs, W, quota),
  };
}
