/**
 * The gate's invariants over random arrival sequences, request sizes, priorities, settle timings,
 * 429s and configurations (in-flight limits, pacing and lease timeouts among them), 10,000 cases each,
 * checked against the brute-force models in reference.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AcquireDecision,
  GateConfig,
  GateState,
  Priority,
  acquire,
  bucketOf,
  bucketStart,
  effectiveCap,
  gateConfigFrom,
  inFlightCap,
  inFlightLimit,
  initialGateState,
  leaseMsOf,
  minIntervalOf,
  requestsPerRequestWindow,
  requestsPerTokenWindow,
  settle,
  status,
  toleranceBuckets,
  shareOf,
} from '../../../src/lib/gate/index.js';
import { BucketEvent, Grant, Lease, busiestInterval, closestStarts, earliestExpiry, levelsAt, liveAt, overfills, tooClose } from './reference.js';

// 10,000 cases per property in the suite; GATE_PROPERTY_RUNS searches harder (e.g. 200000) when changing the gate.
const RUNS = Number(process.env.GATE_PROPERTY_RUNS ?? 10_000);
const T0 = 1_700_000_000_000;

type Op =
  | { readonly kind: 'acquire'; readonly dt: number; readonly tokens: number; readonly priority: Priority }
  | {
      readonly kind: 'settle';
      readonly dt: number;
      readonly pick: number;
      readonly usedShare: number;
      readonly throttle: null | { readonly kind: 'rate_limit' | 'overloaded'; readonly retryAfterMs: number };
      readonly utilization: number | null;
    };

interface Scenario {
  readonly config: GateConfig;
  readonly ops: readonly Op[];
}

function scenarios(mode: 'standard' | 'provisioned', options: { rateLimits: boolean; headers: boolean }) {
  const config = fc
    .record({
      windowMs: fc.constantFrom(600, 1000, 6000, 60_000),
      buckets: fc.constantFrom(6, 12, 24, 60),
      tokensPerMinute: fc.integer({ min: 50, max: 20_000 }),
      requestsPerMinute: fc.integer({ min: 6, max: 300 }),
      horizonWindows: fc.double({ min: 0.2, max: 2, noNaN: true }),
      ptuMaxUtilization: fc.double({ min: 0.1, max: 1, noNaN: true }),
      interactiveReserve: fc.double({ min: 0, max: 0.6, noNaN: true }),
      toleranceWindows: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
      // Unset: derived from the quota; 0: off.
      maxInFlight: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 6 }) }),
      intervalWindows: fc.oneof(
        { weight: 2, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.double({ min: 0, max: 0.25, noNaN: true }) },
      ),
      leaseWindows: fc.double({ min: 0.05, max: 3, noNaN: true }),
    })
    .map((c) =>
      gateConfigFrom(
        {
          mode,
          tokensPerMinute: c.tokensPerMinute,
          requestsPerMinute: c.requestsPerMinute,
          windowMs: c.windowMs,
          horizonMs: Math.max(1, Math.round(c.windowMs * c.horizonWindows)),
          ptuMaxUtilization: c.ptuMaxUtilization,
          interactiveReserve: c.interactiveReserve,
          startToleranceMs: Math.round(c.windowMs * c.toleranceWindows),
          maxInFlight: c.maxInFlight,
          minIntervalMs: c.intervalWindows === undefined ? undefined : Math.round(c.windowMs * c.intervalWindows),
          leaseMs: Math.max(1, Math.round(c.windowMs * c.leaseWindows)),
        },
        c.buckets,
      ),
    );
  return config.chain((cfg) => {
    const dt = fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 5, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.floor(cfg.windowMs / 20)) }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: cfg.windowMs * 2 }) },
      // Long enough for leases to lapse.
      { weight: 1, arbitrary: fc.integer({ min: 0, max: cfg.windowMs * 4 }) },
    );
    const tokens = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.ceil(cfg.tokensPerMinute / 4)) }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: Math.ceil(cfg.tokensPerMinute * 1.1) }) },
    );
    const acquireOp = fc.record({
      kind: fc.constant('acquire' as const),
      dt,
      tokens,
      priority: fc.constantFrom<Priority>('batch', 'batch', 'interactive'),
    });
    const throttle = fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: options.rateLimits ? fc.constantFrom('rate_limit' as const, 'overloaded' as const) : fc.constant('overloaded' as const),
          retryAfterMs: fc.integer({ min: 0, max: cfg.windowMs }),
        }),
      },
    );
    const settleOp = fc.record({
      kind: fc.constant('settle' as const),
      dt,
      pick: fc.nat(),
      usedShare: fc.double({ min: 0, max: 1.5, noNaN: true }),
      throttle,
      utilization: options.headers ? fc.option(fc.double({ min: 0, max: 1.2, noNaN: true }), { freq: 3 }) : fc.constant(null),
    });
    return fc
      .array(fc.oneof({ weight: 3, arbitrary: acquireOp }, { weight: 1, arbitrary: settleOp }), { minLength: 1, maxLength: 24 })
      .map((ops): Scenario => ({ config: cfg, ops }));
  });
}

interface Decision {
  readonly now: number;
  readonly tokens: number;
  readonly priority: Priority;
  readonly interactivePresent: boolean;
  readonly pausedUntil: number;
  /** Leases live just before this acquire, by the reference's own count. */
  readonly liveBefore: number;
  /** Earliest expiry among them. */
  readonly expiryBefore: number | undefined;
  readonly before: readonly Grant[];
  readonly eventsBefore: readonly BucketEvent[];
  readonly result: AcquireDecision;
}

interface Run {
  readonly decisions: readonly Decision[];
  readonly grants: readonly Grant[];
  readonly leases: readonly Lease[];
  /** Live leases right after each grant. */
  readonly liveAfterGrants: readonly number[];
  readonly events: readonly BucketEvent[];
  readonly state: GateState;
}

/** Plays a scenario through the gate, recording what the reference models need. */
function play({ config, ops }: Scenario): Run {
  let state = initialGateState(T0, config);
  let now = T0;
  let pausedUntil = 0;
  let lastInteractive = Number.NEGATIVE_INFINITY;
  let seq = 0;
  const grants: Grant[] = [];
  const leases: Lease[] = [];
  const liveAfterGrants: number[] = [];
  const events: BucketEvent[] = [];
  const decisions: Decision[] = [];
  // A lease lasts leaseMs past the end of its start's bucket: the lifetime the gate promises.
  const expiryOf = (startAt: number) => bucketStart(bucketOf(startAt, config) + 1, config) + leaseMsOf(config);
  for (const op of ops) {
    now += op.dt;
    if (op.kind === 'acquire') {
      const before = [...grants];
      const eventsBefore = [...events];
      const liveBefore = liveAt(leases, now);
      const expiryBefore = earliestExpiry(leases, now);
      const step = acquire(state, now, { tokens: op.tokens, priority: op.priority }, config);
      state = step.state;
      // A request that can never be admitted is not interactive traffic.
      if (op.priority === 'interactive' && step.result.kind !== 'rejected') lastInteractive = now;
      decisions.push({
        now,
        tokens: op.tokens,
        priority: op.priority,
        interactivePresent: now - lastInteractive < config.windowMs,
        pausedUntil,
        liveBefore,
        expiryBefore,
        before,
        eventsBefore,
        result: step.result,
      });
      if (step.result.kind === 'granted') {
        grants.push({ startAt: step.result.startAt, tokens: op.tokens });
        leases.push({ grantedAt: now, startAt: step.result.startAt, expiresAt: expiryOf(step.result.startAt), settledAt: null });
        liveAfterGrants.push(liveAt(leases, now));
        events.push({ t: step.result.startAt, kind: 'add', amount: op.tokens, seq: seq++, rank: step.result.startAt > now ? 0 : 1 });
      }
    } else {
      // Each call settles once, after it has started, naming its slot.
      const open = leases.map((lease, i) => ({ lease, i })).filter(({ lease }) => lease.settledAt === null);
      const picked = open.length > 0 ? open[op.pick % open.length]! : undefined;
      const grant = picked ? grants[picked.i]! : undefined;
      if (grant && grant.startAt > now) now = grant.startAt;
      if (picked) leases[picked.i] = { ...picked.lease, settledAt: now };
      const charged = grant?.tokens ?? 0;
      const usedTokens = Math.round(charged * op.usedShare);
      state = settle(
        state,
        now,
        {
          charged,
          ...(grant ? { startAt: grant.startAt } : {}),
          usedTokens,
          ...(op.throttle ? { throttled: op.throttle } : {}),
          ...(op.utilization !== null ? { utilization: op.utilization } : {}),
        },
        config,
      );
      if (op.throttle) pausedUntil = Math.max(pausedUntil, now + op.throttle.retryAfterMs);
      events.push({ t: now, kind: 'add', amount: usedTokens - charged, seq: seq++, rank: 1 });
      if (op.utilization !== null) events.push({ t: now, kind: 'set', level: op.utilization * config.tokensPerMinute, seq: seq++, rank: 1 });
    }
  }
  return { decisions, grants, leases, liveAfterGrants, events, state };
}

/** Times the gate may hand out between `from` and `to`: `from` itself and every bucket start after it. */
function candidateTimes(from: number, to: number, config: GateConfig, includeFrom: boolean): number[] {
  const times = includeFrom && from < to ? [from] : [];
  for (let k = bucketOf(from, config) + 1; bucketStart(k, config) < to; k++) times.push(bucketStart(k, config));
  return times;
}

/** The last candidate, the first, and a spread between: the ones that can expose idle capacity. */
function sample(times: readonly number[]): number[] {
  if (times.length <= 10) return [...times];
  const picked = new Set<number>([times[0]!, times[times.length - 1]!]);
  for (let i = 1; i < 8; i++) picked.add(times[Math.floor((i * (times.length - 1)) / 8)]!);
  return [...picked];
}

const tokensOf = (g: Grant) => g.tokens;
const one = () => 1;

/** Where a start first clears an earlier start's pacing interval: where a paced slot can open up. */
function pacedCandidates(before: readonly Grant[], from: number, to: number, interval: number): number[] {
  if (interval === 0) return [];
  return before.map((g) => g.startAt + interval).filter((t) => t > from && t < to);
}

/**
 * The in-flight part of work conservation, for any decision: told `in_flight` only while the
 * caller's share of the limit really is held (and never past the earliest lease's lapse); any
 * other answer only while it is not.
 */
function checkInFlight(d: Decision, config: GateConfig): void {
  const cap = inFlightCap(d.priority, d.interactivePresent, config);
  if (d.result.kind === 'retry' && d.result.reason === 'in_flight') {
    expect(d.liveBefore, 'told in_flight below the limit').toBeGreaterThanOrEqual(cap);
    expect(d.expiryBefore).toBeDefined();
    expect(d.result.retryAt).toBeGreaterThan(d.now);
    expect(d.result.retryAt).toBeLessThanOrEqual(Math.ceil(d.expiryBefore!));
  } else if (d.result.kind === 'granted' || (d.result.kind === 'retry' && d.result.reason === 'beyond_horizon')) {
    expect(d.liveBefore, 'admitted at the in-flight limit').toBeLessThan(cap);
  }
}

describe('standard gate properties', () => {
  it('never admits more than TPM tokens in any token window, nor more than RPM/6 requests in any request window, even for calls sent as late as allowed', () => {
    fc.assert(
      fc.property(scenarios('standard', { rateLimits: true, headers: false }), (scenario) => {
        const { grants } = play(scenario);
        const { config } = scenario;
        // Calls sent up to the tolerance after their slots land in Azure's windows as if the windows were that much longer.
        const late = config.startToleranceMs;
        expect(busiestInterval(grants, config.windowMs + late, tokensOf)).toBeLessThanOrEqual(config.tokensPerMinute);
        expect(busiestInterval(grants, config.windowMs / 6 + late, one)).toBeLessThanOrEqual(requestsPerRequestWindow(config));
        expect(busiestInterval(grants, config.windowMs + late, one)).toBeLessThanOrEqual(requestsPerTokenWindow(config));
      }),
      { numRuns: RUNS },
    );
  });

  it('is work-conserving: a request waits only while its share is full (within one bucket of slack)', () => {
    fc.assert(
      fc.property(scenarios('standard', { rateLimits: false, headers: false }), (scenario) => {
        const { config } = scenario;
        // A run of buckets spans one bucket more than its window, plus the tolerance rounded up to whole buckets.
        const slack = ((1 + toleranceBuckets(config)) * config.windowMs) / config.bucketsPerWindow + 1;
        for (const d of play(scenario).decisions) {
          const share = shareOf(d.priority, d.interactivePresent, config);
          if (d.result.kind === 'rejected') {
            expect(d.tokens).toBeGreaterThan(config.tokensPerMinute);
            continue;
          }
          const earliest = Math.max(d.now, d.pausedUntil);
          const latest = d.now + config.horizonMs;
          if (d.result.kind === 'retry' && d.result.reason === 'paused') {
            expect(earliest).toBeGreaterThan(latest);
            continue;
          }
          checkInFlight(d, config);
          if (d.result.kind === 'retry' && d.result.reason === 'in_flight') continue;
          if (d.result.kind === 'granted') expect(d.result.startAt).toBeGreaterThanOrEqual(earliest);
          const until = d.result.kind === 'granted' ? d.result.startAt : latest + 1;
          const interval = minIntervalOf(config);
          const starts = d.before.map((g) => g.startAt);
          const tokenCap = effectiveCap(config.tokensPerMinute, Math.floor(config.tokensPerMinute * share), d.tokens);
          const requestCap = effectiveCap(requestsPerRequestWindow(config), Math.floor(requestsPerRequestWindow(config) * share), 1);
          const minuteCap = effectiveCap(requestsPerTokenWindow(config), Math.floor(requestsPerTokenWindow(config) * share), 1);
          // Free slots begin at the earliest time, at bucket starts and where a pacing interval ends.
          for (const t of [...sample(candidateTimes(earliest, until, config, true)), ...pacedCandidates(d.before, earliest, Math.min(until, latest + 1), interval)]) {
            const full =
              overfills(d.before, t, config.windowMs + slack, d.tokens, tokenCap, tokensOf) ||
              overfills(d.before, t, config.windowMs / 6 + slack, 1, requestCap, one) ||
              overfills(d.before, t, config.windowMs + slack, 1, minuteCap, one) ||
              tooClose(starts, t, interval);
            expect(full, `a slot at ${t - d.now} ms was free but the request was told ${JSON.stringify(d.result)}`).toBe(true);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('provisioned gate properties', () => {
  // The gate allows itself a billionth of the capacity for rounding: the threshold check grants it
  // twice that, the work-conservation check a tenth of it.

  it('never admits above its utilization threshold by its own estimate', () => {
    fc.assert(
      fc.property(scenarios('provisioned', { rateLimits: true, headers: true }), (scenario) => {
        const { config } = scenario;
        const capacity = config.tokensPerMinute;
        const rate = capacity / config.windowMs;
        for (const d of play(scenario).decisions) {
          if (d.result.kind !== 'granted') continue;
          const cap = effectiveCap(capacity, capacity * config.ptuMaxUtilization * shareOf(d.priority, d.interactivePresent, config), d.tokens);
          const startAt = d.result.startAt;
          const withGrant: BucketEvent[] = [
            ...d.eventsBefore,
            { t: startAt, kind: 'add', amount: d.tokens, seq: Number.MAX_SAFE_INTEGER, rank: startAt > d.now ? 0 : 1 },
          ];
          const probes = [startAt, ...d.before.filter((g) => g.startAt > startAt).map((g) => g.startAt)];
          const levels = levelsAt(withGrant, rate, probes);
          const before = levelsAt(d.eventsBefore, rate, probes);
          for (const p of probes) {
            // A later reservation already above the cap (a utilization header raised it) is not this grant's doing.
            if (p !== startAt && before.get(p)! > cap) continue;
            expect(levels.get(p)!).toBeLessThanOrEqual(cap + 2e-9 * capacity);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('is work-conserving: a request waits only while the bucket has no room for it', () => {
    fc.assert(
      fc.property(scenarios('provisioned', { rateLimits: false, headers: true }), (scenario) => {
        const { config } = scenario;
        const capacity = config.tokensPerMinute;
        const rate = capacity / config.windowMs;
        for (const d of play(scenario).decisions) {
          if (d.result.kind === 'rejected') {
            expect(d.tokens).toBeGreaterThan(capacity);
            continue;
          }
          const earliest = Math.max(d.now, d.pausedUntil);
          const latest = d.now + config.horizonMs;
          if (d.result.kind === 'retry' && d.result.reason === 'paused') continue;
          checkInFlight(d, config);
          if (d.result.kind === 'retry' && d.result.reason === 'in_flight') continue;
          const interval = minIntervalOf(config);
          const starts = d.before.map((g) => g.startAt);
          const cap = effectiveCap(capacity, capacity * config.ptuMaxUtilization * shareOf(d.priority, d.interactivePresent, config), d.tokens);
          const until = d.result.kind === 'granted' ? d.result.startAt : latest + 1;
          const candidates = sample(candidateTimes(earliest, Math.min(until, latest + 1), config, earliest === d.now));
          for (const t of candidates) {
            const probes = [t, ...d.before.filter((g) => g.startAt > t).map((g) => g.startAt)];
            const levels = levelsAt([...d.eventsBefore, { t, kind: 'add', amount: d.tokens, seq: Number.MAX_SAFE_INTEGER, rank: t > d.now ? 0 : 1 }], rate, probes);
            // Reserved starts sit on bucket boundaries here, so the boundaries are the candidates for pacing too.
            const overfull = probes.some((p) => levels.get(p)! > cap + 1e-10 * capacity) || tooClose(starts, t, interval);
            expect(overfull, `room at ${t - d.now} ms but the request was told ${JSON.stringify(d.result)}`).toBe(true);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('in-flight leases and pacing', () => {
  for (const mode of ['standard', 'provisioned'] as const) {
    it(`${mode}: never holds more than maxInFlight live leases, and never grants two starts closer than minIntervalMs`, () => {
      fc.assert(
        fc.property(scenarios(mode, { rateLimits: true, headers: mode === 'provisioned' }), (scenario) => {
          const { config } = scenario;
          const run = play(scenario);
          for (const live of run.liveAfterGrants) expect(live).toBeLessThanOrEqual(inFlightLimit(config));
          expect(closestStarts(run.grants.map((g) => g.startAt))).toBeGreaterThanOrEqual(minIntervalOf(config));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('a lease whose holder never settles is released by its timeout: the next acquire then succeeds', () => {
    fc.assert(
      fc.property(
        fc.record({
          mode: fc.constantFrom('standard' as const, 'provisioned' as const),
          maxInFlight: fc.integer({ min: 1, max: 5 }),
          // Longer than the arrivals take, so every lease is still held when the last is granted.
          leaseMs: fc.integer({ min: 10_001, max: 120_000 }),
          minIntervalMs: fc.integer({ min: 0, max: 500 }),
          gaps: fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 5, maxLength: 5 }),
          priority: fc.constantFrom<Priority>('batch', 'interactive'),
        }),
        ({ mode, maxInFlight, leaseMs, minIntervalMs, gaps, priority }) => {
          // Quota to spare, so only the in-flight limit can refuse.
          const config = gateConfigFrom({
            mode,
            tokensPerMinute: 1_000_000,
            requestsPerMinute: 60_000,
            windowMs: 60_000,
            horizonMs: 120_000,
            ptuMaxUtilization: 1,
            interactiveReserve: 0,
            startToleranceMs: 0,
            maxInFlight,
            minIntervalMs,
            leaseMs,
          });
          let state = initialGateState(T0, config);
          let now = T0;
          const leases: Lease[] = [];
          for (let i = 0; i < maxInFlight; i++) {
            now += gaps[i]!;
            const step = acquire(state, now, { tokens: 10, priority }, config);
            state = step.state;
            if (step.result.kind !== 'granted') throw new Error(`expected a grant, got ${JSON.stringify(step.result)}`);
            leases.push({ grantedAt: now, startAt: step.result.startAt, expiresAt: bucketStart(bucketOf(step.result.startAt, config) + 1, config) + leaseMs, settledAt: null });
          }
          // Every holder died: nobody settles. While all leases are held, the gate refuses and names a time
          // no later than the first lapse; at that lapse the slot is free again.
          const lapse = earliestExpiry(leases, now)!;
          if (lapse > now + 1) {
            const refused = acquire(state, lapse - 1, { tokens: 10, priority }, config).result;
            expect(refused).toMatchObject({ kind: 'retry', reason: 'in_flight' });
            if (refused.kind === 'retry') expect(refused.retryAt).toBeLessThanOrEqual(lapse);
          }
          const after = acquire(state, Math.max(now, lapse), { tokens: 10, priority }, config);
          expect(after.result.kind).toBe('granted');
          expect(status(after.state, Math.max(now, lapse), config).inFlight).toBe(liveAt(leases, Math.max(now, lapse)) + 1);
        },
      ),
      { numRuns: Math.max(100, Math.round(RUNS / 10)) },
    );
  });
});
