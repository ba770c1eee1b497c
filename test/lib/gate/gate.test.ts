/** The gate's behaviour case by case: slots, 429 feedback, priorities, the horizon, provisioned reconciliation. */
import { describe, expect, it } from 'vitest';
import {
  ADAPTIVE,
  GateConfigError,
  GateConfigInput,
  GateState,
  acquire,
  DEFAULT_LEASE_MS,
  GateStateV1,
  gateConfigFrom,
  inFlightLimit,
  initialGateState,
  leaseMsOf,
  minIntervalOf,
  settle,
  status,
  upgradeGateState,
} from '../../../src/lib/gate/index.js';
import { T0, gateDriver, startOf } from './driver.js';

const STANDARD: GateConfigInput = {
  mode: 'standard',
  tokensPerMinute: 10_000,
  requestsPerMinute: 60,
  windowMs: 60_000,
  horizonMs: 120_000,
  ptuMaxUtilization: 0.7,
  // The quota alone: the interactive reserve and pacing have their own tests below.
  interactiveReserve: 0,
  startToleranceMs: 0,
  minIntervalMs: 0,
};

const gate = (overrides: Partial<GateConfigInput> = {}) => gateDriver(gateConfigFrom({ ...STANDARD, ...overrides }));

describe('standard deployment', () => {
  it('grants at once while the window has room, then reserves the slot where the oldest charge leaves the window', () => {
    const g = gate();
    expect(g.acquire(T0, 6_000)).toEqual({ kind: 'granted', startAt: T0, waitMs: 0, sendBy: T0 });
    expect(g.acquire(T0 + 10_000, 4_000)).toEqual({ kind: 'granted', startAt: T0 + 10_000, waitMs: 0, sendBy: T0 + 10_000 });
    const third = g.acquire(T0 + 20_000, 5_000);
    // The first 6,000 leave the window 60 s after T0 (held up to one 250 ms bucket longer).
    expect(startOf(third)).toBeGreaterThanOrEqual(T0 + 60_000);
    expect(startOf(third)).toBeLessThanOrEqual(T0 + 60_250);
    expect(g.status(T0 + 20_000)).toMatchObject({ windowTokens: 10_000, reservedTokens: 5_000, reservedUntil: startOf(third) });
  });

  it('never refunds: a short completion keeps its whole charge in the window', () => {
    const g = gate();
    expect(startOf(g.acquire(T0, 10_000))).toBe(T0);
    g.settle(T0 + 1_000, { charged: 10_000, usedTokens: 50 });
    expect(g.status(T0 + 1_000).windowTokens).toBe(10_000);
    expect(startOf(g.acquire(T0 + 1_000, 10))).toBeGreaterThanOrEqual(T0 + 60_000);
  });

  it('takes back the charge of a slot whose call was never sent, and only that one', () => {
    const g = gate();
    expect(startOf(g.acquire(T0, 6_000))).toBe(T0);
    const missed = startOf(g.acquire(T0, 4_000));
    expect(missed).toBe(T0);
    // A sent call's settle changes nothing; the missed one's gives its 4,000 tokens and its request back.
    g.settle(T0 + 500, { charged: 6_000, startAt: T0, usedTokens: 100 });
    g.settle(T0 + 1_500, { charged: 4_000, startAt: missed, notSent: true });
    expect(g.status(T0 + 1_500)).toMatchObject({ windowTokens: 6_000, windowRequests: 1 });
    expect(startOf(g.acquire(T0 + 1_500, 4_000))).toBe(T0 + 1_500);
    expect(startOf(g.acquire(T0 + 1_500, 1))).toBeGreaterThanOrEqual(T0 + 60_000);
  });

  it('limits requests per request window (RPM/6 per sixth of the window)', () => {
    const g = gate({ requestsPerMinute: 12 }); // 2 per 10 s
    expect(startOf(g.acquire(T0, 1))).toBe(T0);
    expect(startOf(g.acquire(T0, 1))).toBe(T0);
    const third = startOf(g.acquire(T0, 1));
    expect(third).toBeGreaterThanOrEqual(T0 + 10_000);
    expect(third).toBeLessThanOrEqual(T0 + 10_000 + 250);
  });

  it('holds each charge for the start tolerance too, so a call sent that late still fits Azure\'s window', () => {
    const g = gate({ startToleranceMs: 2_000 });
    expect(g.acquire(T0, 10_000)).toEqual({ kind: 'granted', startAt: T0, waitMs: 0, sendBy: T0 + 2_000 });
    const next = startOf(g.acquire(T0, 1));
    expect(next).toBeGreaterThanOrEqual(T0 + 62_000);
    expect(next).toBeLessThanOrEqual(T0 + 62_250);
  });

  it('holds a call whose settle says when it was sent for its window and its trip from then: the tolerance is paid only until the answer', () => {
    const g = gate({ startToleranceMs: 2_000, requestsPerMinute: 6 }); // 1 request per 10 s
    expect(startOf(g.acquire(T0, 10_000))).toBe(T0);
    // Sent 700 ms after its start, settled a second later: held for 60 s and a 250 ms bucket (its trip to
    // Azure) from T0 + 700, rounded up to a bucket, not for 62 s from T0.
    g.settle(T0 + 1_700, { charged: 10_000, startAt: T0, usedTokens: 100, sentAt: T0 + 700 });
    expect(g.status(T0 + 1_700)).toMatchObject({ windowTokens: 10_000, windowRequests: 1 });
    const next = startOf(g.acquire(T0 + 1_700, 1));
    expect(next).toBeGreaterThanOrEqual(T0 + 60_950);
    expect(next).toBeLessThanOrEqual(T0 + 61_250);
    // The request window likewise: the next call after it (that one's send time unknown) waits out its 10 s and its tolerance.
    const after = startOf(g.acquire(T0 + 1_700, 1));
    expect(after).toBeGreaterThanOrEqual(next + 12_000);
  });

  it('takes a send time only within the tolerance after its start, and only for a charge its bucket still holds', () => {
    const tolerant = () => {
      const g = gate({ startToleranceMs: 2_000 });
      expect(startOf(g.acquire(T0, 10_000))).toBe(T0);
      return g;
    };
    const heldUntil = (g: ReturnType<typeof tolerant>) => startOf(g.acquire(T0 + 3_000, 1));
    const unknown = heldUntil(tolerant());
    expect(unknown).toBeGreaterThanOrEqual(T0 + 62_000);
    // Later than the client's fetch can send (past sendBy): ignored, the tolerance still holds it.
    const late = tolerant();
    late.settle(T0 + 3_000, { charged: 10_000, startAt: T0, usedTokens: 5, sentAt: T0 + 2_001 });
    expect(heldUntil(late)).toBe(unknown);
    // Naming a charge its start's bucket does not hold (a settle for a slot never granted): ignored.
    const other = tolerant();
    other.settle(T0 + 3_000, { charged: 10_000, startAt: T0 + 30_000, usedTokens: 5, sentAt: T0 + 30_000 });
    expect(heldUntil(other)).toBe(unknown);
    // A throttled call went out too: held from when it did.
    const throttled = tolerant();
    throttled.settle(T0 + 1_000, { charged: 10_000, startAt: T0, sentAt: T0, throttled: { kind: 'overloaded', retryAfterMs: 0 } });
    expect(heldUntil(throttled)).toBeLessThanOrEqual(T0 + 60_500);
    // A tolerance of one bucket holds a charge no longer than its trip would: nothing moves.
    const short = gate({ startToleranceMs: 250 });
    short.acquire(T0, 10_000);
    short.settle(T0 + 1_000, { charged: 10_000, startAt: T0, usedTokens: 5, sentAt: T0 });
    expect(short.state.sentTokens).toBeUndefined();
    expect(short.state.tokens.reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('booking ahead, batch leaves capacity that stood idle for half a window before its start to work that can start sooner', () => {
    const g = gate();
    expect(startOf(g.acquire(T0, 5_000))).toBe(T0);
    expect(startOf(g.acquire(T0 + 20_000, 4_000))).toBe(T0 + 20_000);
    // 1,000 stand idle from T0 + 20 s until the first charge leaves at T0 + 60 s. Taking them there (5,000
    // freed + 500 of the idle) would lock them for a window; the job waits for the second charge to leave.
    const big = startOf(g.acquire(T0 + 20_000, 5_500));
    expect(big).toBeGreaterThanOrEqual(T0 + 80_000);
    expect(big).toBeLessThanOrEqual(T0 + 80_250);
    // So a small job asking now still starts now.
    expect(startOf(g.acquire(T0 + 20_000, 1_000))).toBe(T0 + 20_000);
  });

  it('does not keep idle capacity from a start within half a window and the look-ahead, nor from interactive work', () => {
    const asked = (at: number, priority: 'batch' | 'interactive') => {
      const g = gate();
      g.acquire(T0, 5_000);
      g.acquire(T0 + 20_000, 4_000);
      return startOf(g.acquire(at, 5_500, priority));
    };
    // Asked 5 s before: the idle capacity is the job's to take, as it would be anybody's.
    expect(asked(T0 + 55_000, 'batch')).toBeLessThanOrEqual(T0 + 60_250);
    expect(asked(T0 + 20_000, 'interactive')).toBeLessThanOrEqual(T0 + 60_250);
  });

  it('also caps requests per whole window when RPM is too small to split into sixths', () => {
    const g = gate({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(startOf(g.acquire(T0 + i * 10_500, 1))).toBe(T0 + i * 10_500);
    expect(startOf(g.acquire(T0 + 40_000, 1))).toBeGreaterThanOrEqual(T0 + 60_000);
  });

  it('rejects a request larger than the whole quota', () => {
    expect(gate().acquire(T0, 10_001)).toEqual({ kind: 'rejected', reason: 'too_large', limit: 10_000 });
  });

  it('tells work beyond the horizon when to ask again, spacing returns at the quota pace', () => {
    const g = gate({ horizonMs: 120_000 });
    const decisions = Array.from({ length: 6 }, () => g.acquire(T0, 5_000));
    expect(decisions.slice(0, 4).map((d) => d.kind)).toEqual(['granted', 'granted', 'granted', 'granted']);
    const retries = decisions.slice(4);
    for (const r of retries) expect(r.kind).toBe('retry');
    const [a, b] = retries.map((r) => (r.kind === 'retry' ? r.retryAt : NaN));
    expect(a).toBeGreaterThanOrEqual(T0 + 60_000);
    // 5,000 tokens at 10,000 per minute take 30 s of quota.
    expect(b! - a!).toBeGreaterThanOrEqual(29_999);
    // Coming back at its retry time, the first deferred request finds a slot inside the horizon.
    expect(g.acquire(a!, 5_000).kind).toBe('granted');
  });
});

describe('429 feedback', () => {
  it('pauses admission until retry-after', () => {
    const g = gate();
    g.acquire(T0, 100);
    g.settle(T0 + 500, { charged: 100, throttled: { kind: 'overloaded', retryAfterMs: 7_000 } });
    expect(g.acquire(T0 + 600, 100)).toEqual({ kind: 'granted', startAt: T0 + 7_500, waitMs: 6_900, sendBy: T0 + 7_500 });
    expect(g.status(T0 + 600).pausedUntil).toBe(T0 + 7_500);
    // An overloaded 429 is a cooldown, not proof of miscounting: the quota stays whole.
    expect(g.status(T0 + 600).factor).toBe(1);
  });

  it('a pause beyond the horizon answers with a retry at its end', () => {
    const g = gate({ horizonMs: 10_000 });
    g.settle(T0, { charged: 100, throttled: { kind: 'rate_limit', retryAfterMs: 30_000 } });
    expect(g.acquire(T0 + 1, 100)).toEqual({ kind: 'retry', retryAt: T0 + 30_000, reason: 'paused' });
  });

  it('shrinks the usable quota after repeated quota 429s and recovers it gradually', () => {
    const g = gate();
    g.settle(T0, { charged: 100, throttled: { kind: 'rate_limit', retryAfterMs: 0 } });
    expect(g.status(T0).factor).toBe(1);
    g.settle(T0 + 1_000, { charged: 100, throttled: { kind: 'rate_limit', retryAfterMs: 0 } });
    expect(g.status(T0 + 1_000).factor).toBeCloseTo(1 - ADAPTIVE.shrink, 10);
    // While shrunk, the window admits only 90% of the quota.
    expect(startOf(g.acquire(T0 + 1_000, 9_000))).toBe(T0 + 1_000);
    expect(startOf(g.acquire(T0 + 1_000, 100))).toBeGreaterThan(T0 + 60_000);
    // Recovery: 0.05 per window, back to full after two windows without 429s.
    expect(g.status(T0 + 61_000).factor).toBeCloseTo(0.95, 10);
    expect(g.status(T0 + 121_000).factor).toBe(1);
  });

  it('never shrinks below the floor', () => {
    const g = gate();
    for (let i = 0; i < 100; i++) g.settle(T0 + i, { charged: 1, throttled: { kind: 'rate_limit', retryAfterMs: 0 } });
    expect(g.status(T0 + 99).factor).toBe(ADAPTIVE.minFactor);
  });
});

describe('priorities: the interactive reserve beyond the look-ahead', () => {
  // 10,000 per 60 s window, 240 buckets of 250 ms: the look-ahead is 4 buckets (1 s), the reserve 2,000.
  const reserved = (overrides: Partial<GateConfigInput> = {}) => gate({ interactiveReserve: 0.2, ...overrides });

  it('while interactive traffic is present, batch leaves the reserve free in every window reaching past the look-ahead', () => {
    const g = reserved();
    expect(startOf(g.acquire(T0, 100, 'interactive'))).toBe(T0);
    // Batch may fill 80% of 10,000 in windows that end beyond the look-ahead: 7,900 more.
    expect(startOf(g.acquire(T0 + 1, 7_900))).toBe(T0 + 1);
    const blocked = startOf(g.acquire(T0 + 2, 100));
    expect(blocked).toBeGreaterThanOrEqual(T0 + 60_000);
    // An interactive call still goes straight through the reserve.
    expect(g.acquire(T0 + 3, 1_500, 'interactive')).toMatchObject({ kind: 'granted', startAt: T0 + 3, waitMs: 0 });
  });

  it('without interactive traffic batch fills the whole quota now, but reserves later windows only up to its share', () => {
    const g = reserved();
    // Now is inside the look-ahead: the whole quota.
    expect(startOf(g.acquire(T0, 10_000))).toBe(T0);
    // A reservation for the window after it may fill only 8,000 of it...
    const later = startOf(g.acquire(T0, 8_000));
    expect(later).toBeGreaterThanOrEqual(T0 + 60_000);
    expect(later).toBeLessThanOrEqual(T0 + 60_250);
    // and nothing more fits inside the horizon.
    expect(g.acquire(T0, 2_000)).toMatchObject({ kind: 'retry', reason: 'beyond_horizon' });
    // ... so an interactive call arriving now waits at most until the first charge leaves its window,
    // not behind the reservations up to the horizon.
    const interactive = startOf(g.acquire(T0 + 10, 2_000, 'interactive'));
    expect(interactive).toBeLessThanOrEqual(T0 + 60_250);
  });

  it('batch takes the reserve of a reserved window once that window comes within the look-ahead (work-conserving)', () => {
    const g = reserved();
    g.acquire(T0, 10_000);
    const later = startOf(g.acquire(T0, 8_000));
    // Shortly before the reserved slot, the window starting there is inside the look-ahead: its
    // reserve goes to batch work that asks then.
    expect(startOf(g.acquire(later - 500, 2_000))).toBe(later);
    expect(g.status(later).windowTokens).toBe(10_000);
  });

  it('batch leaves the interactive share of the in-flight limit free, present or not', () => {
    const g = reserved({ maxInFlight: 5, interactiveReserve: 0.4 });
    // Batch may hold 3 of 5.
    for (let i = 0; i < 3; i++) expect(g.acquire(T0, 10).kind).toBe('granted');
    expect(g.acquire(T0, 10)).toMatchObject({ kind: 'retry', reason: 'in_flight' });
    expect(g.acquire(T0, 10, 'interactive').kind).toBe('granted');
    expect(g.acquire(T0, 10, 'interactive').kind).toBe('granted');
    expect(g.acquire(T0, 10, 'interactive')).toMatchObject({ kind: 'retry', reason: 'in_flight' });
  });

  it('beyond the look-ahead batch starts stay a pace away from the interactive grid, so an interactive call finds a paced start', () => {
    // 60 RPM: a pace of 1,000 ms, a grid every 5,000 ms (pace / reserve).
    const g = reserved({ minIntervalMs: 1_000, requestsPerMinute: 6_000, tokensPerMinute: 1_000_000 });
    const starts = Array.from({ length: 20 }, () => startOf(g.acquire(T0, 10)));
    // No interactive work present: the look-ahead is W/10, 6 s.
    const beyond = starts.filter((t) => t >= T0 + 6_000);
    expect(beyond.length).toBeGreaterThan(5);
    for (const t of beyond) {
      const point = Math.round(t / 5_000) * 5_000;
      expect(Math.abs(t - point)).toBeGreaterThanOrEqual(1_000);
    }
    // Batch started back to back from T0; the interactive call takes the next grid point after that look-ahead.
    const interactive = startOf(g.acquire(T0 + 1, 10, 'interactive'));
    expect(interactive - T0).toBeLessThanOrEqual(6_000 + 1_000 + 5_000 + 250);
  });

  it('interactive presence lapses one window after the last interactive call', () => {
    const g = reserved();
    g.acquire(T0, 100, 'interactive');
    expect(g.status(T0 + 59_999).interactivePresent).toBe(true);
    expect(g.status(T0 + 60_000).interactivePresent).toBe(false);
  });
});

describe('provisioned deployment: the interactive reserve', () => {
  it('batch keeps the level under its share from the look-ahead on; above it only by what drains before then', () => {
    const g = gate({ mode: 'provisioned', tokensPerMinute: 60_000, ptuMaxUtilization: 0.5, interactiveReserve: 0.2 });
    // 30,000 allowed, 24,000 for batch from the look-ahead on (6 s while no interactive work is present,
    // 1 s while it is); the level drains 1,000 per second.
    const first = startOf(g.acquire(T0, 20_000));
    expect(first).toBe(T0);
    // Its answer shows calls use their whole charge: the ratio is learned, bookings may reach the horizon.
    g.settle(T0, { charged: 20_000, startAt: first, usedTokens: 20_000 });
    // 30,000 now is 24,000 at 6 s: allowed.
    expect(startOf(g.acquire(T0, 10_000))).toBe(T0);
    // 1,000 more must wait until the level is 23,000, at 7 s.
    expect(startOf(g.acquire(T0, 1_000))).toBe(T0 + 7_000);
    // With interactive work present the look-ahead is 1 s: 26,000 now would be 25,000 at 1 s, 1,000 over
    // batch's share, so those 5,000 wait until the level is 19,000, at 2 s.
    const present = gate({ mode: 'provisioned', tokensPerMinute: 60_000, ptuMaxUtilization: 0.5, interactiveReserve: 0.2 });
    expect(startOf(present.acquire(T0, 1_000, 'interactive'))).toBe(T0);
    expect(startOf(present.acquire(T0, 20_000))).toBe(T0);
    expect(startOf(present.acquire(T0, 5_000))).toBe(T0 + 2_000);
    // An interactive call gets the reserve at once.
    expect(startOf(present.acquire(T0 + 1, 5_000, 'interactive'))).toBe(T0 + 1);
  });
});

describe('provisioned deployment', () => {
  const ptu = () => gate({ mode: 'provisioned', tokensPerMinute: 60_000, ptuMaxUtilization: 0.7 });

  it('admits up to the threshold, then waits until the bucket drains enough', () => {
    const g = ptu();
    expect(startOf(g.acquire(T0, 42_000))).toBe(T0);
    expect(g.status(T0).utilization).toBeCloseTo(0.7, 10);
    // 6,000 more need 6,000 to drain: 6 s at 60,000 per minute (rounded up to a 250 ms bucket).
    const next = startOf(g.acquire(T0, 6_000));
    expect(next).toBeGreaterThanOrEqual(T0 + 6_000);
    expect(next).toBeLessThanOrEqual(T0 + 6_250);
  });

  it('reconciles the estimate with real usage when the call ends', () => {
    const g = ptu();
    g.acquire(T0, 42_000);
    g.settle(T0, { charged: 42_000, usedTokens: 12_000 });
    expect(g.status(T0).utilization).toBeCloseTo(0.2, 10);
    expect(startOf(g.acquire(T0, 30_000))).toBe(T0);
  });

  it('takes the live utilization header as the truth, but never an older one over a newer', () => {
    const g = ptu();
    g.acquire(T0, 6_000);
    g.settle(T0 + 1_000, { charged: 6_000, utilization: 0.65 });
    expect(g.status(T0 + 1_000).utilization).toBeCloseTo(0.65, 10);
    g.report(T0 + 1_000, { utilization: 0.1, measuredAt: T0 + 500, source: 'header' });
    expect(g.status(T0 + 1_000).utilization).toBeCloseTo(0.65, 10);
    expect(startOf(g.acquire(T0 + 1_000, 6_000))).toBeGreaterThan(T0 + 1_000);
  });

  it("discounts calls in flight at their whole charge from a header that may only raise the level", () => {
    const g = ptu();
    g.settle(T0, { charged: 1_000, startAt: startOf(g.acquire(T0, 1_000)), usedTokens: 500 }); // ratio 0.9
    const a = g.acquire(T0 + 1, 10_000);
    const b = g.acquire(T0 + 2, 1_000);
    expect(a).toMatchObject({ kind: 'granted', counted: 9_000 });
    expect(b).toMatchObject({ kind: 'granted', counted: 900 });
    // A used its whole charge. Azure's level when it answered: 500 + 10,000 + B's whole 1,000 = 11,500;
    // the gate's, reconciled: 500 + 10,000 + 900. B was admitted after A started, so the header may only
    // raise the level, and less B's 100 held above its count: nothing to raise.
    g.settle(T0 + 3, { charged: 10_000, counted: 9_000, startAt: T0 + 1, usedTokens: 10_000, utilization: 11_500 / 60_000 });
    // (B's 100 drains like the level: ~3 of it is gone by now.)
    expect(g.status(T0 + 3).utilization! * 60_000).toBeCloseTo(11_400, -1);
  });

  it('books batch work only within the quiet look-ahead until a settle has shown what calls use', () => {
    const g = ptu();
    expect(startOf(g.acquire(T0, 42_000))).toBe(T0);
    // 7,000 more fit at 7 s: beyond the look-ahead (6 s) while nothing is learned, so ask again soon.
    expect(g.acquire(T0, 7_000)).toMatchObject({ kind: 'retry', reason: 'beyond_horizon', retryAt: T0 + 3_000 });
    // Interactive work is not held back.
    expect(g.acquire(T0, 7_000, 'interactive')).toMatchObject({ kind: 'granted', startAt: T0 + 7_000 });
    g.settle(T0 + 500, { charged: 42_000, startAt: T0, usedTokens: 42_000 });
    expect(g.acquire(T0 + 500, 7_000)).toMatchObject({ kind: 'granted', startAt: T0 + 14_000 });
  });

  it("drains a settle's header from when its answer came, taken within the call's start and the settle", () => {
    // 60,000 per minute drains 1 token per ms. Nothing was granted after the call, so the header is the level.
    const settled = (utilizationAt: number) => {
      const g = ptu();
      const start = startOf(g.acquire(T0, 6_000));
      g.settle(T0 + 3_000, { charged: 6_000, startAt: start, usedTokens: 6_000, utilization: 0.3, utilizationAt });
      return g.status(T0 + 3_000).utilization! * 60_000;
    };
    // Answered at 1 s with 30% (18,000), settled at 3 s: 2,000 have drained since the answer.
    expect(settled(T0 + 1_000)).toBeCloseTo(16_000, 0);
    // A time before the call's start (another machine's clock) counts from the start.
    expect(settled(T0 - 5_000)).toBeCloseTo(15_000, 0);
    // A time after the settle counts as the settle: the header as it stands.
    expect(settled(T0 + 10_000)).toBeCloseTo(18_000, 0);
  });

  it("lets a settle's header only raise the level when a grant entered the bucket after that call started", () => {
    const g = ptu();
    const first = startOf(g.acquire(T0, 6_000));
    startOf(g.acquire(T0 + 100, 12_000));
    // The first call's answer may have been measured before the second grant: 10% must not drop it.
    g.settle(T0 + 200, { charged: 6_000, startAt: first, utilization: 0.1 });
    expect(g.status(T0 + 200).utilization! * 60_000).toBeCloseTo(18_000 - 200, 0);
    // A header that shows more than the gate counted raises the level all the same.
    g.settle(T0 + 300, { charged: 6_000, startAt: first, utilization: 0.5 });
    expect(g.status(T0 + 300).utilization).toBeCloseTo(0.5, 10);
    // Nothing admitted since the second call started: its header replaces the level.
    g.settle(T0 + 400, { charged: 12_000, startAt: T0 + 100, utilization: 0.2 });
    expect(g.status(T0 + 400).utilization).toBeCloseTo(0.2, 10);
  });

  it('counts a call that names its prompt as the prompt plus the share of its completion budget calls use', () => {
    const g = ptu();
    // Nothing learned yet: the whole charge.
    const first = g.acquire(T0, 10_000, 'batch', 2_000);
    expect(first).toMatchObject({ kind: 'granted', startAt: T0 });
    expect(first).not.toHaveProperty('counted');
    // It used its 2,000-token prompt and 1,600 of its 8,000-token budget (20%): the completion ratio moves a
    // fifth of the way from 1 to 0.2 (0.84), the whole-charge ratio from 1 to 0.36 (0.872).
    g.settle(T0 + 100, { charged: 10_000, startAt: T0, usedTokens: 3_600, promptTokens: 2_000 });
    // A prompt-heavy call: 6,000 + 0.84 × 4,000, where the whole-charge ratio would have said 8,720.
    expect(g.acquire(T0 + 100, 10_000, 'batch', 6_000)).toMatchObject({ kind: 'granted', counted: 6_000 + 3_360 });
    // A call that does not name its prompt keeps the whole-charge ratio.
    expect(g.acquire(T0 + 100, 10_000)).toMatchObject({ kind: 'granted', counted: 8_720 });
    // A settle without the prompt teaches the completion ratio nothing.
    g.settle(T0 + 200, { charged: 10_000, startAt: T0, usedTokens: 10_000 });
    expect(g.state.completionRatio).toBeCloseTo(0.84, 10);
    expect(g.state.usageRatio).toBeCloseTo(0.872 + 0.2 * (1 - 0.872), 10);
  });

  it('counts what calls are expected to use, as settles show it, and reconciles each from what it counted', () => {
    const g = ptu();
    // Ten calls charged 1,000 each use 500: each settle moves the ratio a fifth of the way, 1 → 0.554.
    for (let i = 0; i < 10; i++) {
      const d = g.acquire(T0 + i, 1_000);
      if (d.kind !== 'granted') throw new Error('expected a grant');
      g.settle(T0 + i, { charged: 1_000, startAt: d.startAt, usedTokens: 500, ...(d.counted !== undefined ? { counted: d.counted } : {}) });
    }
    // Every call's level contribution ends at what it used: 10 × 500, less ~10 ms of drain.
    expect(g.status(T0 + 10).utilization! * 60_000).toBeCloseTo(5_000 - 10, 0);
    const next = g.acquire(T0 + 10, 1_000);
    expect(next).toMatchObject({ kind: 'granted', startAt: T0 + 10, counted: 554 });
    expect(g.status(T0 + 10).utilization! * 60_000).toBeCloseTo(5_000 - 10 + 554, 0);
    // A call that used all of its charge: the level gets the rest, from what was counted.
    g.settle(T0 + 10, { charged: 1_000, counted: 554, startAt: T0 + 10, usedTokens: 1_000 });
    expect(g.status(T0 + 10).utilization! * 60_000).toBeCloseTo(5_000 - 10 + 1_000, 0);
  });

  it('never lets epoch-millisecond rounding place a reservation a hair too early (found by the property test)', () => {
    const T = 1_700_000_000_000;
    const config = gateConfigFrom(
      { ...STANDARD, mode: 'provisioned', tokensPerMinute: 5614, requestsPerMinute: 9, windowMs: 1000, horizonMs: 509, ptuMaxUtilization: 0.2515895399449819, interactiveReserve: 0 },
      60,
    );
    let state = initialGateState(T, config);
    state = acquire(state, T + 1, { tokens: 684, priority: 'batch' }, config).state;
    state = acquire(state, T + 1, { tokens: 914, priority: 'batch' }, config).state;
    state = settle(state, T + 2, { charged: 684, usedTokens: 0 }, config);
    // The settle taught the gate that calls use less than their charge (ratio 0.8): 1,212 tokens count 970.
    // At T+134 the level would be 1412.424 against a cap of 1412.4237: the next boundary is the first with room.
    expect(acquire(state, T + 2, { tokens: 1212, priority: 'batch' }, config).result).toMatchObject({ kind: 'granted', startAt: T + 150, counted: 970 });
  });

  it('uses Azure Monitor, late as it is, only to raise its estimate', () => {
    const g = ptu();
    g.report(T0, { utilization: 0.9, measuredAt: T0 - 60_000, source: 'monitor' });
    // 90% a minute ago has drained completely by now.
    expect(g.status(T0).utilization).toBe(0);
    g.report(T0, { utilization: 0.9, measuredAt: T0 - 6_000, source: 'monitor' });
    expect(g.status(T0).utilization).toBeCloseTo(0.8, 10);
    g.report(T0, { utilization: 0.1, measuredAt: T0, source: 'monitor' });
    expect(g.status(T0).utilization).toBeCloseTo(0.8, 10);
  });
});

describe('configuration', () => {
  it('rejects nonsense limits with every problem named', () => {
    expect(() => gateConfigFrom({ ...STANDARD, tokensPerMinute: 0, ptuMaxUtilization: 2 })).toThrow(GateConfigError);
    try {
      gateConfigFrom({ ...STANDARD, tokensPerMinute: 0, ptuMaxUtilization: 2 });
    } catch (error) {
      expect((error as GateConfigError).problems).toEqual(['tokensPerMinute must be above 0', 'ptuMaxUtilization must be in (0, 1]']);
    }
  });

  it('a new quota applies at once when the window keeps its shape', () => {
    const g = gate();
    g.acquire(T0, 10_000);
    const bigger = gateConfigFrom({ ...STANDARD, tokensPerMinute: 20_000 });
    g.reconfigure(T0 + 1, bigger);
    expect(startOf(acquire(g.state, T0 + 1, { tokens: 10_000, priority: 'batch' }, bigger).result)).toBe(T0 + 1);
  });

  it('a new window shape waits until every old charge has left its window', () => {
    const g = gate();
    g.acquire(T0, 10_000);
    const faster = gateConfigFrom({ ...STANDARD, windowMs: 6_000 });
    g.reconfigure(T0 + 1, faster);
    const d = acquire(g.state, T0 + 1, { tokens: 10, priority: 'batch' }, faster).result;
    expect(startOf(d)).toBeGreaterThanOrEqual(T0 + 60_000);
  });
});

describe('state', () => {
  it('is plain JSON and survives a round trip unchanged in behaviour', () => {
    const g = gate();
    g.acquire(T0, 3_000);
    g.acquire(T0 + 5, 9_000);
    const copy = JSON.parse(JSON.stringify(g.state)) as GateState;
    const config = g.config;
    expect(acquire(copy, T0 + 10, { tokens: 500, priority: 'batch' }, config)).toEqual(acquire(g.state, T0 + 10, { tokens: 500, priority: 'batch' }, config));
  });

  it('stays bounded: a full window at 10,000 RPM is a few kilobytes, and an idle gate forgets everything', () => {
    const g = gate({ tokensPerMinute: 10_000_000, requestsPerMinute: 10_000, horizonMs: 60_000 });
    let now = T0;
    let maxBytes = 0;
    // 10,000 requests a minute for two minutes, plus a backlog that fills the horizon.
    for (let i = 0; i < 20_000; i++) {
      now = T0 + i * 6;
      g.acquire(now, 500);
      if (i % 1_000 === 0) maxBytes = Math.max(maxBytes, JSON.stringify(g.state).length);
    }
    for (let i = 0; i < 3_000; i++) g.acquire(now, 500);
    maxBytes = Math.max(maxBytes, JSON.stringify(g.state).length);
    expect(g.state.tokens.length).toBeLessThanOrEqual(g.config.bucketsPerWindow * 2 + 2);
    expect(maxBytes).toBeLessThan(16_000);
    const idle = JSON.parse(JSON.stringify(status(g.state, now + 10 * 60_000, g.config)));
    expect(idle).toMatchObject({ windowTokens: 0, reservedTokens: 0 });
    const later = acquire(g.state, now + 10 * 60_000, { tokens: 1, priority: 'batch' }, g.config).state;
    expect(later.tokens.length).toBe(g.config.bucketsPerWindow + 1);
  });
});

describe('pacing', () => {
  it('derives the interval from the quota: the request window spread evenly, W / RPM rounded up; none on provisioned', () => {
    expect(minIntervalOf(gateConfigFrom({ ...STANDARD, minIntervalMs: undefined, requestsPerMinute: 180 }))).toBe(334);
    expect(minIntervalOf(gateConfigFrom({ ...STANDARD, minIntervalMs: undefined, requestsPerMinute: 10_000 }))).toBe(6);
    expect(minIntervalOf(gateConfigFrom({ ...STANDARD, minIntervalMs: undefined, mode: 'provisioned' }))).toBe(0);
    expect(minIntervalOf(gateConfigFrom({ ...STANDARD, minIntervalMs: 50 }))).toBe(50);
  });

  it('spreads a burst that the windows would admit at once', () => {
    const g = gate({ minIntervalMs: 1_000 });
    // Interactive work keeps the pace itself from the first start on.
    const starts = [0, 1, 2, 3].map(() => startOf(g.acquire(T0, 10, 'interactive')));
    expect(starts).toEqual([T0, T0 + 1_000, T0 + 2_000, T0 + 3_000]);
    // A later request goes straight in once it is a pace away from every start.
    expect(startOf(g.acquire(T0 + 4_500, 10, 'interactive'))).toBe(T0 + 4_500);
  });

  it('opens a window at the opening pace: batch starts in the first window after idle keep 1.5 paces apart', () => {
    const g = gate({ minIntervalMs: 1_000, interactiveReserve: 0 });
    const opening = [0, 1, 2].map(() => startOf(g.acquire(T0, 10)));
    expect(opening).toEqual([T0, T0 + 1_500, T0 + 3_000]);
    // Interactive work is not slowed by it, and the ordinary pace still holds around it.
    expect(startOf(g.acquire(T0 + 3_100, 10, 'interactive'))).toBe(T0 + 4_000);
    // A batch start is placed past the window's end at the ordinary pace: the opening ends a window after its first start.
    expect(startOf(g.acquire(T0 + 59_900, 10))).toBe(T0 + 59_900);
    expect(startOf(g.acquire(T0 + 60_000, 10))).toBe(T0 + 60_900);
    expect(startOf(g.acquire(T0 + 60_000, 10))).toBe(T0 + 61_900);
  });

  it('opens a new window only once every charge has left the windows', () => {
    const g = gate({ minIntervalMs: 1_000, interactiveReserve: 0 });
    expect(startOf(g.acquire(T0, 10))).toBe(T0);
    expect(startOf(g.acquire(T0 + 59_000, 10))).toBe(T0 + 59_000);
    // The opening has ended, but a charge is still in the window: the ordinary pace applies.
    expect(startOf(g.acquire(T0 + 61_000, 10))).toBe(T0 + 61_000);
    expect(startOf(g.acquire(T0 + 61_000, 10))).toBe(T0 + 62_000);
    // Idle again (every charge has left its window): the next batch opens a window at the opening pace.
    const idle = T0 + 200_000;
    expect([0, 1].map(() => startOf(g.acquire(idle, 10)))).toEqual([idle, idle + 1_500]);
  });

  it('keeps a reservation placed earlier than existing ones a pace away from them too, whatever its priority', () => {
    const g = gate({ minIntervalMs: 1_000, interactiveReserve: 0 });
    expect(startOf(g.acquire(T0, 6_000))).toBe(T0);
    // 6,000 more wait for the first charge to leave the window, about a minute later.
    const late = startOf(g.acquire(T0, 6_000));
    expect(late).toBeGreaterThanOrEqual(T0 + 60_000);
    // A small request fits now, but not on top of the first start (in the opening, 1.5 paces away); an
    // interactive one is paced as well.
    expect(startOf(g.acquire(T0 + 200, 10))).toBe(T0 + 1_500);
    expect(startOf(g.acquire(T0 + 200, 10, 'interactive'))).toBe(T0 + 2_500);
    // Arriving just before the reserved slot, it is placed a pace before or after it, never closer.
    const near = startOf(g.acquire(late - 300, 10));
    expect(Math.abs(near - late)).toBeGreaterThanOrEqual(1_000);
  });

  it('on provisioned deployments keeps reserved starts on bucket boundaries a pace apart', () => {
    const g = gate({ mode: 'provisioned', tokensPerMinute: 60_000, ptuMaxUtilization: 1, minIntervalMs: 400 });
    const starts = [0, 1, 2].map(() => startOf(g.acquire(T0, 10)));
    // Boundaries are 250 ms apart: the first clear of a 400 ms pace after T0 is T0 + 500.
    expect(starts).toEqual([T0, T0 + 500, T0 + 1_000]);
  });
});

describe('in-flight leases', () => {
  it('derives the limit from the quota: every request the quota can start over the horizon plus one window', () => {
    expect(inFlightLimit(gateConfigFrom({ ...STANDARD, requestsPerMinute: 180, horizonMs: 120_000 }))).toBe(540);
    expect(inFlightLimit(gateConfigFrom({ ...STANDARD, maxInFlight: 7 }))).toBe(7);
    expect(inFlightLimit(gateConfigFrom({ ...STANDARD, maxInFlight: 0 }))).toBe(Number.POSITIVE_INFINITY);
    expect(leaseMsOf(gateConfigFrom(STANDARD))).toBe(DEFAULT_LEASE_MS);
  });

  it('holds a lease from grant to settle; at the limit work is told to come back (in_flight), and settle frees the slot', () => {
    const g = gate({ maxInFlight: 2 });
    const first = startOf(g.acquire(T0, 100));
    startOf(g.acquire(T0, 100));
    expect(g.status(T0)).toMatchObject({ inFlight: 2, maxInFlight: 2 });
    const refused = g.acquire(T0 + 10, 100);
    expect(refused).toMatchObject({ kind: 'retry', reason: 'in_flight' });
    if (refused.kind === 'retry') {
      expect(refused.retryAt).toBeGreaterThan(T0 + 10);
      // Never later than the first lease's lapse: the end of its bucket plus the lease timeout.
      expect(refused.retryAt).toBeLessThanOrEqual(T0 + 250 + DEFAULT_LEASE_MS);
    }
    g.settle(T0 + 500, { charged: 100, startAt: first, usedTokens: 20 });
    expect(g.status(T0 + 500).inFlight).toBe(1);
    expect(startOf(g.acquire(T0 + 700, 100))).toBe(T0 + 700);
    expect(g.acquire(T0 + 800, 100)).toMatchObject({ kind: 'retry', reason: 'in_flight' });
  });

  it('counts reserved slots: a grant for later holds its lease from the moment it is granted', () => {
    const g = gate({ maxInFlight: 2 });
    g.acquire(T0, 10_000);
    expect(startOf(g.acquire(T0, 100))).toBeGreaterThan(T0 + 60_000);
    expect(g.status(T0).inFlight).toBe(2);
    expect(g.acquire(T0, 1)).toMatchObject({ kind: 'retry', reason: 'in_flight' });
  });

  it('spaces the work it refuses, so the waiting jobs do not all come back at once', () => {
    const g = gate({ maxInFlight: 1, requestsPerMinute: 60 });
    g.acquire(T0, 100);
    const retries = [0, 1, 2].map(() => g.acquire(T0, 100)).map((d) => (d.kind === 'retry' ? d.retryAt : NaN));
    // 60 RPM: one start a second.
    expect(retries).toEqual([T0 + 1_000, T0 + 2_000, T0 + 3_000]);
  });

  it("releases a dead worker's slot when its lease lapses, leaseMs after the end of its start's bucket", () => {
    const g = gate({ maxInFlight: 1, leaseMs: 10_000 });
    expect(startOf(g.acquire(T0 + 100, 100))).toBe(T0 + 100);
    // The bucket [T0, T0 + 250) ends at T0 + 250: the lease lapses at T0 + 10,250.
    expect(g.acquire(T0 + 10_249, 100)).toEqual({ kind: 'retry', retryAt: T0 + 10_250, reason: 'in_flight' });
    expect(startOf(g.acquire(T0 + 10_250, 100))).toBe(T0 + 10_250);
    expect(g.status(T0 + 10_250).inFlight).toBe(1);
    // A settle that arrives after its lease lapsed releases nothing (the new holder keeps its slot).
    g.settle(T0 + 10_300, { charged: 100, startAt: T0 + 100 });
    expect(g.status(T0 + 10_300).inFlight).toBe(1);
  });

  it('a settle that names no slot (an older caller) releases the earliest lease', () => {
    const g = gate({ maxInFlight: 3 });
    g.acquire(T0, 10_000);
    const later = startOf(g.acquire(T0, 100));
    g.settle(T0 + 1, { charged: 10_000 });
    expect(g.status(T0 + 1).inFlight).toBe(1);
    g.settle(later, { charged: 100, startAt: later });
    expect(g.status(later).inFlight).toBe(0);
  });

  it('a new limit applies at once; leases carry over a change of window shape', () => {
    const g = gate({ maxInFlight: 1 });
    g.acquire(T0, 10);
    g.reconfigure(T0, gateConfigFrom({ ...STANDARD, maxInFlight: 2 }));
    expect(startOf(acquire(g.state, T0, { tokens: 10, priority: 'batch' }, gateConfigFrom({ ...STANDARD, maxInFlight: 2 })).result)).toBe(T0);
    const faster = gateConfigFrom({ ...STANDARD, windowMs: 6_000, maxInFlight: 1 });
    g.reconfigure(T0 + 1, faster);
    expect(status(g.state, T0 + 1, faster).inFlight).toBe(1);
  });
});

describe('configuration of in-flight and pacing', () => {
  it('rejects a negative or fractional limit, a pace longer than the window and a lease of nothing', () => {
    try {
      gateConfigFrom({ ...STANDARD, maxInFlight: 1.5, minIntervalMs: 60_001, leaseMs: 0 });
      expect.unreachable();
    } catch (error) {
      expect((error as GateConfigError).problems).toEqual([
        'maxInFlight must be a whole number, 0 or more (0: no limit)',
        'minIntervalMs must be a whole number of milliseconds from 0 to windowMs (0: no pacing)',
        'leaseMs must be a whole number above 0',
      ]);
    }
  });

  it('upgrades a version 1 state: no leases, no starts, the quota count kept', () => {
    const g = gate();
    g.acquire(T0, 4_000);
    const { leases: _leases, starts: _starts, inFlightRetryUntil: _until, ...rest } = g.state;
    const v1: GateStateV1 = { ...rest, v: 1 };
    const upgraded = upgradeGateState(v1);
    expect(upgraded.v).toBe(2);
    expect(status(upgraded, T0, g.config)).toMatchObject({ windowTokens: 4_000, inFlight: 0 });
  });
});
