/**
 * A circuit breaker for one deployment, pure: state in, state out, the clock passed in. It lives in
 * the deployment's gate entity next to the gate's own state, so every instance of the app sees the
 * same circuit.
 *
 * closed ── `failureThreshold` consecutive failures (5xx, 401, no answer) within `windowMs` ──► open
 * open ── `coolDownMs` later ──► half-open: exactly one call (the probe) is let through
 * half-open ── the deployment answers ──► closed; ── it fails again ──► open, the cool-down doubled
 * (at most `maxCoolDownMs`). A probe that never reports back frees its place after `probeTimeoutMs`,
 * and a probe that reports nothing about the deployment (a missed slot, a 400) frees it at once.
 */
import { CallFailure } from './types.js';

export interface BreakerConfig {
  /** Consecutive failures within `windowMs` that open the circuit; 0: the breaker never opens. */
  readonly failureThreshold: number;
  readonly windowMs: number;
  /** First cool-down of an open circuit; each failed probe doubles it up to `maxCoolDownMs`. */
  readonly coolDownMs: number;
  readonly maxCoolDownMs: number;
  /** How long an unreported probe keeps the half-open circuit's single place. */
  readonly probeTimeoutMs: number;
}

export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
export type BreakerPhase = (typeof BREAKER_STATES)[number];

export type BreakerState =
  /** `failures`: when each of the current run of consecutive failures happened (at most the threshold). */
  | { readonly state: 'closed'; readonly failures: readonly number[] }
  /** `coolDownMs`: the cool-down that `until` came from (the next failed probe doubles it). */
  | { readonly state: 'open'; readonly until: number; readonly coolDownMs: number }
  /** `probe`: the one call let through, named by its granted start; null while none is out. */
  | { readonly state: 'half_open'; readonly coolDownMs: number; readonly probe: BreakerProbe | null };

export interface BreakerProbe {
  readonly startAt: number;
  readonly expiresAt: number;
}

export const CLOSED_BREAKER: BreakerState = Object.freeze({ state: 'closed', failures: Object.freeze([]) as readonly number[] });

export type BreakerVerdict =
  /** `probe`: this call would be the half-open circuit's probe (record it with `breakerGranted`). */
  | { readonly kind: 'allow'; readonly probe: boolean }
  /** Refused: ask again at `retryAt` (when the circuit half-opens, or when the probe's place may free up). */
  | { readonly kind: 'deny'; readonly retryAt: number };

/** What one settled call says about the deployment. */
export type BreakerReport =
  | { readonly kind: 'success' }
  | { readonly kind: 'failure'; readonly failure: CallFailure }
  /** Nothing either way (a missed slot, a request refused for its own sake); `startAt` names its grant. */
  | { readonly kind: 'neutral'; readonly startAt: number | null };

/** The state as time has moved it (open → half-open, an expired probe dropped), and whether a call may go. */
export function breakerAdmit(state: BreakerState, now: number, config: BreakerConfig): { state: BreakerState; verdict: BreakerVerdict } {
  const current = advance(state, now);
  switch (current.state) {
    case 'closed':
      return { state: current, verdict: { kind: 'allow', probe: false } };
    case 'open':
      return { state: current, verdict: { kind: 'deny', retryAt: current.until } };
    case 'half_open':
      if (current.probe === null) return { state: current, verdict: { kind: 'allow', probe: true } };
      // Come back soon after the probe's start (a tenth of the cool-down; it normally reports within its
      // call time), or when its place frees up, whichever is first: not all at once a cool-down later.
      return {
        state: current,
        verdict: { kind: 'deny', retryAt: Math.max(now + 1, Math.min(current.probe.expiresAt, Math.max(now, current.probe.startAt) + Math.ceil(config.coolDownMs / 10))) },
      };
  }
}

/** A call admitted by `breakerAdmit` was granted the slot starting at `startAt`: in half-open it is the probe. */
export function breakerGranted(state: BreakerState, startAt: number, now: number, config: BreakerConfig): BreakerState {
  const current = advance(state, now);
  if (current.state !== 'half_open' || current.probe !== null) return current;
  return { ...current, probe: { startAt, expiresAt: Math.max(now, startAt) + config.probeTimeoutMs } };
}

/** A settled call's report. */
export function breakerRecord(state: BreakerState, now: number, report: BreakerReport, config: BreakerConfig): BreakerState {
  const current = advance(state, now);
  switch (current.state) {
    case 'closed':
      if (report.kind === 'success') return current.failures.length === 0 ? current : CLOSED_BREAKER;
      if (report.kind === 'neutral' || config.failureThreshold <= 0) return current;
      {
        const failures = [...current.failures.filter((at) => at > now - config.windowMs), now].slice(-config.failureThreshold);
        if (failures.length >= config.failureThreshold) return { state: 'open', until: now + config.coolDownMs, coolDownMs: config.coolDownMs };
        return { state: 'closed', failures };
      }
    case 'open':
      // Late reports of calls granted before it opened: the cool-down runs its course either way.
      return current;
    case 'half_open':
      if (report.kind === 'success') return CLOSED_BREAKER;
      if (report.kind === 'failure') {
        const coolDownMs = Math.min(config.maxCoolDownMs, current.coolDownMs * 2);
        return { state: 'open', until: now + coolDownMs, coolDownMs };
      }
      if (current.probe !== null && report.startAt === current.probe.startAt) return { ...current, probe: null };
      return current;
  }
}

/** The circuit's phase now, for status. */
export function breakerPhase(state: BreakerState, now: number): BreakerPhase {
  return advance(state, now).state;
}

function advance(state: BreakerState, now: number): BreakerState {
  if (state.state === 'open' && now >= state.until) return { state: 'half_open', coolDownMs: state.coolDownMs, probe: null };
  if (state.state === 'half_open' && state.probe !== null && now >= state.probe.expiresAt) return { ...state, probe: null };
  return state;
}

/** A stored breaker state, or the closed one when it is missing or not one we wrote. */
export function breakerStateOf(stored: unknown): BreakerState {
  if (typeof stored !== 'object' || stored === null) return CLOSED_BREAKER;
  const s = stored as Record<string, unknown>;
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (s.state === 'closed' && Array.isArray(s.failures) && s.failures.every(finite)) return { state: 'closed', failures: s.failures as number[] };
  if (s.state === 'open' && finite(s.until) && finite(s.coolDownMs)) return { state: 'open', until: s.until, coolDownMs: s.coolDownMs };
  if (s.state === 'half_open' && finite(s.coolDownMs)) {
    const p = s.probe as Record<string, unknown> | null | undefined;
    const probe = p && finite(p.startAt) && finite(p.expiresAt) ? { startAt: p.startAt, expiresAt: p.expiresAt } : null;
    return { state: 'half_open', coolDownMs: s.coolDownMs, probe };
  }
  return CLOSED_BREAKER;
}
