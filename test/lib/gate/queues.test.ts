/** Named queues in the gate, case by case: the protocol, nested limits, fair shares, bounded state. */
import { describe, expect, it } from 'vitest';
import {
  AcquireQueue,
  GateConfigInput,
  acquire,
  gateConfigFrom,
  reconfigure,
  settle,
} from '../../../src/lib/gate/index.js';
import { T0, gateDriver, startOf } from './driver.js';
import { GateInputError, parseAcquire, runGateOperation } from '../../../src/lib/gate/operations.js';

const W = 60_000;
const STANDARD: GateConfigInput = {
  mode: 'standard',
  tokensPerMinute: 10_000,
  requestsPerMinute: 600,
  windowMs: W,
  horizonMs: 120_000,
  ptuMaxUtilization: 0.7,
  interactiveReserve: 0,
  startToleranceMs: 0,
  minIntervalMs: 0,
  maxInFlight: 0,
};

const gate = (overrides: Partial<GateConfigInput> = {}) => gateDriver(gateConfigFrom({ ...STANDARD, ...overrides }));

describe('parseAcquire: promptTokens', () => {
  it("takes the prompt's part of the tokens, a whole number within them", () => {
    expect(parseAcquire({ tokens: 10, promptTokens: 4 })).toEqual({ tokens: 10, priority: 'batch', promptTokens: 4 });
    expect(parseAcquire({ tokens: 10, promptTokens: 10 })).toMatchObject({ promptTokens: 10 });
    for (const bad of [11, -1, 1.5, '4']) {
      expect(() => parseAcquire({ tokens: 10, promptTokens: bad })).toThrow(GateInputError);
      expect(() => parseAcquire({ tokens: 10, promptTokens: bad })).toThrow('promptTokens');
    }
  });
});

describe('parseAcquire: queue', () => {
  it('takes a queue with its limits; null limits do not apply', () => {
    expect(parseAcquire({ tokens: 10, queue: { name: 'team-a', windowMs: 60_000, tokensPerWindow: 500, requestsPerWindow: null } })).toEqual({
      tokens: 10,
      priority: 'batch',
      queue: { name: 'team-a', windowMs: 60_000, tokensPerWindow: 500 },
    });
    expect(parseAcquire({ tokens: 10, queue: null })).toEqual({ tokens: 10, priority: 'batch' });
  });

  it.each([
    [{ name: '', windowMs: 1000 }, 'queue.name'],
    [{ name: 'a/b', windowMs: 1000 }, 'queue.name'],
    [{ name: 'a', windowMs: 0 }, 'queue.windowMs'],
    [{ name: 'a', windowMs: 86_400_001 }, 'queue.windowMs'],
    [{ name: 'a', windowMs: 1000, tokensPerWindow: 0 }, 'queue.tokensPerWindow'],
    [{ name: 'a', windowMs: 1000, requestsPerWindow: 1.5 }, 'queue.requestsPerWindow'],
    ['a', 'queue must be an object'],
  ])('refuses %j', (queue, message) => {
    expect(() => parseAcquire({ tokens: 1, queue })).toThrow(GateInputError);
    expect(() => parseAcquire({ tokens: 1, queue })).toThrow(message);
  });

  it('the entity answers an invalid queue with invalid_input, as a value', () => {
    const config = gateConfigFrom(STANDARD);
    const outcome = runGateOperation(undefined, () => config, 'acquire', { tokens: 1, queue: { name: 'a' } }, T0);
    expect(outcome.result).toEqual({ ok: false, error: { code: 'invalid_input', message: expect.stringContaining('queue.windowMs') } });
  });
});

describe('nested limits', () => {
  const teamA: AcquireQueue = { name: 'a', windowMs: W, tokensPerWindow: 1_000 };

  it('a queue waits for its own window even while the deployment has room, and other work does not', () => {
    const g = gate();
    expect(startOf(g.acquire(T0, 800, teamA))).toBe(T0);
    // 800 + 300 > 1000: the queue's next room is when the first charge leaves its window (plus a bucket).
    const next = startOf(g.acquire(T0 + 1, 300, teamA));
    expect(next).toBeGreaterThanOrEqual(T0 + W);
    expect(next).toBeLessThanOrEqual(T0 + W + W / 240 + 1);
    // The default queue is unaffected by the queue's limit.
    expect(startOf(g.acquire(T0 + 2, 5_000))).toBe(T0 + 2);
  });

  it('a request larger than its queue limit is rejected, with the queue limit', () => {
    expect(gate().acquire(T0, 1_001, teamA)).toEqual({ kind: 'rejected', reason: 'too_large', limit: 1_000 });
  });

  it('a request limit per queue window', () => {
    const g = gate();
    const q: AcquireQueue = { name: 'r', windowMs: 10_000, requestsPerWindow: 2 };
    expect(startOf(g.acquire(T0, 1, q))).toBe(T0);
    expect(startOf(g.acquire(T0, 1, q))).toBe(T0);
    expect(startOf(g.acquire(T0, 1, q))).toBeGreaterThanOrEqual(T0 + 10_000);
  });

  it('a day-long window is kept in coarse buckets, and full work is told to come back when it has room', () => {
    const g = gate();
    const daily: AcquireQueue = { name: 'daily', windowMs: 86_400_000, tokensPerWindow: 1_000 };
    expect(startOf(g.acquire(T0, 1_000, daily))).toBe(T0);
    const q = g.state.queues!.queues.find((e) => e.name === 'daily')!;
    expect(q.unit).toBe(1_440);
    expect(q.ownTokens.length).toBeLessThanOrEqual(300);
    const retry = g.acquire(T0 + 1_000, 10, daily);
    expect(retry.kind).toBe('retry');
    // Not every half horizon for a day, but once the day's window has room (a horizon ahead of it at most).
    if (retry.kind === 'retry') expect(retry.retryAt).toBeGreaterThan(T0 + 86_400_000 - 120_000);
  });

  it('a change of geometry keeps the queue charges (over-counted, never lost)', () => {
    const g = gate();
    const daily: AcquireQueue = { name: 'daily', windowMs: 86_400_000, tokensPerWindow: 1_000 };
    g.acquire(T0, 600, daily);
    const next = gateConfigFrom({ ...STANDARD, windowMs: 30_000 });
    let state = reconfigure(g.state, T0 + 1, g.config, next);
    const later = T0 + 10 * 60_000;
    const step = acquire(state, later, { tokens: 500, priority: 'batch', queue: daily }, next);
    state = step.state;
    expect(step.result.kind).toBe('retry');
  });
});

describe('a queue whose window changes', () => {
  it('keeps its charges, re-cut to the new window', () => {
    const g = gate();
    g.acquire(T0, 900, { name: 'a', windowMs: W, tokensPerWindow: 1_000 });
    // Now a 30-window limit: the 900 already charged still count.
    expect(g.acquire(T0 + 1_000, 200, { name: 'a', windowMs: 30 * W, tokensPerWindow: 1_000 }).kind).toBe('retry');
    expect(startOf(g.acquire(T0 + 2_000, 100, { name: 'a', windowMs: 30 * W, tokensPerWindow: 1_000 }))).toBe(T0 + 2_000);
    // And back to a short window: the coarse buckets are re-cut, over-counted, never lost.
    expect(startOf(g.acquire(T0 + 3_000, 10, { name: 'a', windowMs: W, tokensPerWindow: 1_000 }))).toBeGreaterThanOrEqual(T0 + W);
  });
});

describe('fair shares', () => {
  const a: AcquireQueue = { name: 'a', windowMs: W };
  const b: AcquireQueue = { name: 'b', windowMs: W };

  it('alone, a queue may reserve the whole quota ahead (work-conserving)', () => {
    const g = gate();
    const starts = Array.from({ length: 20 }, () => startOf(g.acquire(T0, 1_000, a)));
    // Ten fit now, ten more a window later: nothing is held back for queues that are not there.
    expect(starts.filter((s) => s === T0)).toHaveLength(10);
    expect(Math.max(...starts)).toBeLessThanOrEqual(T0 + W + W / 240 + 1);
  });

  it('with two queues active, one holds at most half of every window beyond the look-ahead', () => {
    const g = gate();
    g.acquire(T0, 1, b);
    const starts: number[] = [];
    for (let i = 0; i < 14; i++) {
      const d = g.acquire(T0 + 1, 1_000, a);
      if (d.kind === 'granted') starts.push(d.startAt);
    }
    // Inside the look-ahead a may take what b leaves (the window now); beyond it, half a window each.
    const now = starts.filter((s) => s < T0 + 1_000);
    const ahead = starts.filter((s) => s >= T0 + W);
    expect(now.length).toBeGreaterThanOrEqual(9);
    expect(ahead.filter((s) => s < T0 + 2 * W).length).toBeLessThanOrEqual(5);
    // b's share is there when it asks a window later.
    expect(startOf(g.acquire(T0 + W - 1, 4_000, b))).toBeLessThanOrEqual(T0 + 2 * W + W / 240 + 1);
  });

  it('work without a queue counts as the default queue', () => {
    const g = gate();
    g.acquire(T0, 1);
    for (let i = 0; i < 15; i++) g.acquire(T0 + 1, 1_000, a);
    const reserved = g.state.queues!.queues.find((e) => e.name === 'a')!;
    const aheadOfWindow = reserved.tokens.reduce((s, v) => s + v, 0);
    expect(aheadOfWindow).toBeLessThanOrEqual(5_000);
  });

  it('a queue idle for a window whose charges have left every window is dropped: the state stays bounded', () => {
    const g = gate();
    g.acquire(T0, 100, a);
    g.acquire(T0, 100);
    expect(g.state.queues?.queues.map((q) => q.name)).toEqual(['a']);
    g.acquire(T0 + 2 * W + 1, 100, b);
    expect(g.state.queues?.queues.map((q) => q.name)).toEqual(['b']);
    expect(g.state.queues?.defaultSeenAt).toBeNull();
    g.acquire(T0 + 5 * W, 1);
    // Only the default queue's activity is left, then nothing.
    expect(g.state.queues?.queues).toEqual([]);
    // A window later nothing of the queues is kept at all.
    const idle = settle(g.state, T0 + 6 * W + 1, { charged: 0 }, g.config);
    expect(idle.queues).toBeUndefined();
  });
});
