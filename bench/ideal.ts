/**
 * The ideal drain: when the last answer of the same jobs would arrive from a perfect client, one with no
 * overhead and no lateness that sends every call at the earliest moment the deployment allows, in
 * order. Computed with the simulator's own admission rules on a simulated clock, so it counts exactly
 * what the deployment counts (token and request windows, or the PTU bucket) and rounds nothing.
 *
 * Standard: charged tokens / quota, but packed as a rolling window admits them (the first window is
 * available at once; after that a job waits for earlier charges to expire).
 * Provisioned: the bucket is filled to the threshold by the client's estimate at admission and
 * corrected to the real usage when the call completes, as the gate does.
 */
import { createSimulatorRules, estimateRequest, RequestEstimate } from '../src/local/simulator/rules.js';
import { Scenario, requestsPerWindow } from './scenarios.js';
import { BenchRequest } from './workload.js';

export interface Latency {
  readonly baseMs: number;
  readonly perTokenMs: number;
}

/** The simulator's completion length: ceil(ratio × budget) per choice, at least 1, at most the budget. */
export const COMPLETION_RATIO = 0.2;

export function generatedTokens(estimate: RequestEstimate): number {
  return Math.min(estimate.maxTokens, Math.max(1, Math.ceil(COMPLETION_RATIO * estimate.maxTokens)));
}

export function latencyOf(estimate: RequestEstimate, latency: Latency): number {
  return latency.baseMs + latency.perTokenMs * generatedTokens(estimate);
}

export interface IdealDrain {
  /** Ms after submission of the last admission and of the last answer. */
  readonly lastAdmissionMs: number;
  readonly lastAnswerMs: number;
  /** Sum of the charges (the deployment's estimate of every job, once). */
  readonly chargedTokens: number;
  /** Sum of prompt + generated tokens. */
  readonly usedTokens: number;
}

export function idealDrain(scenario: Scenario, requests: readonly BenchRequest[], model: string, latency: Latency): IdealDrain {
  return scenario.mode === 'provisioned' ? idealProvisioned(scenario, requests, model, latency) : idealStandard(scenario, requests, model, latency);
}

function totals(requests: readonly BenchRequest[], model: string) {
  const estimates = requests.map((r) => estimateRequest(r, model));
  return {
    estimates,
    chargedTokens: estimates.reduce((sum, e) => sum + e.estimate, 0),
    usedTokens: estimates.reduce((sum, e) => sum + e.promptTokens + generatedTokens(e) * e.choices, 0),
  };
}

/** The perfect client on a standard deployment: each call in order at the earliest moment its rules admit it (ms from 0). */
export function inOrderAdmissions(scenario: Scenario, requests: readonly BenchRequest[], model: string): { at: number; estimate: RequestEstimate }[] {
  let now = 0;
  const rules = createSimulatorRules({
    mode: 'standard',
    tokensPerMinute: scenario.tokensPerWindow,
    requestsPerMinute: requestsPerWindow(scenario),
    windowMs: scenario.windowMs,
    model,
    clock: () => now,
  });
  return requests.map((request) => {
    for (;;) {
      const admission = rules.admit(request);
      if (admission.admitted) return { at: now, estimate: admission.estimate };
      now += admission.retryAfterMs;
    }
  });
}

function idealStandard(scenario: Scenario, requests: readonly BenchRequest[], model: string, latency: Latency): IdealDrain {
  const { chargedTokens, usedTokens } = totals(requests, model);
  const admissions = inOrderAdmissions(scenario, requests, model);
  const lastAnswerMs = Math.max(0, ...admissions.map(({ at, estimate }) => at + latencyOf(estimate, latency)));
  return { lastAdmissionMs: admissions.at(-1)?.at ?? 0, lastAnswerMs, chargedTokens, usedTokens };
}

function idealProvisioned(scenario: Scenario, requests: readonly BenchRequest[], model: string, latency: Latency): IdealDrain {
  let now = 0;
  const capacity = scenario.tokensPerWindow;
  const limit = (scenario.ptuThreshold ?? 1) * capacity;
  const rules = createSimulatorRules({ mode: 'provisioned', tokensPerMinute: capacity, requestsPerMinute: 1, windowMs: scenario.windowMs, model, clock: () => now });
  const { estimates, chargedTokens, usedTokens } = totals(requests, model);
  // Completions not yet applied, as [time, apply]; few at a time, so a sorted array is enough.
  let pending: { at: number; apply: () => void }[] = [];
  const settleUntil = (t: number) => {
    pending.sort((a, b) => a.at - b.at);
    while (pending.length > 0 && pending[0]!.at <= t) {
      const next = pending.shift()!;
      now = Math.max(now, next.at);
      next.apply();
    }
  };
  let lastAnswerMs = 0;
  requests.forEach((request, i) => {
    const estimate = estimates[i]!;
    for (;;) {
      settleUntil(now);
      const level = (rules.utilization() ?? 0) * capacity;
      if (level + estimate.estimate <= limit) break;
      const drainAt = now + ((level + estimate.estimate - limit) * scenario.windowMs) / capacity;
      const nextCompletion = pending.length > 0 ? Math.min(...pending.map((p) => p.at)) : Infinity;
      now = Math.min(drainAt, nextCompletion) + 1e-6;
    }
    const admission = rules.admit(request);
    if (!admission.admitted) throw new Error('ideal provisioned client was refused: the threshold is above 100%');
    const answerAt = now + latencyOf(estimate, latency);
    const actual = estimate.promptTokens + generatedTokens(estimate) * estimate.choices;
    pending.push({ at: answerAt, apply: () => rules.complete(admission, actual) });
    lastAnswerMs = Math.max(lastAnswerMs, answerAt);
  });
  pending = [];
  return { lastAdmissionMs: now, lastAnswerMs, chargedTokens, usedTokens };
}
