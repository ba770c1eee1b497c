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
  gateConfigFrom,
  idleBuckets,
  inFlightCap,
  inFlightLimit,
  initialGateState,
  leadBuckets,
  leaseMsOf,
  minIntervalOf,
  openingIntervalOf,
  pacingGridBuckets,
  requestsPerRequestWindow,
  requestsPerTokenWindow,
  settle,
  SENT_TRANSIT_BUCKETS,
  status,
  toleranceBuckets,
} from '../../../src/lib/gate/index.js';
import {
  BucketEvent,
  Grant,
  Lease,
  ReserveGeometry,
  leadOf,
  bucketAt,
  bucketBegin,
  closestStarts,
  earliestExpiry,
  heldToShare,
  levelsAt,
  liveAt,
  mostHeld,
  nearGrid,
  overfills,
  takesIdleCapacity,
  tooClose,
  tooCloseToSpans,
} from './reference.js';

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
      /** When the call went out, as a share of the tolerance after its start; null: not reported. */
      readonly sentLate: number | null;
      readonly throttle: null | { readonly kind: 'rate_limit' | 'overloaded'; readonly retryAfterMs: number };
      readonly utilization: number | null;
    };

interface Scenario {
  readonly config: GateConfig;
  readonly ops: readonly Op[];
}

function scenarios(mode: 'standard' | 'provisioned', options: { rateLimits: boolean; headers: boolean; throttles?: boolean; overuse?: boolean; reserve?: boolean }) {
  const config = fc
    .record({
      windowMs: fc.constantFrom(600, 1000, 6000, 60_000),
      buckets: fc.constantFrom(6, 12, 24, 60),
      tokensPerMinute: fc.integer({ min: 50, max: 20_000 }),
      requestsPerMinute: fc.integer({ min: 6, max: 300 }),
      // The reserve's own property needs a horizon that reaches its bound (up to a window and more).
      horizonWindows: options.reserve ? fc.double({ min: 1.5, max: 3, noNaN: true }) : fc.double({ min: 0.2, max: 2, noNaN: true }),
      ptuMaxUtilization: fc.double({ min: 0.1, max: 1, noNaN: true }),
      interactiveReserve: options.reserve ? fc.double({ min: 0.1, max: 0.6, noNaN: true }) : fc.double({ min: 0, max: 0.6, noNaN: true }),
      toleranceWindows: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
      // Unset: derived from the quota; 0: off.
      maxInFlight: options.reserve
        ? fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) })
        : fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 6 }) }),
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
    const dt = options.reserve
      ? // Batch pressure: mostly close together, so windows fill.
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(0) },
          { weight: 6, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.floor(cfg.windowMs / 50)) }) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: cfg.windowMs * 2 }) },
        )
      : fc.oneof(
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
    const acquireOp = options.reserve
      ? // Mostly batch, now and then a small interactive request.
        fc.oneof(
          {
            weight: 5,
            arbitrary: fc.record({
              kind: fc.constant('acquire' as const),
              dt,
              // Within batch's share, so the reserve is what batch leaves (a larger request may fill an empty
              // window alone); large and small, so windows fill and then pack tight.
              tokens: fc.oneof(
                fc.integer({ min: Math.max(1, Math.floor(cfg.tokensPerMinute / 10)), max: Math.max(1, Math.floor(cfg.tokensPerMinute / 4)) }),
                fc.integer({ min: 1, max: Math.max(1, Math.floor(cfg.tokensPerMinute / 30)) }),
              ),
              priority: fc.constant<Priority>('batch'),
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              kind: fc.constant('acquire' as const),
              dt,
              tokens: fc.integer({ min: 1, max: Math.max(1, Math.floor(cfg.tokensPerMinute / 10)) }),
              priority: fc.constant<Priority>('interactive'),
            }),
          },
        )
      : fc.record({
          kind: fc.constant('acquire' as const),
          dt,
          tokens,
          priority: fc.constantFrom<Priority>('batch', 'batch', 'interactive'),
        });
    const throttle =
      options.throttles === false
        ? fc.constant(null)
        : fc.oneof(
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
      usedShare: fc.double({ min: 0, max: options.overuse === false ? 1 : 1.5, noNaN: true }),
      sentLate: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 3 }),
      throttle,
      utilization: options.headers ? fc.option(fc.double({ min: 0, max: 1.2, noNaN: true }), { freq: 3 }) : fc.constant(null),
    });
    return fc
      // (A settle moves time to its call's start: rarer under the reserve's property, so batch piles up.)
      .array(fc.oneof({ weight: options.reserve ? 12 : 3, arbitrary: acquireOp }, { weight: 1, arbitrary: settleOp }), { minLength: 1, maxLength: options.reserve ? 40 : 24 })
      // The reserve's property: half the time interactive work is present from the start, so batch runs under it throughout.
      .chain((ops) => (options.reserve ? fc.boolean().map((first): Op[] => (first ? [{ kind: 'acquire', dt: 0, tokens: 1, priority: 'interactive' }, ...ops] : ops)) : fc.constant(ops)))
      .map((ops): Scenario => ({ config: cfg, ops }));
  });
}

/** A grant as the properties about priorities need it. */
interface Granted extends Grant {
  readonly priority: Priority;
  /** When it was granted, and whether interactive work was present then. */
  readonly at: number;
  readonly present: boolean;
  /** What the gate counted for it: the charge, or on a provisioned gate its expected usage. */
  readonly counted: number;
  /**
   * Standard: when its call went out, as its settle reported while the gate still held the charge; then
   * Azure holds it for a window from its arrival, up to a bucket (its trip) after this time; else the
   * gate assumes any time up to the tolerance late.
   */
  readonly sentAt?: number;
}

interface Decision {
  readonly now: number;
  readonly tokens: number;
  /** What a grant of it counts, by the README's rule (provisioned: the charge times the usage ratio). */
  readonly counted: number;
  /** How far ahead it may be booked: the horizon, or W/10 for provisioned batch work before any settle. */
  readonly horizonMs: number;
  /** Provisioned: what Azure holds above the count for calls in flight, which admission counts too. */
  readonly surplus: number;
  readonly priority: Priority;
  readonly interactivePresent: boolean;
  readonly pausedUntil: number;
  /** Leases live just before this acquire, by the reference's own count. */
  readonly liveBefore: number;
  /** Earliest expiry among them. */
  readonly expiryBefore: number | undefined;
  /** Of them, leases of interactive grants. */
  readonly interactiveLiveBefore: number;
  readonly before: readonly Granted[];
  readonly eventsBefore: readonly BucketEvent[];
  /**
   * Standard: batch starts before this keep the opening pace. The README's rule: a grant made while no
   * charge is in any window (none of the gate's buckets holds one) opens a window that lasts W from its
   * start; Infinity while idle (this grant would open one), -Infinity when no opening is ahead.
   */
  readonly openingUntil: number;
  readonly result: AcquireDecision;
}

interface Run {
  readonly decisions: readonly Decision[];
  readonly grants: readonly Granted[];
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
  const grants: Granted[] = [];
  const leases: Lease[] = [];
  const liveAfterGrants: number[] = [];
  const events: BucketEvent[] = [];
  const decisions: Decision[] = [];
  // Provisioned: what calls use of their charge, as settles show it (each moves it a fifth of the way).
  let usageRatio = 1;
  let learned = false;
  // Provisioned: the charge above the count of calls started and not settled (cleared while no lease is
  // live), and of reservations ahead, which join it at their start.
  let surplus = 0;
  let ahead: { t: number; amount: number }[] = [];
  let surplusAt = T0;
  // Drains like the level from the last operation to `at`; then the reservations started by `at` join.
  const fold = (at: number) => {
    surplus = Math.max(0, surplus - (config.tokensPerMinute * (at - surplusAt)) / config.windowMs);
    surplusAt = at;
    surplus += ahead.filter((a) => a.t <= at).reduce((sum, a) => sum + a.amount, 0);
    ahead = ahead.filter((a) => a.t > at);
  };
  const quietLeadMs = Math.ceil((leadBuckets(config, false) * config.windowMs) / config.bucketsPerWindow);
  const countedFor = (tokens: number) => (config.mode === 'provisioned' ? Math.min(tokens, Math.max(1, Math.ceil(tokens * usageRatio))) : tokens);
  // A lease lasts leaseMs past the end of its start's bucket: the lifetime the gate promises.
  const expiryOf = (startAt: number) => bucketStart(bucketOf(startAt, config) + 1, config) + leaseMsOf(config);
  // A charge stays in the gate's buckets for its window, one bucket and the tolerance's buckets (a sent
  // call's from its send time's bucket, which may be a later one).
  const keptFrom = (at: number) => bucketOf(at, config) - config.bucketsPerWindow - toleranceBuckets(config);
  const held = (g: Granted, at: number) => Math.max(bucketOf(g.startAt, config), g.sentAt === undefined ? -Infinity : bucketOf(g.sentAt, config)) >= keptFrom(at);
  let openingUntil = Number.NEGATIVE_INFINITY;
  for (const op of ops) {
    now += op.dt;
    if (op.kind === 'acquire') {
      const before = [...grants];
      const eventsBefore = [...events];
      const liveBefore = liveAt(leases, now);
      const expiryBefore = earliestExpiry(leases, now);
      const interactiveLiveBefore = liveAt(
        leases.filter((_, i) => grants[i]!.priority === 'interactive'),
        now,
      );
      if (liveBefore === 0) surplus = 0;
      fold(now);
      const surplusBefore = surplus;
      const idle = config.mode === 'standard' && !grants.some((g) => held(g, now));
      const openingBefore = idle ? Number.POSITIVE_INFINITY : openingUntil;
      const step = acquire(state, now, { tokens: op.tokens, priority: op.priority }, config);
      state = step.state;
      const counted = countedFor(op.tokens);
      if (step.result.kind === 'granted' && counted < op.tokens) {
        if (step.result.startAt === now) surplus += op.tokens - counted;
        else ahead.push({ t: step.result.startAt, amount: op.tokens - counted });
      }
      if (step.result.kind === 'granted') expect(step.result.counted ?? op.tokens).toBe(counted);
      // A request that can never be admitted is not interactive traffic.
      if (op.priority === 'interactive' && step.result.kind !== 'rejected') lastInteractive = now;
      const present = now - lastInteractive < config.windowMs;
      decisions.push({
        now,
        tokens: op.tokens,
        counted,
        surplus: surplusBefore,
        horizonMs: config.mode === 'provisioned' && !learned && op.priority === 'batch' ? Math.min(config.horizonMs, quietLeadMs) : config.horizonMs,
        priority: op.priority,
        interactivePresent: present,
        pausedUntil,
        liveBefore,
        expiryBefore,
        interactiveLiveBefore,
        before,
        eventsBefore,
        openingUntil: openingBefore,
        result: step.result,
      });
      if (step.result.kind === 'granted' && idle) openingUntil = step.result.startAt + config.windowMs;
      if (step.result.kind === 'granted') {
        grants.push({ startAt: step.result.startAt, tokens: op.tokens, priority: op.priority, at: now, present, counted });
        leases.push({ grantedAt: now, startAt: step.result.startAt, expiresAt: expiryOf(step.result.startAt), settledAt: null });
        liveAfterGrants.push(liveAt(leases, now));
        events.push({ t: step.result.startAt, kind: 'add', amount: counted, seq: seq++, rank: step.result.startAt > now ? 0 : 1 });
      }
    } else {
      // Each call settles once, after it has started, naming its slot.
      const open = leases.map((lease, i) => ({ lease, i })).filter(({ lease }) => lease.settledAt === null);
      const picked = open.length > 0 ? open[op.pick % open.length]! : undefined;
      const grant = picked ? grants[picked.i]! : undefined;
      if (grant && grant.startAt > now) now = grant.startAt;
      if (liveAt(leases, now) === 0) surplus = 0;
      fold(now);
      if (picked) leases[picked.i] = { ...picked.lease, settledAt: now };
      const charged = grant?.tokens ?? 0;
      const counted = grant?.counted ?? charged;
      if (counted < charged) surplus = Math.max(0, surplus - (charged - counted));
      const usedTokens = Math.round(charged * op.usedShare);
      // Sent between its start and its send-by, and before this settle.
      const sentAt = grant && op.sentLate !== null ? Math.min(now, grant.startAt + Math.round(op.sentLate * config.startToleranceMs)) : undefined;
      // The README's rule: taken by a standard gate with a tolerance, while the start's bucket is still kept.
      if (picked && sentAt !== undefined && config.mode === 'standard' && toleranceBuckets(config) > SENT_TRANSIT_BUCKETS && bucketOf(grant!.startAt, config) >= keptFrom(now)) {
        grants[picked.i] = { ...grant!, sentAt };
      }
      state = settle(
        state,
        now,
        {
          charged,
          ...(counted < charged ? { counted } : {}),
          ...(grant ? { startAt: grant.startAt } : {}),
          ...(sentAt !== undefined ? { sentAt } : {}),
          usedTokens,
          ...(op.throttle ? { throttled: op.throttle } : {}),
          ...(op.utilization !== null ? { utilization: op.utilization } : {}),
        },
        config,
      );
      if (op.throttle) pausedUntil = Math.max(pausedUntil, now + op.throttle.retryAfterMs);
      events.push({ t: now, kind: 'add', amount: usedTokens - counted, seq: seq++, rank: 1 });
      if (config.mode === 'provisioned' && charged > 0) {
        learned = true;
        usageRatio = Math.min(1, Math.max(0.05, usageRatio + 0.2 * (Math.min(1, usedTokens / charged) - usageRatio)));
      }
      // The README's rule: a header replaces the level unless a grant entered the bucket after the
      // answered call started (it may not be in the header): then it only raises it.
      const unseen = grant !== undefined && grants.some((g) => g.startAt > grant.startAt && g.startAt <= now);
      // Raised by what the header shows beyond the calls in flight at their whole charge.
      const observed = op.utilization === null ? 0 : op.utilization * config.tokensPerMinute;
      if (op.utilization !== null) events.push({ t: now, kind: unseen ? 'raise' : 'set', level: unseen ? observed - surplus : observed, seq: seq++, rank: 1 });
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
const geometry = (config: GateConfig): ReserveGeometry => ({
  windowMs: config.windowMs,
  buckets: config.bucketsPerWindow,
  lead: leadBuckets(config, true),
  quietLead: leadBuckets(config, false),
});

/**
 * The cap a request of `amount` is held to in a window of `span` buckets starting at time `start`:
 * the whole limit, or for batch work, where the README says so, its share (a request larger than its
 * share fits an otherwise empty window).
 */
function capFor(d: Decision, full: number, amount: number, span: number, config: GateConfig): number | ((start: number) => number) {
  const whole = full;
  if (d.priority === 'interactive') return whole;
  const share = Math.min(full, Math.max(Math.floor(full * (1 - config.interactiveReserve)), amount));
  return (start) => (heldToShare(bucketAt(start, geometry(config)), span, d.now, d.interactivePresent, geometry(config)) ? share : whole);
}

/** Where the interactive pacing grid ends a zone batch work must avoid beyond its look-ahead. */
function gridCandidates(from: number, to: number, config: GateConfig): number[] {
  const grid = pacingGridBuckets(config);
  const interval = minIntervalOf(config);
  if (grid === 0) return [];
  const out: number[] = [];
  for (let k = Math.floor(bucketOf(from, config) / grid) * grid; bucketStart(k, config) < to && out.length < 50; k += grid) {
    const t = bucketStart(k, config) + interval;
    if (t > from && t < to) out.push(t);
  }
  return out;
}

/**
 * Provisioned: the level a request may bring the bucket to at time `t`: the threshold, or for batch
 * work from its look-ahead on, its share of it (a request larger than that may fill an empty bucket).
 */
function levelCapFor(d: Decision, config: GateConfig): (t: number) => number {
  const capacity = config.tokensPerMinute;
  const whole = Math.min(capacity, Math.max(capacity * config.ptuMaxUtilization, d.counted));
  if (d.priority === 'interactive') return () => whole;
  const share = Math.min(capacity, Math.max(capacity * config.ptuMaxUtilization * (1 - config.interactiveReserve), d.counted));
  const g = geometry(config);
  const from = bucketBegin(bucketAt(d.now, g) + leadOf(g, d.interactivePresent), g);
  return (t) => (t >= from ? share : whole);
}

/** Provisioned: the first time the batch share applies for a decision (probing there catches a level that drains past it). */
function shareFrom(d: Decision, config: GateConfig): number[] {
  if (d.priority === 'interactive') return [];
  const g = geometry(config);
  return [bucketBegin(bucketAt(d.now, g) + leadOf(g, d.interactivePresent), g)];
}

/** May batch work start at `t` as far as the pacing grid goes? Only outside the grid's zones beyond its look-ahead. */
function offGridFor(d: Decision, t: number, config: GateConfig): boolean {
  if (d.priority === 'interactive') return true;
  const g = geometry(config);
  return bucketAt(t, g) < bucketAt(d.now, g) + leadOf(g, d.interactivePresent) || !nearGrid(t, pacingGridBuckets(config), minIntervalOf(config), g);
}
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
  const cap = inFlightCap(d.priority, config);
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
        // Azure holds a call for its window from when it arrives: a sent call's up to a bucket (its trip)
        // after its send time, as its settle reported it; any other call may have been sent up to the
        // tolerance after its slot, so it is held as if the window were that much longer.
        const late = config.startToleranceMs;
        const trip = (SENT_TRANSIT_BUCKETS * config.windowMs) / config.bucketsPerWindow;
        const holds = (length: number, weight: (g: Grant) => number) =>
          grants.map((g) => (g.sentAt !== undefined ? { from: g.sentAt, to: g.sentAt + trip + length, weight: weight(g) } : { from: g.startAt, to: g.startAt + length + late, weight: weight(g) }));
        expect(mostHeld(holds(config.windowMs, tokensOf))).toBeLessThanOrEqual(config.tokensPerMinute);
        expect(mostHeld(holds(config.windowMs / 6, one))).toBeLessThanOrEqual(requestsPerRequestWindow(config));
        expect(mostHeld(holds(config.windowMs, one))).toBeLessThanOrEqual(requestsPerTokenWindow(config));
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
        const windowSpan = config.bucketsPerWindow + 1 + toleranceBuckets(config);
        const requestSpan = config.bucketsPerWindow / 6 + 1 + toleranceBuckets(config);
        for (const d of play(scenario).decisions) {
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
          const opening = openingIntervalOf(config);
          // Batch starts inside an opening keep the opening pace; past it, and for interactive work, the pace.
          const openingUntil = d.priority === 'batch' ? d.openingUntil : Number.NEGATIVE_INFINITY;
          const spacingAt = (t: number) => (t < openingUntil ? opening : interval);
          const starts = d.before.map((g) => g.startAt);
          if (d.result.kind === 'granted' && d.result.startAt < openingUntil) {
            expect(tooClose(starts, d.result.startAt, opening), 'an opening start closer than the opening pace').toBe(false);
          }
          const tokenCap = capFor(d, config.tokensPerMinute, d.tokens, windowSpan, config);
          // Batch booking ahead leaves what stood idle for half a window before its start (README).
          const share = Math.min(config.tokensPerMinute, Math.max(Math.floor(config.tokensPerMinute * (1 - config.interactiveReserve)), d.tokens));
          const runCap = (first: number) => (heldToShare(first, windowSpan, d.now, d.interactivePresent, geometry(config)) ? share : config.tokensPerMinute);
          const idleGeometry = {
            span: windowSpan,
            sentSpan: Math.min(windowSpan, windowSpan - toleranceBuckets(config) + SENT_TRANSIT_BUCKETS),
            idle: idleBuckets(config),
            // Beyond the look-ahead, and not before the earliest start (a pause): only capacity some work could use sooner.
            lead: Math.max(bucketOf(d.now, config) + leadOf(geometry(config), d.interactivePresent), bucketOf(earliest, config)),
          };
          const keepsIdle = (decision: Decision, t: number) =>
            takesIdleCapacity(decision.before, bucketOf(t, config), decision.tokens, idleGeometry, runCap, (at) => bucketOf(at, config));
          if (d.result.kind === 'granted' && d.priority === 'batch') {
            expect(keepsIdle(d, d.result.startAt), 'a batch booking took capacity that stood idle before it').toBe(false);
          }
          const requestCap = capFor(d, requestsPerRequestWindow(config), 1, requestSpan, config);
          const minuteCap = capFor(d, requestsPerTokenWindow(config), 1, windowSpan, config);
          // Free slots begin at the earliest time, at bucket starts, where a pacing interval ends and where a grid zone does.
          const ends = Math.min(until, latest + 1);
          for (const t of [
            ...sample(candidateTimes(earliest, until, config, true)),
            ...pacedCandidates(d.before, earliest, ends, interval),
            ...pacedCandidates(d.before, earliest, ends, opening),
            ...(openingUntil > earliest && openingUntil < ends ? [openingUntil] : []),
            ...sample(gridCandidates(earliest, ends, config)),
          ]) {
            const full =
              overfills(d.before, t, config.windowMs + slack, d.tokens, tokenCap, tokensOf) ||
              overfills(d.before, t, config.windowMs / 6 + slack, 1, requestCap, one) ||
              overfills(d.before, t, config.windowMs + slack, 1, minuteCap, one) ||
              tooCloseToSpans(starts, t, spacingAt(t), geometry(config)) ||
              !offGridFor(d, t, config) ||
              (d.priority === 'batch' && keepsIdle(d, t));
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
          const capAt = levelCapFor(d, config);
          const startAt = d.result.startAt;
          const withGrant: BucketEvent[] = [
            ...d.eventsBefore,
            { t: d.now, kind: 'add', amount: d.surplus, seq: Number.MAX_SAFE_INTEGER - 1, rank: 1 },
            { t: startAt, kind: 'add', amount: d.counted, seq: Number.MAX_SAFE_INTEGER, rank: startAt > d.now ? 0 : 1 },
          ];
          const probes = [startAt, ...d.before.filter((g) => g.startAt > startAt).map((g) => g.startAt), ...shareFrom(d, config).filter((t) => t > startAt)];
          const levels = levelsAt(withGrant, rate, probes);
          const before = levelsAt(d.eventsBefore, rate, probes);
          for (const p of probes) {
            // A later reservation already above the cap (a utilization header raised it) is not this grant's doing.
            if (p !== startAt && before.get(p)! > capAt(p)) continue;
            expect(levels.get(p)!).toBeLessThanOrEqual(capAt(p) + 2e-9 * capacity);
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
          const latest = d.now + d.horizonMs;
          if (d.result.kind === 'retry' && d.result.reason === 'paused') continue;
          checkInFlight(d, config);
          if (d.result.kind === 'retry' && d.result.reason === 'in_flight') continue;
          const interval = minIntervalOf(config);
          const starts = d.before.map((g) => g.startAt);
          const capAt = levelCapFor(d, config);
          const until = d.result.kind === 'granted' ? d.result.startAt : latest + 1;
          const candidates = sample(candidateTimes(earliest, Math.min(until, latest + 1), config, earliest === d.now));
          for (const t of candidates) {
            const probes = [t, ...d.before.filter((g) => g.startAt > t).map((g) => g.startAt), ...shareFrom(d, config).filter((p) => p > t)];
            const levels = levelsAt(
              [
                ...d.eventsBefore,
                { t: d.now, kind: 'add', amount: d.surplus, seq: Number.MAX_SAFE_INTEGER - 1, rank: 1 },
                { t, kind: 'add', amount: d.counted, seq: Number.MAX_SAFE_INTEGER, rank: t > d.now ? 0 : 1 },
              ],
              rate,
              probes,
            );
            // Reserved starts sit on bucket boundaries here, so the boundaries are the candidates for pacing too.
            const overfull =
              probes.some((p) => levels.get(p)! > capAt(p) + 1e-10 * capacity) || tooClose(starts, t, interval) || !offGridFor(d, t, config);
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

describe('interactive work never waits behind batch work', () => {
  /**
   * The bound the README states for an interactive request arriving at `now` (in the gate's buckets):
   * the first bucket k at or after the look-ahead whose windows (runs of `span` buckets) all begin at
   * or after the look-ahead of the last batch grant made while no interactive work was present; with
   * pacing, the first grid point from there that is also a pace past the look-ahead, or the one after
   * for each other interactive start that may block a point (each blocks at most one: points are over
   * two paces apart).
   */
  function interactiveBound(d: Decision, config: GateConfig, span: number, others: number): number {
    const g = geometry(config);
    // Batch granted while interactive work was present held the short look-ahead; granted in a quiet spell, the long one.
    const lead = (t: number) => bucketAt(t, g) + g.lead;
    const quietLead = (t: number) => bucketAt(t, g) + g.quietLead;
    const quiet = d.before.filter((x) => x.priority === 'batch' && !x.present).map((x) => x.at);
    const k = Math.max(lead(d.now), quiet.length > 0 ? quietLead(Math.max(...quiet)) + span - 1 : Number.NEGATIVE_INFINITY);
    const interval = minIntervalOf(config);
    const grid = pacingGridBuckets(config);
    if (interval === 0) return bucketBegin(k, g);
    const from = Math.max(bucketBegin(k, g), bucketBegin(lead(d.now), g) + interval);
    let point = Math.ceil(bucketAt(from, g) / grid) * grid;
    while (bucketBegin(point, g) < from) point += grid;
    return bucketBegin(point + others * grid, g);
  }

  /** Interactive work already granted that may share a window or a pace with this request. */
  const nearbyInteractive = (d: Decision, config: GateConfig) =>
    d.before.filter((x) => x.priority === 'interactive' && x.startAt >= d.now - 2 * config.windowMs - config.startToleranceMs);

  it('standard: a request within the reserve is granted a start no later than the stated bound', () => {
    let checked = 0;
    fc.assert(
      fc.property(scenarios('standard', { rateLimits: false, headers: false, throttles: false, reserve: true }), (scenario) => {
        const { config } = scenario;
        const windowSpan = config.bucketsPerWindow + 1 + toleranceBuckets(config);
        const run = play(scenario);
        for (const d of run.decisions) {
          if (d.priority !== 'interactive' || config.interactiveReserve === 0) continue;
          // Other interactive work that may share a window or a pace with it takes from the reserve first.
          const nearby = nearbyInteractive(d, config);
          const taken = nearby.reduce((sum, x) => sum + x.tokens, 0);
          const batch = d.before.filter((x) => x.priority === 'batch');
          const largest = Math.max(0, ...batch.map((x) => x.tokens));
          const share = (full: number) => Math.max(Math.floor(full * (1 - config.interactiveReserve)), 1);
          // Batch holds at most its share of every window the bound covers (or one larger request by itself).
          if (d.tokens + taken > config.tokensPerMinute - Math.max(share(config.tokensPerMinute), largest)) continue;
          if (1 + nearby.length > requestsPerRequestWindow(config) - share(requestsPerRequestWindow(config))) continue;
          if (1 + nearby.length > requestsPerTokenWindow(config) - share(requestsPerTokenWindow(config))) continue;
          if (d.interactiveLiveBefore + inFlightCap('batch', config) >= inFlightLimit(config)) continue;
          const bound = interactiveBound(d, config, windowSpan, nearby.length);
          if (bound > d.now + config.horizonMs) continue;
          checked++;
          expect(d.result, `bound ${bound - d.now} ms`).toMatchObject({ kind: 'granted' });
          if (d.result.kind === 'granted') expect(d.result.startAt, `bound ${bound - d.now} ms`).toBeLessThanOrEqual(bound);
        }
      }),
      { numRuns: RUNS },
    );
    expect(checked).toBeGreaterThan(RUNS / 2);
  });

  it('provisioned: a request within the reserve is granted a start no later than the stated bound', () => {
    let checked = 0;
    fc.assert(
      // No headers and no usage above the estimate: only the gate's own charges raise the level.
      fc.property(scenarios('provisioned', { rateLimits: false, headers: false, throttles: false, overuse: false, reserve: true }), (scenario) => {
        const { config } = scenario;
        const capacity = config.tokensPerMinute;
        const run = play(scenario);
        for (const d of run.decisions) {
          if (d.priority !== 'interactive' || config.interactiveReserve === 0) continue;
          const earlier = d.before.filter((x) => x.priority === 'interactive').reduce((sum, x) => sum + x.counted, 0);
          const largest = Math.max(0, ...d.before.filter((x) => x.priority === 'batch').map((x) => x.counted));
          const whole = Math.min(capacity, Math.max(capacity * config.ptuMaxUtilization, d.counted));
          const share = Math.max(capacity * config.ptuMaxUtilization * (1 - config.interactiveReserve), largest);
          // The level batch leaves from its look-ahead on, plus all interactive work ever and what Azure
          // holds for calls in flight above their count, has room for it.
          if (share + earlier + d.surplus + d.counted > whole - 1e-6 * capacity) continue;
          if (d.interactiveLiveBefore + inFlightCap('batch', config) >= inFlightLimit(config)) continue;
          // Not presence-based: every batch grant kept its share from its own look-ahead on, the longer
          // one when it was granted in a quiet spell (a span of one bucket: the level has no window).
          const bound = interactiveBound({ ...d, before: d.before.filter((x) => x.priority === 'interactive' || !x.present) }, config, 1, nearbyInteractive(d, config).length);
          if (bound > d.now + config.horizonMs) continue;
          checked++;
          expect(d.result, `bound ${bound - d.now} ms`).toMatchObject({ kind: 'granted' });
          if (d.result.kind === 'granted') expect(d.result.startAt, `bound ${bound - d.now} ms`).toBeLessThanOrEqual(bound);
        }
      }),
      { numRuns: RUNS },
    );
    expect(checked).toBeGreaterThan(RUNS / 20);
  });
});
