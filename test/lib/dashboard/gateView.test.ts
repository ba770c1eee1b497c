/** The gate as the dashboard shows it: status() whole, and the stored buckets per time slice. */
import { describe, expect, it } from 'vitest';
import { UnreadableGateStateError, bucketsPerSlice, gateView } from '../../../src/lib/dashboard/gateView.js';
import { GateConfigInput, gateConfigFrom, status, upgradeGateState } from '../../../src/lib/gate/index.js';
import { GateEntityState, runGateOperation } from '../../../src/lib/gate/operations.js';

const T0 = 1_800_000_000_000;
const STANDARD: GateConfigInput = {
  mode: 'standard',
  tokensPerMinute: 1_000,
  requestsPerMinute: 60,
  windowMs: 60_000,
  horizonMs: 120_000,
  ptuMaxUtilization: 0.7,
  interactiveReserve: 0.2,
  startToleranceMs: 0,
  minIntervalMs: 0,
};

/** The entity's stored state after some acquires, as JSON: what readEntityState hands the data function. */
function storedAfter(config: GateConfigInput, grants: readonly { at: number; tokens: number }[]): unknown {
  let state: GateEntityState | undefined;
  for (const grant of grants) {
    const outcome = runGateOperation(state, () => gateConfigFrom(config), 'acquire', { tokens: grant.tokens, priority: 'batch' }, grant.at);
    expect(outcome.result.ok).toBe(true);
    state = outcome.state;
  }
  return JSON.parse(JSON.stringify(state));
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

describe('gateView', () => {
  it('slices the last window and the reservations ahead, agreeing with status()', () => {
    // 300 tokens at 0 s, 10 s and 20 s, then 400 that only fit once the first charge leaves the window.
    const stored = storedAfter(STANDARD, [
      { at: T0, tokens: 300 },
      { at: T0 + 10_000, tokens: 300 },
      { at: T0 + 20_000, tokens: 300 },
      { at: T0 + 30_000, tokens: 400 },
    ]);
    const now = T0 + 30_000;
    const view = gateView(stored, now);
    const { config, gate } = stored as GateEntityState;
    const expected = status(upgradeGateState(gate), now, config);

    expect(view.status).toEqual(expected);
    expect(view).toMatchObject({ mode: 'standard', now, windowMs: 60_000, quota: 1_000, utilization: 0.9, sliceMs: 1_000 });
    const perWindow = 60;
    const past = view.slices.slice(0, perWindow);
    const ahead = view.slices.slice(perWindow);
    expect(sum(past.map((s) => s.tokens))).toBe(expected.windowTokens);
    expect(sum(past.map((s) => s.tokens))).toBe(900);
    expect(sum(ahead.map((s) => s.tokens))).toBe(expected.reservedTokens);
    expect(sum(ahead.map((s) => s.tokens))).toBe(400);
    expect(sum(view.slices.map((s) => s.requests))).toBe(4);
    // Evenly spaced; the last past slice holds now, every slice ahead starts after it.
    view.slices.forEach((s, i) => expect(s.at).toBe(view.slices[0]!.at + i * view.sliceMs));
    expect(past[past.length - 1]!.at).toBeLessThanOrEqual(now);
    expect(past[past.length - 1]!.at + view.sliceMs).toBeGreaterThan(now);
    expect(ahead.every((s) => s.at > now)).toBe(true);
    // The reservation sits where the gate put it: when the 0 s charge has left the window.
    expect(ahead.find((s) => s.tokens > 0)!.at).toBe(expected.reservedUntil);
  });

  it('shows an idle window as empty slices, and time moving on drains it', () => {
    const stored = storedAfter(STANDARD, [{ at: T0, tokens: 500 }]);
    expect(gateView(stored, T0 + 1_000).status.windowTokens).toBe(500);
    const later = gateView(stored, T0 + 120_000);
    expect(later.status.windowTokens).toBe(0);
    expect(later.utilization).toBe(0);
    expect(later.slices).toHaveLength(60);
    expect(later.slices.every((s) => s.tokens === 0 && s.requests === 0)).toBe(true);
  });

  it('scales the quota by the adaptive factor after 429s', () => {
    let stored = storedAfter(STANDARD, [{ at: T0, tokens: 100 }]) as GateEntityState;
    for (const at of [T0 + 1_000, T0 + 2_000]) {
      stored = runGateOperation(stored, () => gateConfigFrom(STANDARD), 'settle', { charged: 100, throttled: { kind: 'rate_limit', retryAfterMs: 100 } }, at).state!;
    }
    const view = gateView(JSON.parse(JSON.stringify(stored)), T0 + 3_000);
    expect(view.status.factor).toBeLessThan(1);
    expect(view.quota).toBeCloseTo(1_000 * view.status.factor);
  });

  it('reports a provisioned gate’s own utilization estimate', () => {
    const provisioned = { ...STANDARD, mode: 'provisioned' as const, tokensPerMinute: 10_000 };
    const stored = storedAfter(provisioned, [{ at: T0, tokens: 2_000 }]);
    const view = gateView(stored, T0 + 100);
    expect(view.mode).toBe('provisioned');
    expect(view.utilization).toBe(view.status.utilization);
    expect(view.utilization).toBeGreaterThan(0);
  });

  it('reads a version 1 state (before leases and pacing) through the gate’s own upgrade', () => {
    const stored = storedAfter(STANDARD, [{ at: T0, tokens: 200 }]) as { config: unknown; gate: Record<string, unknown> };
    const { leases: _leases, starts: _starts, inFlightRetryUntil: _retry, ...v1 } = stored.gate;
    const view = gateView({ config: stored.config, gate: { ...v1, v: 1 } }, T0 + 1_000);
    expect(view.status.windowTokens).toBe(200);
  });

  it('refuses state it does not understand instead of guessing', () => {
    for (const bad of [null, 'x', {}, { config: {}, gate: {} }, { config: { windowMs: 1, bucketsPerWindow: 6, mode: 'other' }, gate: { v: 2, base: 0, clock: 0, tokens: [], requests: [] } }]) {
      expect(() => gateView(bad, T0)).toThrow(UnreadableGateStateError);
    }
    const stored = storedAfter(STANDARD, [{ at: T0, tokens: 1 }]) as { config: unknown; gate: object };
    expect(() => gateView({ ...stored, gate: { ...stored.gate, v: 9 } }, T0)).toThrow(UnreadableGateStateError);
  });

  it('groups buckets into about 60 slices per window, each slice whole buckets', () => {
    expect(bucketsPerSlice(240)).toBe(4);
    expect(bucketsPerSlice(120)).toBe(2);
    expect(bucketsPerSlice(246)).toBe(3);
    expect(bucketsPerSlice(60)).toBe(1);
    expect(bucketsPerSlice(6)).toBe(1);
  });
});
