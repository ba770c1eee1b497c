/**
 * Nested limits per named queue (issue #9): every queue within its own window, the deployment within its
 * quota, no queue starved by another that floods, and no needless wait. Checked against the brute-force
 * models in reference.ts (lists of grants, interval sums), never against the gate's buckets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AcquireDecision,
  AcquireQueue,
  GateConfig,
  Priority,
  acquire,
  gateConfigFrom,
  idleBuckets,
  initialGateState,
  leadBuckets,
  requestsPerRequestWindow,
  requestsPerTokenWindow,
  SENT_TRANSIT_BUCKETS,
  toleranceBuckets,
} from '../../../src/lib/gate/index.js';
import { Grant, ReserveGeometry, activeQueueCount, leadOf, bucketAt, bucketBegin, busiestInterval, fairShareCap, heldToShare, overfills, takesIdleCapacity } from './reference.js';

// Fewer cases than the single-queue properties: each plays more queues. GATE_PROPERTY_RUNS searches harder.
const RUNS = Math.max(50, Math.floor(Number(process.env.GATE_PROPERTY_RUNS ?? 10_000) / 5));
const T0 = 1_700_000_000_000;
const DEFAULT = '(default)';

type QueueSpec = AcquireQueue;

interface Ask {
  readonly dt: number;
  /** Index into the scenario's queues; -1: no queue. */
  readonly queue: number;
  readonly tokens: number;
  readonly priority: Priority;
}

interface Scenario {
  readonly config: GateConfig;
  readonly queues: readonly QueueSpec[];
  readonly asks: readonly Ask[];
}

interface QueuedGrant extends Grant {
  readonly queue: string;
}

interface Decision {
  readonly now: number;
  readonly ask: Ask;
  readonly queue: QueueSpec | undefined;
  /** Queues active right after this ask (by the reference's own count). */
  readonly active: number;
  readonly interactivePresent: boolean;
  readonly before: readonly QueuedGrant[];
  readonly result: AcquireDecision;
}

function configs(horizon: { min: number; max: number }, rpmMin: number, mode: 'standard' | 'provisioned' = 'standard') {
  return fc
    .record({
      windowMs: fc.constantFrom(600, 1000, 6000, 60_000),
      buckets: fc.constantFrom(6, 12, 24, 60),
      tokensPerMinute: fc.integer({ min: 100, max: 20_000 }),
      requestsPerMinute: fc.integer({ min: rpmMin, max: 600 }),
      horizonWindows: fc.double({ min: horizon.min, max: horizon.max, noNaN: true }),
      interactiveReserve: fc.double({ min: 0, max: 0.5, noNaN: true }),
      toleranceWindows: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
    })
    .map((c) =>
      gateConfigFrom(
        {
          mode,
          tokensPerMinute: c.tokensPerMinute,
          requestsPerMinute: c.requestsPerMinute,
          windowMs: c.windowMs,
          horizonMs: Math.max(1, Math.round(c.windowMs * c.horizonWindows)),
          ptuMaxUtilization: 1,
          interactiveReserve: c.interactiveReserve,
          startToleranceMs: Math.round(c.windowMs * c.toleranceWindows),
          // No in-flight limit and no pace: the properties here are about windows and shares.
          maxInFlight: 0,
          minIntervalMs: 0,
        },
        c.buckets,
      ),
    );
}

function scenarios(mode: 'standard' | 'provisioned' = 'standard'): fc.Arbitrary<Scenario> {
  return configs({ min: 0.2, max: 2 }, 6, mode).chain((config) => {
    const queue = (i: number) =>
      fc.record({
        name: fc.constant(`q${i}`),
        windowMs: fc.constantFrom(Math.round(config.windowMs / 2), config.windowMs, config.windowMs * 2, config.windowMs * 30),
        tokensPerWindow: fc.option(fc.integer({ min: 1, max: Math.ceil(config.tokensPerMinute * 1.2) }), { nil: undefined }),
        requestsPerWindow: fc.option(fc.integer({ min: 1, max: Math.max(1, config.requestsPerMinute) }), { nil: undefined }),
      });
    return fc.integer({ min: 1, max: 3 }).chain((n) =>
      fc.tuple(fc.tuple(...Array.from({ length: n }, (_, i) => queue(i))), fc.constant(n)).chain(([queues]) => {
        const ask = fc.record({
          dt: fc.oneof(
            { weight: 3, arbitrary: fc.constant(0) },
            { weight: 6, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.floor(config.windowMs / 20)) }) },
            { weight: 1, arbitrary: fc.integer({ min: 0, max: config.windowMs * 2 }) },
          ),
          queue: fc.integer({ min: -1, max: queues.length - 1 }),
          tokens: fc.oneof(
            { weight: 8, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.ceil(config.tokensPerMinute / 4)) }) },
            { weight: 1, arbitrary: fc.integer({ min: 1, max: Math.ceil(config.tokensPerMinute * 1.1) }) },
          ),
          priority: fc.constantFrom<Priority>('batch', 'batch', 'interactive'),
        });
        return fc.array(ask, { minLength: 1, maxLength: 40 }).map((asks): Scenario => ({ config, queues: queues.map(stripUndefined), asks }));
      }),
    );
  });
}

function stripUndefined(q: { name: string; windowMs: number; tokensPerWindow: number | undefined; requestsPerWindow: number | undefined }): QueueSpec {
  return {
    name: q.name,
    windowMs: q.windowMs,
    ...(q.tokensPerWindow !== undefined ? { tokensPerWindow: q.tokensPerWindow } : {}),
    ...(q.requestsPerWindow !== undefined ? { requestsPerWindow: q.requestsPerWindow } : {}),
  };
}

function play({ config, queues, asks }: Scenario): { decisions: Decision[]; grants: QueuedGrant[] } {
  let state = initialGateState(T0, config);
  let now = T0;
  let lastInteractive = Number.NEGATIVE_INFINITY;
  const lastAsked = new Map<string, number>();
  const grants: QueuedGrant[] = [];
  const decisions: Decision[] = [];
  for (const ask of asks) {
    now += ask.dt;
    const queue = ask.queue >= 0 ? queues[ask.queue] : undefined;
    const before = [...grants];
    const step = acquire(state, now, { tokens: ask.tokens, priority: ask.priority, ...(queue ? { queue } : {}) }, config);
    state = step.state;
    if (step.result.kind !== 'rejected') {
      lastAsked.set(queue?.name ?? DEFAULT, now);
      if (ask.priority === 'interactive') lastInteractive = now;
    }
    decisions.push({
      now,
      ask,
      queue,
      active: activeQueueCount(lastAsked, now, config.windowMs),
      interactivePresent: now - lastInteractive < config.windowMs,
      before,
      result: step.result,
    });
    if (step.result.kind === 'granted') grants.push({ startAt: step.result.startAt, tokens: ask.tokens, queue: queue?.name ?? DEFAULT });
  }
  return { decisions, grants };
}

const tokensOf = (g: Grant) => g.tokens;
const one = () => 1;
const geometry = (config: GateConfig): ReserveGeometry => ({
  windowMs: config.windowMs,
  buckets: config.bucketsPerWindow,
  lead: leadBuckets(config, true),
  quietLead: leadBuckets(config, false),
});

/** Candidate start times: the earliest, then bucket starts, sampled (first, last and a spread). */
function candidates(from: number, to: number, config: GateConfig): number[] {
  const g = geometry(config);
  const times = from < to ? [from] : [];
  for (let k = bucketAt(from, g) + 1; bucketBegin(k, g) < to; k++) times.push(bucketBegin(k, g));
  if (times.length <= 12) return times;
  const picked = new Set([times[0]!, times[times.length - 1]!]);
  for (let i = 1; i < 10; i++) picked.add(times[Math.floor((i * (times.length - 1)) / 10)]!);
  return [...picked];
}

describe('named queues: nested limits', () => {
  it('no queue exceeds its own limit in any of its windows, nor the deployment its quota, even for calls sent as late as allowed', () => {
    fc.assert(
      fc.property(scenarios(), (scenario) => {
        const { config, queues } = scenario;
        const { grants } = play(scenario);
        const late = config.startToleranceMs;
        expect(busiestInterval(grants, config.windowMs + late, tokensOf)).toBeLessThanOrEqual(config.tokensPerMinute);
        expect(busiestInterval(grants, config.windowMs / 6 + late, one)).toBeLessThanOrEqual(requestsPerRequestWindow(config));
        for (const q of queues) {
          const own = grants.filter((g) => g.queue === q.name);
          if (q.tokensPerWindow !== undefined) expect(busiestInterval(own, q.windowMs + late, tokensOf)).toBeLessThanOrEqual(q.tokensPerWindow);
          if (q.requestsPerWindow !== undefined) expect(busiestInterval(own, q.windowMs + late, one)).toBeLessThanOrEqual(q.requestsPerWindow);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('provisioned: no queue exceeds its own limit in any of its windows', () => {
    fc.assert(
      fc.property(scenarios('provisioned'), (scenario) => {
        const { grants } = play(scenario);
        const late = scenario.config.startToleranceMs;
        for (const q of scenario.queues) {
          const own = grants.filter((g) => g.queue === q.name);
          if (q.tokensPerWindow !== undefined) expect(busiestInterval(own, q.windowMs + late, tokensOf)).toBeLessThanOrEqual(q.tokensPerWindow);
          if (q.requestsPerWindow !== undefined) expect(busiestInterval(own, q.windowMs + late, one)).toBeLessThanOrEqual(q.requestsPerWindow);
        }
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 4)) },
    );
  });

  it('is work-conserving: a request waits only while the deployment, its queue or (beyond the look-ahead) its fair share is full', () => {
    fc.assert(
      fc.property(scenarios(), (scenario) => {
        const { config } = scenario;
        const g = geometry(config);
        const bucketMs = config.windowMs / config.bucketsPerWindow;
        // A run of buckets spans one bucket more than its window, plus the tolerance rounded up to buckets.
        const slack = (1 + toleranceBuckets(config)) * bucketMs + 1;
        const windowSpan = config.bucketsPerWindow + 1 + toleranceBuckets(config);
        const requestSpan = config.bucketsPerWindow / 6 + 1 + toleranceBuckets(config);
        for (const d of play(scenario).decisions) {
          const { ask, queue } = d;
          if (d.result.kind === 'rejected') {
            expect(ask.tokens > config.tokensPerMinute || (queue?.tokensPerWindow !== undefined && ask.tokens > queue.tokensPerWindow)).toBe(true);
            continue;
          }
          expect(d.result.kind === 'granted' || d.result.reason === 'beyond_horizon').toBe(true);
          const latest = d.now + config.horizonMs;
          if (d.result.kind === 'granted') expect(d.result.startAt).toBeGreaterThanOrEqual(d.now);
          const until = d.result.kind === 'granted' ? d.result.startAt : latest + 1;
          const name = queue?.name ?? DEFAULT;
          const mine = d.before.filter((b) => b.queue === name);
          const priorityShare = ask.priority === 'batch' ? 1 - config.interactiveReserve : 1;
          const lead = bucketBegin(bucketAt(d.now, g) + leadOf(g, d.interactivePresent), g);
          // The deployment's caps: the whole quota, or batch's share where the README says so.
          const deploymentCap = (full: number, amount: number, span: number) => {
            if (ask.priority === 'interactive') return full;
            const share = Math.min(full, Math.max(Math.floor(full * (1 - config.interactiveReserve)), amount));
            return (start: number) => (heldToShare(bucketAt(start, g), span, d.now, d.interactivePresent, g) ? share : full);
          };
          const fair = (full: number, amount: number) => {
            const share = fairShareCap(full, priorityShare, d.active, amount);
            return (start: number) => (start >= lead ? share : Number.POSITIVE_INFINITY);
          };
          const tokenCap = deploymentCap(config.tokensPerMinute, ask.tokens, windowSpan);
          const idleRunCap = typeof tokenCap === 'number' ? () => tokenCap : tokenCap;
          // An own bucket is max(1, ceil(window / W)) gate buckets; a run of them spans up to two more than the window.
          const ownSlack = queue ? 2 * Math.max(1, Math.ceil(queue.windowMs / config.windowMs)) * bucketMs + config.startToleranceMs + 1 : 0;
          for (const t of candidates(d.now, until, config)) {
            const deploymentFull =
              overfills(d.before, t, config.windowMs + slack, ask.tokens, deploymentCap(config.tokensPerMinute, ask.tokens, windowSpan), tokensOf) ||
              overfills(d.before, t, config.windowMs / 6 + slack, 1, deploymentCap(requestsPerRequestWindow(config), 1, requestSpan), one) ||
              overfills(d.before, t, config.windowMs + slack, 1, deploymentCap(requestsPerTokenWindow(config), 1, windowSpan), one);
            const queueFull =
              queue !== undefined &&
              ((queue.tokensPerWindow !== undefined && overfills(mine, t, queue.windowMs + ownSlack, ask.tokens, queue.tokensPerWindow, tokensOf)) ||
                (queue.requestsPerWindow !== undefined && overfills(mine, t, queue.windowMs + ownSlack, 1, queue.requestsPerWindow, one)));
            const shareFull =
              d.active >= 2 &&
              (overfills(mine, t, config.windowMs + slack, ask.tokens, fair(config.tokensPerMinute, ask.tokens), tokensOf) ||
                overfills(mine, t, config.windowMs / 6 + slack, 1, fair(requestsPerRequestWindow(config), 1), one) ||
                overfills(mine, t, config.windowMs + slack, 1, fair(requestsPerTokenWindow(config), 1), one));
            // Batch booking ahead leaves what stood idle for half a window before its start (README).
            const keepsIdle =
              ask.priority === 'batch' &&
              takesIdleCapacity(
                d.before,
                bucketAt(t, g),
                ask.tokens,
                { span: windowSpan, sentSpan: Math.min(windowSpan, windowSpan - toleranceBuckets(config) + SENT_TRANSIT_BUCKETS), idle: idleBuckets(config), lead: bucketAt(d.now, g) + leadOf(g, d.interactivePresent) },
                (first) => idleRunCap(bucketBegin(first, g)),
                (at) => bucketAt(at, g),
              );
            expect(deploymentFull || queueFull || shareFull || keepsIdle, `a slot at ${t - d.now} ms was free but ${name} was told ${JSON.stringify(d.result)}`).toBe(true);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});

interface FloodScenario {
  readonly config: GateConfig;
  /** Queues q0.. flood; the last one asks now and then. */
  readonly queues: number;
  readonly asks: readonly (Ask & { readonly at: number })[];
}

/**
 * Flooders ask round robin every few hundredths of a window with requests up to their fair share; the
 * last queue asks about every 0.9 windows (so it stays active) with small requests.
 */
function floods(): fc.Arbitrary<FloodScenario> {
  return configs({ min: 2, max: 3 }, 60).chain((config) =>
    fc.integer({ min: 2, max: 3 }).chain((n) => {
      const share = Math.floor((config.tokensPerMinute * (1 - config.interactiveReserve)) / n);
      const span = config.horizonMs + config.windowMs * 3;
      const floodAsks = Math.ceil(span / (config.windowMs / 16));
      return fc
        .record({
          floodDts: fc.array(fc.integer({ min: 0, max: Math.max(1, Math.floor(config.windowMs / 8)) }), { minLength: floodAsks, maxLength: floodAsks }),
          floodTokens: fc.array(fc.integer({ min: 1, max: Math.max(1, share) }), { minLength: floodAsks, maxLength: floodAsks }),
          probeStart: fc.integer({ min: 0, max: Math.floor(config.windowMs / 2) }),
          probeTokens: fc.array(fc.integer({ min: 1, max: Math.max(1, Math.floor(share / 6)) }), { minLength: 1, maxLength: 64 }),
          probePriorities: fc.array(fc.constantFrom<Priority>('batch', 'interactive'), { minLength: 64, maxLength: 64 }),
        })
        .map(({ floodDts, floodTokens, probeStart, probeTokens, probePriorities }): FloodScenario => {
          const asks: (Ask & { at: number })[] = [];
          let t = 0;
          floodDts.forEach((dt, i) => {
            t += dt;
            asks.push({ at: t, dt: 0, queue: i % (n - 1), tokens: floodTokens[i]!, priority: 'batch' });
          });
          const period = Math.floor(config.windowMs * 0.9);
          for (let m = 0; probeStart + m * period <= t; m++) {
            asks.push({ at: probeStart + m * period, dt: 0, queue: n - 1, tokens: probeTokens[m % probeTokens.length]!, priority: probePriorities[m % 64]! });
          }
          asks.sort((a, b) => a.at - b.at);
          return { config, queues: n, asks };
        });
    }),
  );
}

let probesChecked = 0;

describe('named queues: a queue that floods never starves another', () => {
  it('a request within its fair share is granted a start within L + W + (1 + tolerance) buckets once the active queues have been the same for a horizon', () => {
    fc.assert(
      fc.property(floods(), ({ config, queues, asks }) => {
        const g = geometry(config);
        let state = initialGateState(T0, config);
        const firstAsk = new Map<number, number>();
        const grants: QueuedGrant[] = [];
        const windowSpan = config.bucketsPerWindow + 1 + toleranceBuckets(config);
        for (const ask of asks) {
          const now = T0 + ask.at;
          const queue: AcquireQueue = { name: `q${ask.queue}`, windowMs: config.windowMs };
          const step = acquire(state, now, { tokens: ask.tokens, priority: ask.priority, queue }, config);
          state = step.state;
          if (!firstAsk.has(ask.queue)) firstAsk.set(ask.queue, now);
          const stableSince = firstAsk.size === queues ? Math.max(...firstAsk.values()) : Number.POSITIVE_INFINITY;
          const probe = ask.queue === queues - 1;
          if (probe && now >= stableSince + config.horizonMs + config.startToleranceMs + config.windowMs / config.bucketsPerWindow) {
            const priorityShare = ask.priority === 'batch' ? 1 - config.interactiveReserve : 1;
            // The probe's own reservations ahead must leave it room in its share.
            const ahead = grants.filter((x) => x.queue === queue.name && x.startAt > now);
            const room =
              ahead.reduce((sum, x) => sum + x.tokens, 0) + ask.tokens <= fairShareCap(config.tokensPerMinute, priorityShare, queues, ask.tokens) &&
              ahead.length + 1 <= fairShareCap(requestsPerRequestWindow(config), priorityShare, queues, 1) &&
              ahead.length + 1 <= fairShareCap(requestsPerTokenWindow(config), priorityShare, queues, 1);
            if (room) {
              probesChecked += 1;
              // Whether or not interactive work is present: the longer (quiet) look-ahead bounds both.
              const bound = bucketBegin(bucketAt(now, g) + g.quietLead + windowSpan - 1, g);
              expect(step.result.kind, `probe at ${now - T0} told ${JSON.stringify(step.result)}`).toBe('granted');
              if (step.result.kind === 'granted') expect(step.result.startAt).toBeLessThanOrEqual(bound);
            }
          }
          if (step.result.kind === 'granted') grants.push({ startAt: step.result.startAt, tokens: ask.tokens, queue: queue.name });
        }
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 10)) },
    );
    expect(probesChecked).toBeGreaterThan(0);
  });
});
