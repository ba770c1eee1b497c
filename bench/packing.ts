/**
 * How full can a rolling window be kept with these jobs at all? `npm run bench:packing` answers the
 * question behind issue #7's steady-state target by running, on a simulated clock against the
 * simulator's own admission rules, the same jobs in many orders through four schedulers:
 *
 * - `gate`: TokenGate's gate functions (src/lib/gate) with the bench's settings; jobs ask in the given
 *   order, retry when told, and every call reaches the deployment exactly at its granted start, which
 *   its settle reports as its send time (no runtime, no lateness: what the algorithm itself achieves).
 * - `in order`: the perfect client of the bench's ideal drain, each call in order at the earliest
 *   moment the deployment admits it.
 * - `largest fit, paced`: an omniscient scheduler that sees every job at once and, whenever the pace
 *   (one start per W/RPM, the gate's reading of Azure's one-second rule) allows, starts the largest job
 *   that fits now.
 * - `largest fit`: the same without the pace: the deployment's own rules only.
 *
 * Each figure is the bench's steady state (mean window occupancy between one window after the first
 * admission and one before the last). Orders: BENCH_PACKING_MIXES job mixes (the scenario's seed and the
 * next ones) × BENCH_PACKING_ORDERS orders each (as generated, then seeded shuffles).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings } from '../src/lib/config.js';
import { GateConfig, minIntervalOf } from '../src/lib/gate/config.js';
import { GateState, acquire, initialGateState, settle } from '../src/lib/gate/gate.js';
import { createSimulatorRules, estimateRequest, SimulatorRules } from '../src/local/simulator/rules.js';
import { seededRandom } from '../src/local/simulator/prng.js';
import { LATENCY, MODEL } from './deployment.js';
import { Admission, meanWindowShare, steadyInterval } from './figures.js';
import { generatedTokens, inOrderAdmissions, Latency, latencyOf } from './ideal.js';
import { Scenario, SCENARIOS, requestsPerWindow } from './scenarios.js';
import { markdownTable } from './table.js';
import { gateSettingsFor } from './tokengate.js';
import { BenchRequest, workloadFor } from './workload.js';

export interface Schedule {
  readonly admissions: readonly Admission[];
  /** 429s the deployment answered: a scheduler that keeps to its rules gets none. */
  readonly throttled: number;
}

export const SCHEDULERS = ['gate', 'in order', 'largest fit, paced', 'largest fit'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

function rulesFor(scenario: Scenario, clock: () => number): SimulatorRules {
  return createSimulatorRules({
    mode: 'standard',
    tokensPerMinute: scenario.tokensPerWindow,
    requestsPerMinute: requestsPerWindow(scenario),
    windowMs: scenario.windowMs,
    model: MODEL,
    clock,
  });
}

/** A time-ordered agenda for the simulated clock; ties run in the order they were added. */
class Agenda {
  private readonly events: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;
  now = 0;

  at(at: number, run: () => void): void {
    this.events.push({ at, seq: this.seq++, run });
  }

  run(): void {
    while (this.events.length > 0) {
      this.events.sort((x, y) => x.at - y.at || x.seq - y.seq);
      const next = this.events.shift()!;
      this.now = Math.max(this.now, next.at);
      next.run();
    }
  }
}

/** TokenGate's gate: asks 1 ms apart in `order`, retries when told, sends exactly at each granted start and says so when it settles. */
export function gateSchedule(scenario: Scenario, requests: readonly BenchRequest[], config: GateConfig, latency: Latency): Schedule {
  const agenda = new Agenda();
  agenda.now = 1_800_000_000_000;
  const rules = rulesFor(scenario, () => agenda.now);
  let state: GateState = initialGateState(agenda.now, config);
  const admissions: Admission[] = [];
  let throttled = 0;
  const ask = (request: BenchRequest, charge: number): void => {
    const step = acquire(state, agenda.now, { tokens: charge, priority: 'batch' }, config);
    state = step.state;
    const decision = step.result;
    if (decision.kind === 'rejected') throw new Error(`a job of ${charge} tokens can never be admitted`);
    if (decision.kind === 'retry') {
      agenda.at(Math.max(decision.retryAt, agenda.now + 1), () => ask(request, charge));
      return;
    }
    const { startAt } = decision;
    agenda.at(Math.max(agenda.now, startAt), () => {
      const sentAt = agenda.now;
      const admission = rules.admit(request);
      if (!admission.admitted) {
        throttled++;
        state = settle(state, agenda.now, { charged: charge, startAt, sentAt, throttled: { kind: admission.kind, retryAfterMs: admission.retryAfterMs } }, config);
        agenda.at(agenda.now + admission.retryAfterMs, () => ask(request, charge));
        return;
      }
      const { estimate } = admission;
      admissions.push({ at: agenda.now, tokens: estimate.estimate });
      const used = estimate.promptTokens + generatedTokens(estimate) * estimate.choices;
      agenda.at(agenda.now + latencyOf(estimate, latency), () => {
        state = settle(state, agenda.now, { charged: charge, startAt, sentAt, usedTokens: used }, config);
      });
    });
  };
  requests.forEach((request, n) => {
    // The gate is asked for the charge the deployment will take (the app computes it the same way).
    const charge = estimateOf(request);
    agenda.at(agenda.now + n, () => ask(request, charge));
  });
  agenda.run();
  return { admissions, throttled };
}

/** The perfect in-order client of the bench's ideal drain. */
export function inOrderSchedule(scenario: Scenario, requests: readonly BenchRequest[]): Schedule {
  return { admissions: inOrderAdmissions(scenario, requests, MODEL).map(({ at, estimate }) => ({ at, tokens: estimate.estimate })), throttled: 0 };
}

/**
 * The omniscient scheduler: every millisecond at which `paceMs` has passed since its last start, it
 * starts the largest waiting job that the deployment's token and request windows hold now.
 */
export function largestFitSchedule(scenario: Scenario, requests: readonly BenchRequest[], paceMs: number): Schedule {
  const charges = requests.map(estimateOf);
  const waiting = requests.map((_, i) => i);
  const admissions: Admission[] = [];
  const perRequestWindow = Math.max(1, Math.floor(requestsPerWindow(scenario) / 6));
  const requestWindowMs = scenario.windowMs / 6;
  let lastStart = Number.NEGATIVE_INFINITY;
  for (let now = 0; waiting.length > 0; now++) {
    if (now - lastStart < paceMs) continue;
    const held = admissions.reduce((sum, a) => (a.at > now - scenario.windowMs ? sum + a.tokens : sum), 0);
    const recent = admissions.reduce((n, a) => (a.at > now - requestWindowMs ? n + 1 : n), 0);
    if (recent >= perRequestWindow) continue;
    let pick = -1;
    for (let k = 0; k < waiting.length; k++) {
      const charge = charges[waiting[k]!]!;
      if (held + charge <= scenario.tokensPerWindow && (pick < 0 || charge > charges[waiting[pick]!]!)) pick = k;
    }
    if (pick < 0) continue;
    admissions.push({ at: now, tokens: charges[waiting[pick]!]! });
    waiting.splice(pick, 1);
    lastStart = now;
  }
  return { admissions, throttled: 0 };
}

function estimateOf(request: BenchRequest): number {
  return estimateRequest(request, MODEL).estimate;
}

export function steadyShareOf(schedule: Schedule, scenario: Scenario): number | null {
  const interval = steadyInterval(schedule.admissions, scenario.windowMs);
  return interval && meanWindowShare(schedule.admissions, interval.from, interval.to, scenario.windowMs, scenario.tokensPerWindow);
}

/** `requests` in a seeded random order (Fisher-Yates); seed 0 keeps the order. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  if (seed === 0) return out;
  const random = seededRandom(seed);
  for (let k = out.length - 1; k > 0; k--) {
    const m = Math.floor(random() * (k + 1));
    [out[k], out[m]] = [out[m]!, out[k]!];
  }
  return out;
}

export interface PackingCase {
  readonly mix: number;
  readonly order: number;
  readonly steady: Readonly<Record<SchedulerName, number | null>>;
  /** Ms from the first admission to the last. */
  readonly span: Readonly<Record<SchedulerName, number>>;
  readonly gateThrottled: number;
}

export function packingCase(scenario: Scenario, mix: number, order: number, config: GateConfig): PackingCase {
  const requests = shuffled(
    workloadFor({ ...scenario, seed: mix }).map((job) => job.request),
    order,
  );
  const schedules: Record<SchedulerName, Schedule> = {
    gate: gateSchedule(scenario, requests, config, LATENCY),
    'in order': inOrderSchedule(scenario, requests),
    'largest fit, paced': largestFitSchedule(scenario, requests, minIntervalOf(config)),
    'largest fit': largestFitSchedule(scenario, requests, 0),
  };
  const span = (s: Schedule) => {
    const times = s.admissions.map((a) => a.at);
    return Math.max(...times) - Math.min(...times);
  };
  const each = <T>(f: (s: Schedule) => T) => Object.fromEntries(SCHEDULERS.map((name) => [name, f(schedules[name])])) as Record<SchedulerName, T>;
  return { mix, order, steady: each((s) => steadyShareOf(s, scenario)), span: each(span), gateThrottled: schedules.gate.throttled };
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);

function main(): void {
  const scenario = SCENARIOS.find((s) => s.id === 'a')!;
  const config = loadSettings(gateSettingsFor(scenario)).gate;
  const mixes = Number(process.env.BENCH_PACKING_MIXES ?? 6);
  const orders = Number(process.env.BENCH_PACKING_ORDERS ?? 8);
  const started = Date.now();
  const cases: PackingCase[] = [];
  for (let m = 0; m < mixes; m++) for (let o = 0; o < orders; o++) cases.push(packingCase(scenario, scenario.seed + m, o, config));
  const summary = SCHEDULERS.map((name) => {
    const values = cases.map((c) => c.steady[name]).filter((v): v is number => v !== null);
    const spans = cases.map((c) => c.span[name]);
    return {
      scheduler: name,
      mean: values.reduce((a, b) => a + b, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      below97: values.filter((v) => v < 0.97).length,
      meanSpanMs: spans.reduce((a, b) => a + b, 0) / spans.length,
    };
  });
  const table = markdownTable(
    ['scheduler', 'steady state, mean', 'min', 'max', 'cases under 97%', 'first → last admission, mean'],
    summary.map((s) => [s.scheduler, pct(s.mean), pct(s.min), pct(s.max), `${s.below97} of ${cases.length}`, `${(s.meanSpanMs / 1000).toFixed(2)} s`]),
    ['left', 'right', 'right', 'right', 'right', 'right'],
  );
  const throttled = cases.reduce((n, c) => n + c.gateThrottled, 0);
  console.log(`${scenario.jobs} jobs per case, ${mixes} job mixes × ${orders} orders, ${scenario.windowMs / 1000} s window, ${scenario.tokensPerWindow} tokens per window`);
  console.log(table);
  console.log(`gate: ${throttled} 429s over all cases; ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const out = process.env.BENCH_OUT ?? join('bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'packing.json'),
    `${JSON.stringify({ generatedAt: new Date().toISOString(), scenario: scenario.id, jobs: scenario.jobs, windowMs: scenario.windowMs, tokensPerWindow: scenario.tokensPerWindow, gate: config, summary, cases, table }, null, 2)}\n`,
  );
  console.log(`wrote ${join(out, 'packing.json')}`);
}

if (process.argv[1] && /packing\.[jt]s$/.test(process.argv[1])) main();
