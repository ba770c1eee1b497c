/**
 * The circuit breaker's properties over random sequences of admissions, grants, settles and time
 * (fast-check), plus its transitions one by one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BreakerConfig, BreakerReport, BreakerState, CLOSED_BREAKER, breakerAdmit, breakerGranted, breakerPhase, breakerRecord, breakerStateOf } from '../../../src/lib/gate/breaker.js';

const CONFIG: BreakerConfig = { failureThreshold: 5, windowMs: 60_000, coolDownMs: 30_000, maxCoolDownMs: 300_000, probeTimeoutMs: 120_000 };

type Op =
  | { readonly kind: 'wait'; readonly ms: number }
  /** A job asks; if allowed it is granted a slot `delayMs` from now. */
  | { readonly kind: 'ask'; readonly delayMs: number }
  /** The call granted `index`-th (among those not yet settled) reports. */
  | { readonly kind: 'settle'; readonly index: number; readonly report: 'success' | 'failure' | 'neutral' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 200_000 }) }),
  fc.record({ kind: fc.constant('ask' as const), delayMs: fc.integer({ min: 0, max: 5_000 }) }),
  fc.record({ kind: fc.constant('settle' as const), index: fc.nat(20), report: fc.constantFrom('success' as const, 'failure' as const, 'neutral' as const) }),
);
const configArb: fc.Arbitrary<BreakerConfig> = fc
  .record({ failureThreshold: fc.integer({ min: 1, max: 8 }), windowMs: fc.integer({ min: 1_000, max: 120_000 }), coolDownMs: fc.integer({ min: 1, max: 60_000 }), probeTimeoutMs: fc.integer({ min: 1, max: 200_000 }) })
  .map((c) => ({ ...c, maxCoolDownMs: c.coolDownMs * 10 }));

describe('circuit breaker properties', () => {
  it('never lets more than one probe out at a time while half-open', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 120 }), (config, ops) => {
        let state: BreakerState = CLOSED_BREAKER;
        let now = 0;
        const unsettled: { startAt: number; probe: boolean; grantedAt: number }[] = [];
        for (const op of ops) {
          if (op.kind === 'wait') now += op.ms;
          else if (op.kind === 'ask') {
            const admitted = breakerAdmit(state, now, config);
            state = admitted.state;
            if (admitted.verdict.kind === 'allow') {
              if (breakerPhase(state, now) === 'half_open') {
                // Any probe still out (neither reported nor past its timeout) forbids another.
                const live = unsettled.filter((c) => c.probe && now < Math.max(c.grantedAt, c.startAt) + config.probeTimeoutMs);
                expect(live).toHaveLength(0);
                expect(admitted.verdict.probe).toBe(true);
              }
              const startAt = now + op.delayMs;
              unsettled.push({ startAt, probe: admitted.verdict.probe, grantedAt: now });
              state = breakerGranted(state, startAt, now, config);
            }
          } else if (unsettled.length > 0) {
            const call = unsettled.splice(op.index % unsettled.length, 1)[0]!;
            const report: BreakerReport = op.report === 'success' ? { kind: 'success' } : op.report === 'failure' ? { kind: 'failure', failure: 'connection' } : { kind: 'neutral', startAt: call.startAt };
            state = breakerRecord(state, now, report, config);
            // Once the circuit has left half-open, older probes no longer hold it.
            if (breakerPhase(state, now) !== 'half_open') for (const c of unsettled) c.probe = false;
          }
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('opens exactly when a closed circuit completes a run of `failureThreshold` failures within the window, and a closed circuit refuses nothing', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 120 }), (config, ops) => {
        let state: BreakerState = CLOSED_BREAKER;
        let now = 0;
        let run: number[] = []; // the model's run of consecutive recent failures while closed
        const unsettled: number[] = [];
        for (const op of ops) {
          if (op.kind === 'wait') now += op.ms;
          else if (op.kind === 'ask') {
            const phase = breakerPhase(state, now);
            const admitted = breakerAdmit(state, now, config);
            if (phase === 'closed') expect(admitted.verdict).toEqual({ kind: 'allow', probe: false });
            state = admitted.state;
            if (admitted.verdict.kind === 'allow') {
              unsettled.push(now + op.delayMs);
              state = breakerGranted(state, now + op.delayMs, now, config);
            }
          } else if (unsettled.length > 0) {
            const startAt = unsettled.splice(op.index % unsettled.length, 1)[0]!;
            const before = breakerPhase(state, now);
            if (before !== 'closed') run = [];
            const report: BreakerReport = op.report === 'success' ? { kind: 'success' } : op.report === 'failure' ? { kind: 'failure', failure: 'server_error' } : { kind: 'neutral', startAt };
            state = breakerRecord(state, now, report, config);
            if (before === 'closed') {
              if (report.kind === 'success') run = [];
              if (report.kind === 'failure') run = [...run.filter((t) => t > now - config.windowMs), now];
              const opened = breakerPhase(state, now) === 'open';
              expect(opened).toBe(run.length >= config.failureThreshold);
              if (opened) expect(breakerAdmit(state, now, config).verdict).toEqual({ kind: 'deny', retryAt: now + config.coolDownMs });
              if (opened) run = [];
            }
          }
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('recovers on its own: after the cool-down one probe goes, an answer closes the circuit', () => {
    fc.assert(
      fc.property(configArb, fc.integer({ min: 0, max: 10 }), (config, extraFailures) => {
        let state: BreakerState = CLOSED_BREAKER;
        let now = 0;
        for (let i = 0; i < config.failureThreshold + extraFailures; i++) state = breakerRecord(state, now, { kind: 'failure', failure: 'server_error' }, config);
        expect(breakerPhase(state, now)).toBe('open');
        expect(breakerAdmit(state, now + config.coolDownMs - 1, config).verdict).toMatchObject({ kind: 'deny', retryAt: config.coolDownMs });
        now += config.coolDownMs;
        const admitted = breakerAdmit(state, now, config);
        expect(admitted.verdict).toEqual({ kind: 'allow', probe: true });
        state = breakerGranted(admitted.state, now, now, config);
        expect(breakerAdmit(state, now, config).verdict.kind).toBe('deny');
        state = breakerRecord(state, now + 10, { kind: 'success' }, config);
        expect(state).toEqual(CLOSED_BREAKER);
        expect(breakerAdmit(state, now + 10, config).verdict).toEqual({ kind: 'allow', probe: false });
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('circuit breaker transitions', () => {
  const fail = (s: BreakerState, at: number) => breakerRecord(s, at, { kind: 'failure', failure: 'server_error' }, CONFIG);

  it('counts consecutive failures within the window: a success or age resets the run', () => {
    let s: BreakerState = CLOSED_BREAKER;
    for (let i = 0; i < 4; i++) s = fail(s, i);
    s = breakerRecord(s, 5, { kind: 'success' }, CONFIG);
    for (let i = 0; i < 4; i++) s = fail(s, 10 + i);
    expect(breakerPhase(s, 20)).toBe('closed');
    // The first four are older than the window by now: the fifth does not open it.
    s = fail(s, 10 + 60_001);
    expect(breakerPhase(s, 10 + 60_001)).toBe('closed');
    for (let i = 0; i < 4; i++) s = fail(s, 70_100 + i);
    expect(s).toMatchObject({ state: 'open', until: 70_103 + 30_000 });
  });

  it('a neutral report neither counts nor resets; in half-open it frees the probe it names', () => {
    let s: BreakerState = CLOSED_BREAKER;
    for (let i = 0; i < 4; i++) s = fail(s, i);
    s = breakerRecord(s, 5, { kind: 'neutral', startAt: 5 }, CONFIG);
    s = fail(s, 6);
    expect(breakerPhase(s, 6)).toBe('open');
    const half = breakerAdmit(s, 30_006, CONFIG);
    s = breakerGranted(half.state, 30_500, 30_006, CONFIG);
    expect(breakerAdmit(s, 30_007, CONFIG).verdict.kind).toBe('deny');
    s = breakerRecord(s, 31_000, { kind: 'neutral', startAt: 30_500 }, CONFIG);
    expect(breakerAdmit(s, 31_000, CONFIG).verdict).toEqual({ kind: 'allow', probe: true });
  });

  it('a failed probe re-opens the circuit with a doubled cool-down, capped; an unreported probe frees its place after its timeout', () => {
    let s: BreakerState = CLOSED_BREAKER;
    for (let i = 0; i < 5; i++) s = fail(s, 0);
    let now = 0;
    const coolDowns: number[] = [];
    for (let round = 0; round < 6; round++) {
      const until = (s as { until: number }).until;
      coolDowns.push(until - now);
      now = until;
      const half = breakerAdmit(s, now, CONFIG);
      s = breakerGranted(half.state, now, now, CONFIG);
      s = fail(s, now);
    }
    expect(coolDowns).toEqual([30_000, 60_000, 120_000, 240_000, 300_000, 300_000]);

    now = (s as { until: number }).until;
    s = breakerGranted(breakerAdmit(s, now, CONFIG).state, now, now, CONFIG);
    expect(breakerAdmit(s, now + CONFIG.probeTimeoutMs - 1, CONFIG).verdict).toMatchObject({ kind: 'deny' });
    expect(breakerAdmit(s, now + CONFIG.probeTimeoutMs, CONFIG).verdict).toEqual({ kind: 'allow', probe: true });
  });

  it('a threshold of 0 never opens; stored garbage reads as closed', () => {
    let s: BreakerState = CLOSED_BREAKER;
    for (let i = 0; i < 50; i++) s = breakerRecord(s, i, { kind: 'failure', failure: 'unauthorized' }, { ...CONFIG, failureThreshold: 0 });
    expect(s).toEqual(CLOSED_BREAKER);
    expect(breakerStateOf({ state: 'open' })).toEqual(CLOSED_BREAKER);
    expect(breakerStateOf(null)).toEqual(CLOSED_BREAKER);
  });
});
