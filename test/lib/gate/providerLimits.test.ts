/**
 * A provider's gate following the limits the provider states: the settle fields that carry them
 * (`providerLimits`, `exhaustedForMs`) validated by `parseSettle`, and adopted (or not) through
 * `runGateOperation`, the entity's own dispatch, with the state passed through JSON as it is stored.
 */
import { describe, expect, it } from 'vitest';
import { GateConfig, gateConfigFrom } from '../../../src/lib/gate/config.js';
import { GateEntityOptions, GateEntityState, configWithProviderLimits, parseSettle, runGateOperation } from '../../../src/lib/gate/operations.js';
import { AcquireDecision, GateStatus } from '../../../src/lib/gate/types.js';

const T0 = Date.parse('2026-11-23T12:00:00.000Z');
const WINDOW = 60_000;
const appQuota = gateConfigFrom({
  mode: 'standard',
  tokensPerMinute: 30_000,
  requestsPerMinute: 180,
  windowMs: WINDOW,
  horizonMs: 2 * WINDOW,
  ptuMaxUtilization: 0.7,
  interactiveReserve: 0.2,
  startToleranceMs: 0,
  minIntervalMs: 0,
});
const PROVIDER: GateEntityOptions = { adoptProviderLimits: true };

/** One gate entity's state, run as the tokenGate entity runs it. */
class Gate {
  state: GateEntityState | undefined;
  constructor(
    private readonly options: GateEntityOptions,
    private readonly defaults: GateConfig = appQuota,
  ) {}
  run(operation: string, input: unknown, now: number) {
    const outcome = runGateOperation(this.state, () => this.defaults, operation, input, now, this.options);
    this.state = outcome.state === undefined ? undefined : (JSON.parse(JSON.stringify(outcome.state)) as GateEntityState);
    return outcome.result;
  }
  grant(tokens: number, now: number): Extract<AcquireDecision, { kind: 'granted' }> {
    const result = this.run('acquire', { tokens, priority: 'batch' }, now);
    if (!result.ok || (result.value as AcquireDecision).kind !== 'granted') throw new Error(`not granted: ${JSON.stringify(result)}`);
    return result.value as Extract<AcquireDecision, { kind: 'granted' }>;
  }
  status(now: number): GateStatus {
    const result = this.run('status', undefined, now);
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return result.value as GateStatus;
  }
}

describe('parseSettle: the provider fields', () => {
  it('takes providerLimits (either limit or both) and exhaustedForMs', () => {
    expect(parseSettle({ charged: 10, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 }, exhaustedForMs: 20_000 })).toEqual({
      charged: 10,
      providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 },
      exhaustedForMs: 20_000,
    });
    expect(parseSettle({ charged: 10, providerLimits: { requestsPerMinute: 3 } })).toEqual({ charged: 10, providerLimits: { requestsPerMinute: 3 } });
    expect(parseSettle({ charged: 10, exhaustedForMs: 0 })).toEqual({ charged: 10, exhaustedForMs: 0 });
  });

  it.each([
    [{ providerLimits: 150_000 }, 'providerLimits must be an object'],
    [{ providerLimits: [150_000] }, 'providerLimits must be an object'],
    [{ providerLimits: {} }, 'providerLimits must give tokensPerMinute or requestsPerMinute'],
    [{ providerLimits: { tokensPerMinute: 0 } }, 'providerLimits.tokensPerMinute must be a whole number above 0'],
    [{ providerLimits: { tokensPerMinute: 1.5 } }, 'providerLimits.tokensPerMinute must be a whole number above 0'],
    [{ providerLimits: { requestsPerMinute: '600' } }, 'providerLimits.requestsPerMinute must be a whole number above 0'],
    [{ providerLimits: { tokensPerMinute: 100, limitTokens: 100 } }, 'providerLimits has unknown field(s) limitTokens; expected tokensPerMinute, requestsPerMinute'],
    [{ exhaustedForMs: -1 }, 'exhaustedForMs must be milliseconds, 0 or more'],
    [{ exhaustedForMs: Number.POSITIVE_INFINITY }, 'exhaustedForMs must be milliseconds, 0 or more'],
  ])('refuses %j with a message naming the field', (fields, message) => {
    expect(() => parseSettle({ charged: 10, ...fields })).toThrow(message);
    const gate = new Gate(PROVIDER);
    expect(gate.run('settle', { charged: 10, ...fields }, T0)).toEqual({ ok: false, error: { code: 'invalid_input', message } });
  });
});

describe("a provider's gate adopts the limits its headers state", () => {
  it('takes them as its quotas on the settle that carries them, pace and in-flight limit derived again, charges kept', () => {
    const gate = new Gate(PROVIDER);
    const slot = gate.grant(1_000, T0);
    expect(gate.status(T0)).toMatchObject({ tokensPerWindow: 30_000, requestsPerRequestWindow: 30, inFlight: 1 });
    const settled = gate.run('settle', { charged: 1_000, startAt: slot.startAt, usedTokens: 800, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } }, T0 + 500);
    expect(settled).toEqual({ ok: true, value: null });
    expect(gate.state!.config).toMatchObject({ mode: 'standard', tokensPerMinute: 150_000, requestsPerMinute: 600 });
    expect(gate.state!.config).not.toHaveProperty('minIntervalMs');
    expect(gate.status(T0 + 500)).toMatchObject({
      tokensPerWindow: 150_000,
      requestsPerRequestWindow: 100,
      // Derived from the new RPM: 60 s / 600.
      minIntervalMs: 100,
      // The settle released the lease, under the new configuration.
      inFlight: 0,
      // Same window shape: what was admitted is still counted.
      windowTokens: 1_000,
      pausedUntil: null,
    });
  });

  it('keeps the configuration when the limits are the same, and changes it again only when they differ', () => {
    const gate = new Gate(PROVIDER);
    gate.run('settle', { charged: 0, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } }, T0);
    // An operator's pace for this provider survives settles that only confirm the limits.
    gate.run('configure', { minIntervalMs: 250 }, T0);
    gate.run('settle', { charged: 0, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } }, T0 + 1);
    expect(gate.state!.config).toMatchObject({ tokensPerMinute: 150_000, requestsPerMinute: 600, minIntervalMs: 250 });
    // Only the token limit sent: the request limit stays as adopted before.
    gate.run('settle', { charged: 0, providerLimits: { tokensPerMinute: 90_000 } }, T0 + 2);
    expect(gate.state!.config).toMatchObject({ tokensPerMinute: 90_000, requestsPerMinute: 600 });
    expect(gate.state!.config).not.toHaveProperty('minIntervalMs');
    const config = gate.state!.config;
    expect(configWithProviderLimits(config, { tokensPerMinute: 90_000, requestsPerMinute: 600 })).toBe(config);
  });

  it('admits by the adopted quota: a smaller limit binds at once', () => {
    const gate = new Gate(PROVIDER);
    const first = gate.grant(1_500, T0);
    gate.run('settle', { charged: 1_500, startAt: first.startAt, usedTokens: 1_500, providerLimits: { tokensPerMinute: 2_000, requestsPerMinute: 60 } }, T0 + 100);
    // 1,500 more do not fit the 2,000 of this window: not before the first charge has left it.
    const next = gate.run('acquire', { tokens: 1_500, priority: 'batch' }, T0 + 200);
    expect(next.ok).toBe(true);
    const decision = (next as { value: AcquireDecision }).value;
    expect(decision.kind).toBe('granted');
    expect((decision as { startAt: number }).startAt).toBeGreaterThanOrEqual(T0 + WINDOW);
    // A charge above the adopted quota can never be admitted.
    expect(gate.run('acquire', { tokens: 2_001, priority: 'batch' }, T0 + 300)).toMatchObject({ ok: true, value: { kind: 'rejected', reason: 'too_large', limit: 2_000 } });
  });

  it('goes to standard mode from the app\'s provisioned settings through reconfigure: admission waits for the old charges', () => {
    const provisioned = gateConfigFrom({ ...appQuota, mode: 'provisioned' });
    const gate = new Gate(PROVIDER, provisioned);
    const slot = gate.grant(5_000, T0);
    gate.run('settle', { charged: 5_000, startAt: slot.startAt, usedTokens: 5_000, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } }, T0 + 100);
    const status = gate.status(T0 + 100);
    expect(status).toMatchObject({ mode: 'standard', tokensPerWindow: 150_000 });
    // A change of mode cannot map the old buckets: nothing is admitted until they have drained.
    expect(status.pausedUntil).toBeGreaterThan(T0 + 100);
  });

  it("never changes an Azure deployment's gate, whose quota is its settings", () => {
    const gate = new Gate({});
    const slot = gate.grant(1_000, T0);
    expect(gate.run('settle', { charged: 1_000, startAt: slot.startAt, usedTokens: 900, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } }, T0 + 100)).toEqual({ ok: true, value: null });
    expect(gate.state!.config).toEqual(appQuota);
    expect(gate.status(T0 + 100)).toMatchObject({ tokensPerWindow: 30_000, inFlight: 0 });
  });
});

describe('a spent limit pauses the gate until its reset', () => {
  it('admits nothing before the reset, without lowering the adaptive factor as a 429 would', () => {
    const gate = new Gate(PROVIDER);
    const slot = gate.grant(100, T0);
    gate.run('settle', { charged: 100, startAt: slot.startAt, usedTokens: 100, exhaustedForMs: 20_000 }, T0 + 1_000);
    expect(gate.status(T0 + 1_000)).toMatchObject({ pausedUntil: T0 + 21_000, factor: 1, inFlight: 0 });
    const next = gate.grant(100, T0 + 2_000);
    expect(next.startAt).toBeGreaterThanOrEqual(T0 + 21_000);
    expect(gate.status(T0 + 22_000).pausedUntil).toBeNull();
  });

  it("pauses on a 429's retry-after as before", () => {
    const gate = new Gate(PROVIDER);
    const slot = gate.grant(100, T0);
    gate.run('settle', { charged: 100, startAt: slot.startAt, throttled: { kind: 'rate_limit', retryAfterMs: 360_000 }, providerLimits: { tokensPerMinute: 40_000 } }, T0 + 1_000);
    expect(gate.status(T0 + 1_000)).toMatchObject({ pausedUntil: T0 + 361_000, tokensPerWindow: 40_000 });
  });
});
