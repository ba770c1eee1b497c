/**
 * The durable entity `tokenGate`, driven through durable-functions' own entity executor (the same
 * `createEntityFunction` that `df.app.entity` wraps the handler with): batches of operations, state
 * persisted as a JSON string between invocations, results returned as JSON strings.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// appSettings() caches the first settings it reads: one consistent set for the whole file, set before
// anything is imported.
vi.hoisted(() => {
  process.env.GATE_MODE = 'standard';
  process.env.GATE_TOKENS_PER_MINUTE = '10000';
  process.env.GATE_REQUESTS_PER_MINUTE = '60';
  process.env.GATE_WINDOW_SECONDS = '60';
  process.env.GATE_HORIZON_SECONDS = '120';
  process.env.GATE_INTERACTIVE_RESERVE = '0.2';
  // Exact slot times below; the tolerance has its own gate tests.
  process.env.GATE_START_TOLERANCE_MS = '0';
  // The quota's exact slots; pacing has its own tests (a configure turns it on there).
  process.env.GATE_MIN_INTERVAL_MS = '0';
  delete process.env.GATE_MAX_IN_FLIGHT;
  delete process.env.GATE_LEASE_SECONDS;
  delete process.env.GATE_RPM_PER_1000_TPM;
  delete process.env.PTU_MAX_UTILIZATION;
});

import * as df from 'durable-functions';
import { tokenGate } from '../../src/functions/tokenGate.js';
import { GateEntityState, GateErrorCode, GateResult } from '../../src/lib/gate/operations.js';
import { AcquireDecision, GateStatus } from '../../src/lib/gate/types.js';
import { METRIC_NAMES } from '../../src/lib/telemetry/metrics.js';
import { MetricPoint } from '../../src/local/telemetry.js';
import { useInMemoryMeter } from '../support/meter.js';

interface BatchRequest {
  readonly id: string;
  readonly name: string;
  readonly input?: string;
}

interface EntityTriggerInput {
  readonly self: df.EntityId;
  readonly exists: boolean;
  readonly state?: string;
  readonly batch: readonly BatchRequest[];
}

interface OperationResultShape {
  readonly isError: boolean;
  readonly duration: number;
  readonly startTime: number;
  readonly result?: string;
}

interface EntityResultShape {
  readonly entityExists: boolean;
  readonly entityState?: string;
  readonly results: readonly OperationResultShape[];
  readonly signals: readonly unknown[];
}

type EntityFunction = (input: EntityTriggerInput, context: df.DummyEntityContext<GateEntityState>) => Promise<EntityResultShape>;

const { createEntityFunction } = require('durable-functions/lib/src/util/testingUtils') as {
  createEntityFunction: (fn: unknown) => EntityFunction;
};

const runEntity = createEntityFunction(tokenGate);

/** 2025-01-06T12:00:00Z: a multiple of the 250 ms bucket (60 s / 240 buckets), so slot times are exact. */
const T = Date.UTC(2025, 0, 6, 12, 0, 0);
const BUCKET_MS = 250;
const WINDOW_MS = 60_000;

let requestCounter = 0;
function op(name: string, input?: unknown): BatchRequest {
  requestCounter += 1;
  const id = `req-${requestCounter}`;
  return input === undefined ? { id, name } : { id, name, input: JSON.stringify(input) };
}

const acquireOp = (tokens: number, priority?: string) => op('acquire', priority === undefined ? { tokens } : { tokens, priority });

interface Invocation {
  readonly raw: EntityResultShape;
  readonly results: readonly GateResult<unknown>[];
  readonly state: string | undefined;
  readonly logs: readonly string[];
}

/** One entity invocation at `now`, starting from `state` (undefined: the entity does not exist yet). */
async function invoke(now: number, state: string | undefined, batch: readonly BatchRequest[]): Promise<Invocation> {
  vi.setSystemTime(now);
  const logs: string[] = [];
  const context = new df.DummyEntityContext<GateEntityState>('tokenGate', `inv-${now}`, (level: string, ...args: unknown[]) => {
    logs.push(`${level}: ${args.map(String).join(' ')}`);
  });
  const input: EntityTriggerInput =
    state === undefined
      ? { self: new df.EntityId('tokenGate', 'gpt-4o'), exists: false, batch }
      : { self: new df.EntityId('tokenGate', 'gpt-4o'), exists: true, state, batch };
  const raw = await runEntity(input, context);
  expect(raw.results).toHaveLength(batch.length);
  const results = raw.results.map((r) => {
    expect(r.isError).toBe(false);
    expect(typeof r.result).toBe('string');
    return JSON.parse(r.result ?? 'null') as GateResult<unknown>;
  });
  return { raw, results, state: raw.entityState, logs };
}

function okValue<T>(result: GateResult<unknown> | undefined): T {
  expect(result?.ok).toBe(true);
  if (result === undefined || !result.ok) throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.value as T;
}

function errorCode(result: GateResult<unknown> | undefined): GateErrorCode {
  expect(result?.ok).toBe(false);
  if (result === undefined || result.ok) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  expect(typeof result.error.message).toBe('string');
  expect(result.error.message.length).toBeGreaterThan(0);
  return result.error.code;
}

function granted(result: GateResult<unknown> | undefined): { startAt: number; waitMs: number } {
  const decision = okValue<AcquireDecision>(result);
  expect(decision.kind).toBe('granted');
  if (decision.kind !== 'granted') throw new Error(`expected a grant, got ${JSON.stringify(decision)}`);
  return { startAt: decision.startAt, waitMs: decision.waitMs };
}

function parseState(state: string | undefined): GateEntityState {
  expect(typeof state).toBe('string');
  return JSON.parse(state ?? 'null') as GateEntityState;
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('tokenGate entity: one batch', () => {
  it('grants immediately while the quota has room and gives later calls in the same batch a future startAt', async () => {
    const run = await invoke(T, undefined, [acquireOp(3000), acquireOp(3000), acquireOp(3000), acquireOp(3000), op('status')]);

    expect(run.raw.entityExists).toBe(true);
    expect(run.raw.signals).toEqual([]);
    for (const result of run.results.slice(0, 3)) expect(granted(result)).toEqual({ startAt: T, waitMs: 0 });

    // 9,000 of 10,000 are charged in bucket k0; 3,000 more fit only once k0 has left every rolling
    // window: B+1 = 241 buckets later.
    const fourth = granted(run.results[3]);
    expect(fourth.startAt).toBe(T + 241 * BUCKET_MS);
    expect(fourth.waitMs).toBe(fourth.startAt - T);
    expect(fourth.startAt).toBeGreaterThan(T + WINDOW_MS);

    const status = okValue<GateStatus>(run.results[4]);
    expect(status).toMatchObject({
      mode: 'standard',
      at: T,
      tokensPerWindow: 10_000,
      requestsPerRequestWindow: 10,
      factor: 1,
      windowTokens: 9000,
      windowRequests: 3,
      reservedTokens: 3000,
      reservedUntil: T + 241 * BUCKET_MS,
      pausedUntil: null,
      interactivePresent: false,
    });
  });

  it('never lets the granted charges exceed the quota in any rolling window', async () => {
    const sizes = [2500, 4000, 1000, 3000, 2000, 3500, 500, 4000];
    const run = await invoke(T, undefined, sizes.map((tokens) => acquireOp(tokens)));
    const grants: { startAt: number; tokens: number }[] = [];
    run.results.forEach((r, i) => {
      const decision = okValue<AcquireDecision>(r);
      // What does not fit inside the 120 s horizon is told to come back.
      if (decision.kind === 'retry') expect(decision.reason).toBe('beyond_horizon');
      else grants.push({ startAt: granted(r).startAt, tokens: sizes[i]! });
    });
    expect(grants.length).toBeGreaterThanOrEqual(5);
    // Starts are never before now, and every rolling window (s - W, s] holds at most the quota.
    for (const g of grants) expect(g.startAt).toBeGreaterThanOrEqual(T);
    for (const { startAt } of grants) {
      const inWindow = grants.filter((g) => g.startAt > startAt - WINDOW_MS && g.startAt <= startAt).reduce((sum, g) => sum + g.tokens, 0);
      expect(inWindow).toBeLessThanOrEqual(10_000);
    }
    // The first ones that fit together are admitted at once.
    expect(grants.slice(0, 3).map((g) => g.startAt)).toEqual([T, T, T]);
  });

  it('spaces requests by the request window (RPM / 6 per sixth of the window)', async () => {
    const run = await invoke(
      T,
      undefined,
      Array.from({ length: 11 }, () => acquireOp(10)),
    );
    const starts = run.results.map((r) => granted(r).startAt);
    expect(starts.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => T));
    // The request window is 40 buckets: the 11th request waits until bucket k0 has left it (41 later).
    expect(starts[10]).toBe(T + 41 * BUCKET_MS);
  });

  it('rejects a charge larger than the whole quota without changing the state', async () => {
    const first = await invoke(T, undefined, [acquireOp(1000)]);
    const run = await invoke(T + 100, first.state, [acquireOp(10_001)]);
    expect(okValue<AcquireDecision>(run.results[0])).toEqual({ kind: 'rejected', reason: 'too_large', limit: 10_000 });
    const status = okValue<GateStatus>((await invoke(T + 100, run.state, [op('status')])).results[0]);
    expect(status.windowTokens).toBe(1000);
    expect(status.windowRequests).toBe(1);
  });
});

describe('tokenGate entity: state between invocations', () => {
  it('keeps the count in the persisted state: a later invocation sees the earlier charges', async () => {
    const first = await invoke(T, undefined, [acquireOp(3000), acquireOp(3000), acquireOp(3000)]);
    expect(first.state).toBeDefined();

    const second = await invoke(T + 1000, first.state, [acquireOp(3000), op('status')]);
    expect(granted(second.results[0]).startAt).toBe(T + 241 * BUCKET_MS);
    expect(okValue<GateStatus>(second.results[1])).toMatchObject({ at: T + 1000, windowTokens: 9000, windowRequests: 3, reservedTokens: 3000 });

    // Control: without the persisted state the same call would have been admitted at once.
    const fresh = await invoke(T + 1000, undefined, [acquireOp(3000)]);
    expect(granted(fresh.results[0])).toEqual({ startAt: T + 1000, waitMs: 0 });

    // A window later the first charges have left; only the reserved one is still counted.
    const later = await invoke(T + 61_000, second.state, [op('status')]);
    expect(okValue<GateStatus>(later.results[0])).toMatchObject({ windowTokens: 3000, reservedTokens: 0, reservedUntil: null });
  });

  it('keeps the config it was created with in the state', async () => {
    const run = await invoke(T, undefined, [acquireOp(100)]);
    const state = parseState(run.state);
    expect(state.config).toMatchObject({ mode: 'standard', tokensPerMinute: 10_000, requestsPerMinute: 60, windowMs: 60_000, horizonMs: 120_000 });
    expect(state.gate.v).toBe(2);
    expect(state.gate.clock).toBe(T);
  });

  it('does not let time run backwards when a later invocation carries an earlier clock', async () => {
    const first = await invoke(T + 5000, undefined, [acquireOp(100)]);
    const second = await invoke(T, first.state, [acquireOp(100)]);
    expect(granted(second.results[0]).startAt).toBe(T + 5000);
  });
});

describe('tokenGate entity: settle', () => {
  it('a 429 (rate_limit) pauses every later grant until its retry-after', async () => {
    const run = await invoke(T, undefined, [
      acquireOp(1000),
      op('settle', { charged: 1000, throttled: { kind: 'rate_limit', retryAfterMs: 5000 } }),
      acquireOp(100),
      op('status'),
    ]);
    expect(granted(run.results[0]).startAt).toBe(T);
    expect(okValue<null>(run.results[1])).toBeNull();
    expect(granted(run.results[2])).toEqual({ startAt: T + 5000, waitMs: 5000 });
    expect(okValue<GateStatus>(run.results[3]).pausedUntil).toBe(T + 5000);

    // The pause is persisted; once it is over, grants are immediate again.
    const during = await invoke(T + 2000, run.state, [acquireOp(100)]);
    expect(granted(during.results[0]).startAt).toBe(T + 5000);
    const after = await invoke(T + 6000, during.state, [acquireOp(100), op('status')]);
    expect(granted(after.results[0]).startAt).toBe(T + 6000);
    expect(okValue<GateStatus>(after.results[1]).pausedUntil).toBeNull();
  });

  it('a pause beyond the horizon answers retry (paused) at the end of the pause', async () => {
    const run = await invoke(T, undefined, [
      op('settle', { charged: 0, throttled: { kind: 'overloaded', retryAfterMs: 200_000 } }),
      acquireOp(100),
    ]);
    expect(okValue<AcquireDecision>(run.results[1])).toEqual({ kind: 'retry', retryAt: T + 200_000, reason: 'paused' });
  });

  it('repeated quota 429s within one window shrink the usable quota; overloaded 429s do not', async () => {
    const throttled = (kind: string) => op('settle', { charged: 100, throttled: { kind, retryAfterMs: 0 } });
    const overloaded = await invoke(T, undefined, [throttled('overloaded'), throttled('overloaded'), op('status')]);
    expect(okValue<GateStatus>(overloaded.results[2]).factor).toBe(1);

    const quota = await invoke(T, undefined, [throttled('rate_limit'), throttled('rate_limit'), op('status')]);
    expect(okValue<GateStatus>(quota.results[2]).factor).toBeCloseTo(0.9, 10);

    // With 90% of the quota usable, 9,000 fit now and 1,000 more does not.
    const next = await invoke(T, quota.state, [acquireOp(9000), acquireOp(1000)]);
    expect(granted(next.results[0]).startAt).toBe(T);
    expect(granted(next.results[1]).startAt).toBeGreaterThan(T);
  });
});

describe('tokenGate entity: errors', () => {
  it('an unknown operation and invalid inputs return {ok:false, error:{code}} and leave the state unchanged', async () => {
    const first = await invoke(T, undefined, [acquireOp(3000), acquireOp(2000)]);
    const before = first.state;
    expect(before).toBeDefined();

    const run = await invoke(T + 500, before, [
      op('explode', { tokens: 5 }),
      op('acquire', { tokens: -5 }),
      op('acquire', { tokens: 1.5 }),
      op('acquire', { tokens: '100' }),
      op('acquire'),
      op('acquire', [100]),
      op('acquire', { tokens: 100, priority: 'urgent' }),
      op('settle', { charged: 'lots' }),
      op('settle', { charged: 10, throttled: { kind: 'teapot', retryAfterMs: 10 } }),
      op('reportUtilization', { utilization: -1 }),
      op('configure', { tokensPerMinute: 5000, colour: 'blue' }),
    ]);

    expect(errorCode(run.results[0])).toBe('unknown_operation');
    for (const result of run.results.slice(1)) expect(errorCode(result)).toBe('invalid_input');
    expect(run.state).toBe(before);
    expect(run.raw.entityExists).toBe(true);
    // Each failure is logged as a warning naming the code.
    expect(run.logs.filter((l) => l.startsWith('warning:'))).toHaveLength(run.results.length);
    expect(run.logs[0]).toContain('unknown_operation');

    // And the count really is unchanged: 5,000 charged, 5,000 still free.
    const check = await invoke(T + 500, run.state, [op('status'), acquireOp(5000), acquireOp(1)]);
    expect(okValue<GateStatus>(check.results[0]).windowTokens).toBe(5000);
    expect(granted(check.results[1]).startAt).toBe(T + 500);
    expect(granted(check.results[2]).startAt).toBeGreaterThan(T + 500);
  });

  it('a configuration the gate rejects is reported as invalid_config and leaves the state unchanged', async () => {
    const first = await invoke(T, undefined, [acquireOp(100)]);
    const run = await invoke(T, first.state, [op('configure', { tokensPerMinute: -1 })]);
    expect(errorCode(run.results[0])).toBe('invalid_config');
    expect(run.state).toBe(first.state);
  });
});

describe('tokenGate entity: persisted state', () => {
  it('is JSON, round-trips exactly and holds only finite numbers', async () => {
    const run = await invoke(T, undefined, [acquireOp(4000), acquireOp(4000), acquireOp(4000), op('settle', { charged: 1, throttled: { kind: 'rate_limit', retryAfterMs: 1 } })]);
    const text = run.state ?? '';
    const parsed = parseState(text);
    expect(JSON.stringify(parsed)).toBe(text);
    const numbers: number[] = [];
    const walk = (value: unknown): void => {
      if (typeof value === 'number') numbers.push(value);
      else if (Array.isArray(value)) value.forEach(walk);
      else if (typeof value === 'object' && value !== null) Object.values(value).forEach(walk);
    };
    walk(parsed);
    expect(numbers.length).toBeGreaterThan(10);
    for (const n of numbers) expect(Number.isFinite(n)).toBe(true);
    expect(parsed.gate.tokens.every((n) => n >= 0)).toBe(true);
  });

  it('stays bounded under sustained overload and shrinks back once the gate is idle', async () => {
    let state: string | undefined;
    let largest = 0;
    let retries = 0;
    // 600 tokens per second for 5 minutes: 3.6x the quota, so the horizon fills and work is deferred.
    for (let second = 0; second < 300; second++) {
      const run = await invoke(T + second * 1000, state, [acquireOp(600)]);
      const decision = okValue<AcquireDecision>(run.results[0]);
      if (decision.kind === 'retry') {
        retries += 1;
        expect(decision.reason).toBe('beyond_horizon');
        expect(decision.retryAt).toBeGreaterThan(T + second * 1000);
      } else {
        expect(decision.kind).toBe('granted');
      }
      state = run.state;
      largest = Math.max(largest, (state ?? '').length);
    }
    expect(retries).toBeGreaterThan(0);
    // At most one window of past buckets plus the horizon's future buckets, two arrays of small numbers.
    const parsed = parseState(state);
    const bucketsCovered = (WINDOW_MS + 120_000) / BUCKET_MS + 2;
    expect(parsed.gate.tokens.length).toBeLessThanOrEqual(bucketsCovered);
    expect(parsed.gate.requests.length).toBeLessThanOrEqual(bucketsCovered);
    expect(largest).toBeLessThan(8 * 1024);

    // Ten idle minutes later any persisted operation drops every old bucket.
    const idle = await invoke(T + 900_000, state, [op('settle', { charged: 0 })]);
    const small = parseState(idle.state);
    expect(small.gate.tokens).toEqual([]);
    expect(small.gate.requests).toEqual([]);
    expect((idle.state ?? '').length).toBeLessThan(600);
  });
});

describe('tokenGate entity: in-flight leases and pacing', () => {
  it('settle names its slot and releases its lease; status shows what is in flight; configure sets both limits', async () => {
    const run = await invoke(T, undefined, [
      // No interactive reserve: batch may hold the whole limit (its share has tests of its own).
      op('configure', { maxInFlight: 2, minIntervalMs: 500, interactiveReserve: 0 }),
      acquireOp(100),
      acquireOp(100),
      acquireOp(100),
      op('status'),
    ]);
    expect(okValue<{ maxInFlight: number; minIntervalMs: number }>(run.results[0])).toMatchObject({ maxInFlight: 2, minIntervalMs: 500 });
    // Batch opening an idle gate's window: paced 1.5 × half a second apart; the third finds both leases held.
    expect(granted(run.results[1]).startAt).toBe(T);
    expect(granted(run.results[2]).startAt).toBe(T + 750);
    const refused = okValue<AcquireDecision>(run.results[3]);
    expect(refused).toMatchObject({ kind: 'retry', reason: 'in_flight' });
    expect(okValue<GateStatus>(run.results[4])).toMatchObject({ inFlight: 2, maxInFlight: 2, minIntervalMs: 500, leaseMs: 300_000 });

    const settled = await invoke(T + 1000, run.state, [op('settle', { charged: 100, usedTokens: 40, startAt: T }), op('status'), acquireOp(100)]);
    expect(okValue<GateStatus>(settled.results[1]).inFlight).toBe(1);
    // A lease is free again; the start keeps the opening pace from the one at T + 750.
    expect(granted(settled.results[2]).startAt).toBe(T + 1500);
  });

  it("releases a dead worker's lease after the lease timeout", async () => {
    const run = await invoke(T, undefined, [op('configure', { maxInFlight: 1, leaseMs: 20_000 }), acquireOp(100), acquireOp(100)]);
    expect(okValue<AcquireDecision>(run.results[2])).toMatchObject({ kind: 'retry', reason: 'in_flight' });
    // Nobody settles. The lease lapses 20 s after its start's bucket ends.
    const later = await invoke(T + BUCKET_MS + 20_000, run.state, [acquireOp(100)]);
    expect(granted(later.results[0]).startAt).toBe(T + BUCKET_MS + 20_000);
  });

  it('configure with null returns a limit to its derived default, and rejects a bad one', async () => {
    const run = await invoke(T, undefined, [op('configure', { maxInFlight: 1 }), op('configure', { maxInFlight: null }), op('status'), op('configure', { minIntervalMs: -1 })]);
    // 60 RPM with a 60 s window and a 120 s horizon: 60 x 3.
    expect(okValue<GateStatus>(run.results[2]).maxInFlight).toBe(180);
    expect(errorCode(run.results[3])).toBe('invalid_config');
  });

  it('takes over a state stored before leases existed', async () => {
    const first = await invoke(T, undefined, [acquireOp(3000)]);
    const stored = parseState(first.state);
    const { leases: _leases, starts: _starts, inFlightRetryUntil: _until, ...gate } = stored.gate;
    const v1 = JSON.stringify({ config: stored.config, gate: { ...gate, v: 1 } });
    const run = await invoke(T + 10, v1, [op('status'), acquireOp(100)]);
    expect(okValue<GateStatus>(run.results[0])).toMatchObject({ windowTokens: 3000, inFlight: 0 });
    expect(granted(run.results[1]).startAt).toBe(T + 10);
    expect(parseState(run.state).gate.v).toBe(2);
  });

  it('rejects a settle whose startAt is not a time', async () => {
    const run = await invoke(T, undefined, [op('settle', { charged: 1, startAt: 'soon' })]);
    expect(errorCode(run.results[0])).toBe('invalid_input');
  });
});

describe('tokenGate entity: metrics', () => {
  const collected = useInMemoryMeter();
  const find = (points: MetricPoint[], name: string, attributes: Record<string, unknown>) =>
    points.find((p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));

  it('records decisions, waits and charged tokens per priority, and header utilization, from what the gate answered', async () => {
    const run = await invoke(T, undefined, [
      acquireOp(6_000),
      acquireOp(3_000, 'interactive'),
      // 9,000 are charged now: this one waits until the first charge leaves the window.
      acquireOp(2_000),
      acquireOp(20_000),
      op('acquire', { tokens: -1 }),
      op('settle', { charged: 6_000, startAt: T, usedTokens: 500, utilization: 0.42 }),
      op('reportUtilization', { utilization: 0.5, source: 'header' }),
      // The PTU monitor records its own readings: the entity leaves them out.
      op('reportUtilization', { utilization: 0.9, source: 'monitor' }),
    ]);
    const later = granted(run.results[2]);
    // The reader's export runs on timers: real ones.
    vi.useRealTimers();
    const points = await collected();
    expect(find(points, METRIC_NAMES.gateDecisions, { deployment: 'gpt-4o', priority: 'batch', decision: 'granted' })?.value).toBe(2);
    expect(find(points, METRIC_NAMES.gateDecisions, { priority: 'interactive', decision: 'granted' })?.value).toBe(1);
    expect(find(points, METRIC_NAMES.gateDecisions, { priority: 'batch', decision: 'rejected' })?.value).toBe(1);
    // An invalid input is an error, not a decision.
    expect(points.filter((p) => p.name === METRIC_NAMES.gateDecisions).reduce((n, p) => n + (p.value as number), 0)).toBe(4);
    expect(find(points, METRIC_NAMES.tokensCharged, { priority: 'batch' })?.value).toBe(8_000);
    expect(find(points, METRIC_NAMES.tokensCharged, { priority: 'interactive' })?.value).toBe(3_000);
    expect(find(points, METRIC_NAMES.gateWait, { priority: 'batch' })?.value).toMatchObject({ count: 2, sum: later.waitMs, min: 0, max: later.waitMs });
    expect(find(points, METRIC_NAMES.gateWait, { priority: 'interactive' })?.value).toMatchObject({ count: 1, sum: 0 });
    expect(find(points, METRIC_NAMES.ptuUtilization, { deployment: 'gpt-4o', source: 'header' })?.value).toMatchObject({ count: 2, min: 0.42, max: 0.5 });
    expect(find(points, METRIC_NAMES.ptuUtilization, { source: 'monitor' })).toBeUndefined();
  });
});
