/**
 * Microbenchmark of the token gate: one core, no I/O, a simulated clock (the benchmark advances `now`
 * itself; nothing sleeps). Run with `npm run bench:gate`; BENCH_GATE_SECONDS sets the measured seconds
 * per scenario (default 4).
 *
 * One op is one acquire plus the settles of the calls that finished by then: a granted call is settled
 * once, after `startAt + latency` on the simulated clock, in grant order. In steady state that is one
 * acquire and about one settle; calls told to retry (or rejected) are never settled, so the table's
 * notes give settles per acquire.
 *
 * Before timing, each scenario runs once with a recorder (untimed, deterministic seed): the grants are
 * checked against brute-force models independent of the gate's buckets (standard: a grant may be sent
 * any time in [startAt, sendBy], and every half-open window of length W must hold at most TPM tokens
 * and RPM requests, every W/6 at most RPM/6 requests, whatever those send times; provisioned: a
 * continuous leaky bucket, charged at startAt, stays at or below ptuMaxUtilization), and the
 * serialized state is sampled for its size.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { GateConfig, GateConfigInput, gateConfigFrom, requestsPerRequestWindow, requestsPerTokenWindow } from '../src/lib/gate/config.js';
import { GateState, acquire, initialGateState, settle } from '../src/lib/gate/gate.js';
import { GateEntityState, GATE_OPERATIONS, runGateOperation } from '../src/lib/gate/operations.js';
import { AcquireDecision, SettleReport } from '../src/lib/gate/types.js';
import { grouped, markdownTable } from './table.js';
import { seededRandom } from '../src/local/simulator/prng.js';

// ---------------------------------------------------------------------------------------------------
// Knobs

const MEASURE_SECONDS = Number(process.env.BENCH_GATE_SECONDS ?? 4);
const ROUNDS = 4;
const WARMUP_MS = 500;
/** Steps between clock reads in the timed loop. */
const CHUNK = 64;
/** Acquires in the untimed, recorded check pass (also the JIT's warm-up). */
const CHECK_OPS = 40_000;
/** The check pass serializes the state every this many acquires to find the largest one. */
const SIZE_SAMPLE_EVERY = 4;
const EPOCH = Date.UTC(2025, 5, 1);
const WINDOW_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// The gate under test: the pure functions, or the entity path with its JSON round trip

interface Driver {
  acquire(now: number, tokens: number): AcquireDecision;
  settle(now: number, report: SettleReport): void;
  /** What the entity persists (the entity path: config and gate; otherwise the gate state). */
  persisted(): unknown;
  gate(): GateState;
}

class PureDriver implements Driver {
  private state: GateState;
  constructor(
    private readonly config: GateConfig,
    now: number,
  ) {
    this.state = initialGateState(now, config);
  }
  acquire(now: number, tokens: number): AcquireDecision {
    const step = acquire(this.state, now, { tokens, priority: 'batch' }, this.config);
    this.state = step.state;
    return step.result;
  }
  settle(now: number, report: SettleReport): void {
    this.state = settle(this.state, now, report, this.config);
  }
  persisted(): unknown {
    return this.state;
  }
  gate(): GateState {
    return this.state;
  }
}

/** runGateOperation as the durable entity calls it, with the state persisted (stringified) and reloaded (parsed) after every operation. */
class EntityDriver implements Driver {
  private stored: GateEntityState | undefined;
  private readonly defaults: () => GateConfig;
  constructor(config: GateConfig) {
    this.defaults = () => config;
  }
  private run(operation: string, input: unknown, now: number): unknown {
    const outcome = runGateOperation(this.stored, this.defaults, operation, input, now);
    if (!outcome.result.ok) throw new Error(`${operation} failed: ${outcome.result.error.code}: ${outcome.result.error.message}`);
    if (outcome.state === undefined) throw new Error(`${operation} left no state`);
    this.stored = JSON.parse(JSON.stringify(outcome.state)) as GateEntityState;
    return outcome.result.value;
  }
  acquire(now: number, tokens: number): AcquireDecision {
    return this.run(GATE_OPERATIONS.acquire, { tokens, priority: 'batch' }, now) as AcquireDecision;
  }
  settle(now: number, report: SettleReport): void {
    this.run(GATE_OPERATIONS.settle, report, now);
  }
  persisted(): unknown {
    return this.stored;
  }
  gate(): GateState {
    if (this.stored === undefined) throw new Error('no state yet');
    return this.stored.gate;
  }
}

// ---------------------------------------------------------------------------------------------------
// Workload

type Arrivals =
  /** Poisson arrivals, `perWindow` per window on average. */
  | { readonly kind: 'poisson'; readonly perWindow: number }
  /** `size` acquires at the same instant every `periodMs`. */
  | { readonly kind: 'burst'; readonly size: number; readonly periodMs: number };

interface Scenario {
  readonly id: string;
  readonly name: string;
  readonly config: GateConfig;
  readonly arrivals: Arrivals;
  readonly entity: boolean;
  readonly workload: string;
  readonly seed: number;
}

const MIN_TOKENS = 100;
const MAX_TOKENS = 2_000;
const MEAN_TOKENS = (MIN_TOKENS + MAX_TOKENS) / 2;
/** A call really uses this fraction of its charge (prompt + completion vs prompt + max_tokens). */
const USED_MIN = 0.5;
const USED_MAX = 1;
const MEAN_USED_TOKENS = MEAN_TOKENS * ((USED_MIN + USED_MAX) / 2);
/** Call duration once started: a fixed part plus per used token. */
const latencyMs = (used: number) => 500 + used * 3;

/** Granted calls waiting to finish, in grant order (parallel arrays with a moving head). */
class InFlight {
  private doneAt: number[] = [];
  private charged: number[] = [];
  private used: number[] = [];
  private counted: number[] = [];
  private head = 0;
  push(doneAt: number, charged: number, used: number, counted: number): void {
    this.doneAt.push(doneAt);
    this.charged.push(charged);
    this.used.push(used);
    this.counted.push(counted);
  }
  /** The oldest call, if it has finished by `now`. */
  due(now: number): boolean {
    return this.head < this.doneAt.length && this.doneAt[this.head]! <= now;
  }
  headCharged(): number {
    return this.charged[this.head]!;
  }
  headUsed(): number {
    return this.used[this.head]!;
  }
  /** What the gate counted for it (provisioned: its expected usage), reported back on settle. */
  headCounted(): number {
    return this.counted[this.head]!;
  }
  drop(): void {
    this.head++;
    if (this.head >= 4096 && this.head * 2 >= this.doneAt.length) {
      this.doneAt.splice(0, this.head);
      this.charged.splice(0, this.head);
      this.used.splice(0, this.head);
      this.counted.splice(0, this.head);
      this.head = 0;
    }
  }
}

interface Counts {
  acquires: number;
  settles: number;
  immediate: number;
  reserved: number;
  retry: number;
  rejected: number;
  waitMsTotal: number;
}
const zeroCounts = (): Counts => ({ acquires: 0, settles: 0, immediate: 0, reserved: 0, retry: 0, rejected: 0, waitMsTotal: 0 });

/** What the check pass records. Event ranks order same-instant events as the gate applies them. */
interface Recorder {
  /** Acquire time, start and charge of every grant. */
  readonly grantAt: number[];
  readonly grantStart: number[];
  readonly grantSendBy: number[];
  readonly grantTokens: number[];
  /** Provisioned level changes: at `t`, add `delta` (charge at start; used - charged at settle). */
  readonly events: { t: number; rank: number; seq: number; delta: number; isCharge: boolean }[];
  seq: number;
  maxBytes: number;
  maxBytesBuckets: { tokens: number; requests: number };
  maxBytesAt: number;
}

class Simulation {
  private t: number;
  now: number;
  private burstLeft = 0;
  private readonly rand: () => number;
  private readonly inFlight = new InFlight();
  counts: Counts = zeroCounts();
  readonly driver: Driver;

  constructor(
    readonly scenario: Scenario,
    private readonly recorder?: Recorder,
  ) {
    this.t = EPOCH;
    this.now = EPOCH;
    this.rand = seededRandom(scenario.seed);
    this.driver = scenario.entity ? new EntityDriver(scenario.config) : new PureDriver(scenario.config, EPOCH);
  }

  step(): void {
    const arrivals = this.scenario.arrivals;
    if (arrivals.kind === 'poisson') {
      this.t += (-Math.log(1 - this.rand()) * this.scenario.config.windowMs) / arrivals.perWindow;
    } else if (this.burstLeft === 0) {
      this.t += arrivals.periodMs;
      this.burstLeft = arrivals.size;
    }
    if (arrivals.kind === 'burst') this.burstLeft--;
    const now = (this.now = Math.floor(this.t));

    const tokens = MIN_TOKENS + Math.floor(this.rand() * (MAX_TOKENS - MIN_TOKENS + 1));
    const decision = this.driver.acquire(now, tokens);
    const c = this.counts;
    c.acquires++;
    const rec = this.recorder;
    if (decision.kind === 'granted') {
      if (decision.waitMs > 0) c.reserved++;
      else c.immediate++;
      c.waitMsTotal += decision.waitMs;
      const used = Math.round(tokens * (USED_MIN + (USED_MAX - USED_MIN) * this.rand()));
      const counted = decision.counted ?? tokens;
      this.inFlight.push(decision.startAt + latencyMs(used), tokens, used, counted);
      if (rec) {
        rec.grantAt.push(now);
        rec.grantStart.push(decision.startAt);
        rec.grantSendBy.push(decision.sendBy);
        rec.grantTokens.push(tokens);
        // A reservation joins the level when the clock reaches its bucket, before any operation at that instant.
        const immediate = decision.startAt === now;
        rec.events.push({ t: decision.startAt, rank: immediate ? 1 : 0, seq: rec.seq++, delta: counted, isCharge: true });
      }
    } else if (decision.kind === 'retry') {
      c.retry++;
    } else {
      c.rejected++;
    }

    while (this.inFlight.due(now)) {
      const charged = this.inFlight.headCharged();
      const used = this.inFlight.headUsed();
      const counted = this.inFlight.headCounted();
      this.inFlight.drop();
      this.driver.settle(now, { charged, usedTokens: used, ...(counted < charged ? { counted } : {}) });
      c.settles++;
      if (rec) rec.events.push({ t: now, rank: 1, seq: rec.seq++, delta: used - counted, isCharge: false });
    }

    if (rec && c.acquires % SIZE_SAMPLE_EVERY === 0) {
      const bytes = Buffer.byteLength(JSON.stringify(this.driver.persisted()));
      if (bytes > rec.maxBytes) {
        const gate = this.driver.gate();
        rec.maxBytes = bytes;
        rec.maxBytesBuckets = { tokens: gate.tokens.length, requests: gate.requests.length };
        rec.maxBytesAt = now;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Independent checks of the recorded grants

/**
 * Largest total weight of grants that may be sent inside one half-open interval [s, s + length), over
 * every s: grant i may be sent at any time in [start_i, sendBy_i], so it counts for s in
 * (start_i - length, sendBy_i]. The maximum is reached at some sendBy; a sweep finds it.
 */
function busiestInterval(starts: readonly number[], sendBys: readonly number[], weights: readonly number[], length: number): number {
  const byOpen = starts.map((_, i) => i).sort((a, b) => starts[a]! - starts[b]!);
  const byClose = starts.map((_, i) => i).sort((a, b) => sendBys[a]! - sendBys[b]!);
  let best = 0;
  let sum = 0;
  let opened = 0;
  let closed = 0;
  for (const j of byClose) {
    const x = sendBys[j]!;
    while (opened < byOpen.length && starts[byOpen[opened]!]! - length < x) sum += weights[byOpen[opened++]!]!;
    while (closed < byClose.length && sendBys[byClose[closed]!]! < x) sum -= weights[byClose[closed++]!]!;
    best = Math.max(best, sum);
  }
  return best;
}

interface CheckResult {
  readonly ok: boolean;
  readonly grants: number;
  readonly problems: string[];
  /** Standard: busiest W window / TPM, busiest W/6 window / (RPM/6). Provisioned: highest level / capacity. */
  readonly peakTokenWindow?: number;
  readonly peakRequestWindow?: number;
  readonly peakUtilization?: number;
  /** Whole windows from one window after the first acquire to the last grant's acquire. */
  readonly windowsMeasured: number;
  /** Tokens charged to start in those windows, per window, / TPM (provisioned: / capacity). */
  readonly quotaUsed: number;
  /** Standard: requests started in those windows / (windows × 6 × RPM/6). */
  readonly requestQuotaUsed?: number;
  readonly maxWaitMs: number;
}

function checkGrants(scenario: Scenario, rec: Recorder): CheckResult {
  const config = scenario.config;
  const problems: string[] = [];
  let maxWaitMs = 0;
  for (let i = 0; i < rec.grantStart.length; i++) {
    const wait = rec.grantStart[i]! - rec.grantAt[i]!;
    if (rec.grantSendBy[i]! !== rec.grantStart[i]! + config.startToleranceMs) {
      problems.push(`grant ${i}: sendBy ${rec.grantSendBy[i]} is not startAt ${rec.grantStart[i]} + startToleranceMs ${config.startToleranceMs}`);
    }
    maxWaitMs = Math.max(maxWaitMs, wait);
    if (wait < 0 || wait > config.horizonMs) {
      problems.push(`grant ${i} asked at ${rec.grantAt[i]} starts at ${rec.grantStart[i]} (outside [now, now + horizon])`);
      if (problems.length > 5) break;
    }
  }
  const order = rec.grantStart.map((_, i) => i).sort((a, b) => rec.grantStart[a]! - rec.grantStart[b]!);
  const starts = order.map((i) => rec.grantStart[i]!);
  const sendBys = order.map((i) => rec.grantSendBy[i]!);
  const tokens = order.map((i) => rec.grantTokens[i]!);
  // Throughput over whole windows from one window after the first acquire up to the last grant's acquire.
  const from = rec.grantAt[0]! + config.windowMs;
  const windows = Math.floor((rec.grantAt[rec.grantAt.length - 1]! - from) / config.windowMs);
  let insideTokens = 0;
  let insideRequests = 0;
  for (let i = 0; i < starts.length; i++) {
    if (starts[i]! >= from && starts[i]! < from + windows * config.windowMs) {
      insideTokens += tokens[i]!;
      insideRequests++;
    }
  }
  const quotaUsed = windows > 0 ? insideTokens / (windows * config.tokensPerMinute) : Number.NaN;
  if (config.mode === 'standard') {
    const ones = order.map(() => 1);
    const busiestTokens = busiestInterval(starts, sendBys, tokens, config.windowMs);
    const busiestRequests = busiestInterval(starts, sendBys, ones, config.windowMs / 6);
    const busiestWindowRequests = busiestInterval(starts, sendBys, ones, config.windowMs);
    const requestCap = requestsPerRequestWindow(config);
    const windowRequestCap = requestsPerTokenWindow(config);
    if (busiestTokens > config.tokensPerMinute) {
      problems.push(`a ${config.windowMs} ms window holds ${busiestTokens} tokens > TPM ${config.tokensPerMinute}`);
    }
    if (busiestRequests > requestCap) {
      problems.push(`a ${config.windowMs / 6} ms window holds ${busiestRequests} requests > ${requestCap}`);
    }
    if (busiestWindowRequests > windowRequestCap) {
      problems.push(`a ${config.windowMs} ms window holds ${busiestWindowRequests} requests > ${windowRequestCap}`);
    }
    return {
      ok: problems.length === 0,
      grants: starts.length,
      problems,
      peakTokenWindow: busiestTokens / config.tokensPerMinute,
      peakRequestWindow: busiestRequests / requestCap,
      windowsMeasured: windows,
      quotaUsed,
      requestQuotaUsed: windows > 0 ? insideRequests / (windows * 6 * requestCap) : Number.NaN,
      maxWaitMs,
    };
  }
  // Provisioned: replay a continuous leaky bucket (charge at start, correction at settle, drain C per W).
  const capacity = config.tokensPerMinute;
  const cap = capacity * config.ptuMaxUtilization;
  const events = [...rec.events].sort((a, b) => a.t - b.t || a.rank - b.rank || a.seq - b.seq);
  let level = 0;
  let t = events.length > 0 ? events[0]!.t : 0;
  let peak = 0;
  let over = 0;
  for (const e of events) {
    level = Math.max(0, level - (capacity * (e.t - t)) / config.windowMs);
    t = e.t;
    level = Math.max(0, level + e.delta);
    if (e.isCharge) {
      peak = Math.max(peak, level);
      if (level > cap * (1 + 1e-9) + 1e-6) over++;
    }
  }
  if (over > 0) problems.push(`${over} charges push the modelled level above ${config.ptuMaxUtilization} × capacity (peak ${(peak / capacity).toFixed(4)})`);
  return { ok: problems.length === 0, grants: starts.length, problems, peakUtilization: peak / capacity, windowsMeasured: windows, quotaUsed, maxWaitMs };
}

// ---------------------------------------------------------------------------------------------------
// Timing

interface Round {
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
}

function runFor(sim: Simulation, ms: number): Round {
  const limit = BigInt(Math.round(ms * 1e6));
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  let ops = 0;
  do {
    for (let i = 0; i < CHUNK; i++) sim.step();
    ops += CHUNK;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  const seconds = Number(elapsed) / 1e9;
  return { ops, seconds, opsPerSecond: ops / seconds };
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

function config(input: Partial<GateConfigInput> & Pick<GateConfigInput, 'mode' | 'tokensPerMinute' | 'requestsPerMinute'>): GateConfig {
  return gateConfigFrom({
    windowMs: WINDOW_MS,
    horizonMs: 2 * WINDOW_MS,
    ptuMaxUtilization: 0.7,
    interactiveReserve: 0.2,
    startToleranceMs: 1_000,
    ...input,
  });
}

const standardSteady = config({ mode: 'standard', tokensPerMinute: 1_000_000, requestsPerMinute: 10_000 });
const provisioned = config({ mode: 'provisioned', tokensPerMinute: 1_000_000, requestsPerMinute: 10_000, ptuMaxUtilization: 0.7 });
/** 10,000 requests of ~1,050 tokens need 10.5 M tokens a minute; 20 M leaves the request window binding. */
const requestBound = config({ mode: 'standard', tokensPerMinute: 20_000_000, requestsPerMinute: 10_000 });

/**
 * 97% of TPM: just below what the gate can admit (with 240 buckets and a 1 s start tolerance every charge
 * is held over 245 buckets, so ~98% of TPM), so the window stays full and bursts reserve future slots
 * without the queue growing without bound as it does at 100% (that case is (b)).
 */
const STEADY_LOAD = 0.97;
const steadyArrivals: Arrivals = { kind: 'poisson', perWindow: (STEADY_LOAD * standardSteady.tokensPerMinute) / MEAN_TOKENS };

const SCENARIOS: readonly Scenario[] = [
  {
    id: 'a',
    name: '(a) standard, steady full load',
    config: standardSteady,
    arrivals: steadyArrivals,
    entity: false,
    workload: `TPM 1M, RPM 10k, W 60 s, horizon 120 s, start tolerance 1 s; Poisson arrivals at ${STEADY_LOAD * 100}% of TPM (~${Math.round(steadyArrivals.perWindow)}/min), 100-2,000 tokens`,
    seed: 1,
  },
  {
    id: 'b',
    name: '(b) standard, deep backlog',
    config: standardSteady,
    arrivals: { kind: 'burst', size: 1_000, periodMs: 5_000 },
    entity: false,
    workload: 'the gate of (a), but bursts of 1,000 acquires at the same instant every 5 s (~12x the quota)',
    seed: 2,
  },
  {
    id: 'c',
    name: '(c) provisioned, ptuMaxUtilization 0.7',
    config: provisioned,
    arrivals: { kind: 'poisson', perWindow: (1.1 * provisioned.tokensPerMinute) / MEAN_USED_TOKENS },
    entity: false,
    workload:
      `capacity 1M tokens/window, W 60 s, horizon 120 s; Poisson arrivals (~${Math.round((1.1 * provisioned.tokensPerMinute) / MEAN_USED_TOKENS)}/min) ` +
      'whose used tokens (50-100% of the charge) are 1.1x the drain rate (at exactly 1x the level is a random walk that rarely reaches 0.7)',
    seed: 3,
  },
  {
    id: 'd',
    name: '(d) entity path (runGateOperation + JSON state round trip)',
    config: standardSteady,
    arrivals: steadyArrivals,
    entity: true,
    workload: 'workload (a) through runGateOperation; state JSON.stringify + JSON.parse after every operation',
    seed: 1,
  },
  {
    id: 'e',
    name: '(e) standard, full window at 10,000 RPM',
    config: requestBound,
    arrivals: { kind: 'poisson', perWindow: requestBound.requestsPerMinute },
    entity: false,
    workload: 'TPM 20M, RPM 10k (request window binds), W 60 s; Poisson arrivals at 10,000/min',
    seed: 5,
  },
  {
    id: 'f',
    name: '(f) standard, 10,000 RPM, window and horizon full',
    config: requestBound,
    arrivals: { kind: 'poisson', perWindow: 1.2 * requestBound.requestsPerMinute },
    entity: false,
    workload: 'as (e) with arrivals at 12,000/min, so reservations fill the 120 s horizon (largest state)',
    seed: 6,
  },
];

interface ScenarioResult {
  readonly id: string;
  readonly name: string;
  readonly workload: string;
  readonly config: GateConfig;
  readonly opsPerSecond: number;
  readonly usPerOp: number;
  readonly rounds: readonly Round[];
  readonly measured: Counts & { settlesPerAcquire: number; meanWaitMs: number; simulatedSeconds: number };
  readonly stateBytes: {
    readonly end: number;
    readonly endBuckets: { readonly tokens: number; readonly requests: number };
    readonly maxInCheckPass: number;
    readonly maxBuckets: { readonly tokens: number; readonly requests: number };
  };
  readonly check: CheckResult & { readonly acquires: number; readonly outcomes: Counts };
}

function runScenario(scenario: Scenario): ScenarioResult {
  // 1. Untimed check pass with a recorder (also warms the JIT up).
  const rec: Recorder = {
    grantAt: [],
    grantStart: [],
    grantSendBy: [],
    grantTokens: [],
    events: [],
    seq: 0,
    maxBytes: 0,
    maxBytesBuckets: { tokens: 0, requests: 0 },
    maxBytesAt: 0,
  };
  const checkSim = new Simulation(scenario, rec);
  const checkOps = scenario.entity ? CHECK_OPS / 4 : CHECK_OPS;
  for (let i = 0; i < checkOps; i++) checkSim.step();
  const check = { ...checkGrants(scenario, rec), acquires: checkSim.counts.acquires, outcomes: checkSim.counts };

  // 2. Timed: warm up, then several rounds on the same (ever-advancing) simulation.
  const sim = new Simulation(scenario);
  runFor(sim, WARMUP_MS);
  sim.counts = zeroCounts();
  const simStart = sim.now;
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(runFor(sim, (MEASURE_SECONDS * 1000) / ROUNDS));
  const ops = rounds.reduce((s, r) => s + r.ops, 0);
  const seconds = rounds.reduce((s, r) => s + r.seconds, 0);
  const c = sim.counts;
  const gate = sim.driver.gate();
  return {
    id: scenario.id,
    name: scenario.name,
    workload: scenario.workload,
    config: scenario.config,
    opsPerSecond: ops / seconds,
    usPerOp: (seconds * 1e6) / ops,
    rounds,
    measured: {
      ...c,
      settlesPerAcquire: c.settles / c.acquires,
      meanWaitMs: c.reserved + c.immediate > 0 ? c.waitMsTotal / (c.reserved + c.immediate) : 0,
      simulatedSeconds: (sim.now - simStart) / 1000,
    },
    stateBytes: {
      end: Buffer.byteLength(JSON.stringify(sim.driver.persisted())),
      endBuckets: { tokens: gate.tokens.length, requests: gate.requests.length },
      maxInCheckPass: rec.maxBytes,
      maxBuckets: rec.maxBytesBuckets,
    },
    check,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const pct = (x: number | undefined, digits = 1) => (x === undefined || Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(digits)}%`);

function notesOf(r: ScenarioResult): string {
  const m = r.measured;
  const share = (n: number) => pct(n / m.acquires, 0);
  const parts = [
    `grants ${share(m.immediate)} now / ${share(m.reserved)} later (mean wait ${(m.meanWaitMs / 1000).toFixed(1)} s), retry ${share(m.retry)}`,
    `settles/acquire ${m.settlesPerAcquire.toFixed(2)}`,
  ];
  const ch = r.check;
  if (r.config.mode === 'standard') {
    parts.push(
      `peak window ${pct(ch.peakTokenWindow)} of TPM, ${pct(ch.peakRequestWindow)} of RPM/6; ` +
        `admitted ${pct(ch.quotaUsed)} of TPM, ${pct(ch.requestQuotaUsed)} of RPM over ${ch.windowsMeasured} windows`,
    );
  } else {
    parts.push(`peak modelled utilization ${pct(ch.peakUtilization)}; charged ${pct(ch.quotaUsed)} of capacity per window over ${ch.windowsMeasured} windows`);
  }
  const minRound = Math.min(...r.rounds.map((x) => x.opsPerSecond));
  const maxRound = Math.max(...r.rounds.map((x) => x.opsPerSecond));
  parts.push(`rounds ${grouped(minRound)}-${grouped(maxRound)}/s`);
  parts.push(ch.ok ? 'checks ok' : `CHECK FAILED: ${ch.problems.join('; ')}`);
  return parts.join('; ');
}

function stateCell(r: ScenarioResult): string {
  const s = r.stateBytes;
  return `${grouped(s.end)} end (${s.endBuckets.tokens} buckets); max ${grouped(s.maxInCheckPass)} (${s.maxBuckets.tokens} buckets)`;
}

function main(): void {
  const started = performance.now();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`# Token gate microbenchmark\n`);
  console.log(`node ${process.version}, ${cpu}; ${MEASURE_SECONDS} s measured per scenario (${ROUNDS} rounds) after ${WARMUP_MS} ms warm-up\n`);

  const results: ScenarioResult[] = [];
  for (const scenario of SCENARIOS) {
    const result = runScenario(scenario);
    results.push(result);
    console.error(`  ${scenario.name}: ${grouped(result.opsPerSecond)} ops/s`);
  }

  const table = markdownTable(
    ['scenario', 'ops/s (acquire+settle pairs)', 'µs per op', 'state bytes', 'notes'],
    results.map((r) => [r.name, grouped(r.opsPerSecond), r.usPerOp.toFixed(2), stateCell(r), notesOf(r)]),
    ['left', 'right', 'right', 'left', 'left'],
  );
  console.log(table);
  console.log('');
  for (const r of results) console.log(`- ${r.name}: ${r.workload}`);
  console.log(
    '\nstate bytes = JSON.stringify of the persisted state (entity path: {config, gate}); "end" after the timed run, ' +
      `"max" the largest seen in the ${grouped(CHECK_OPS)}-acquire check pass (sampled every ${SIZE_SAMPLE_EVERY}); buckets = entries of state.tokens.`,
  );
  const failed = results.filter((r) => !r.check.ok);
  for (const r of failed) console.log(`\n**CHECK FAILED** ${r.name}:\n${r.check.problems.map((p) => `  - ${p}`).join('\n')}`);

  const totalSeconds = (performance.now() - started) / 1000;
  const dir = resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, 'gate.json');
  const json = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    cpu,
    measureSecondsPerScenario: MEASURE_SECONDS,
    rounds: ROUNDS,
    warmupMs: WARMUP_MS,
    checkOps: CHECK_OPS,
    opDefinition: 'one acquire plus the settles of the granted calls that finished by then (about one in steady state)',
    totalSeconds,
    scenarios: results.map((r) => ({ ...r, notes: notesOf(r) })),
  };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nwrote ${file} (${totalSeconds.toFixed(1)} s total)`);
  if (failed.length > 0) process.exitCode = 1;
}

main();
