/**
 * The gate entity's protocol: operation names, input validation and dispatch onto the pure gate.
 * Errors travel as values: the durable library serializes a thrown Error as "{}", losing its message.
 */
import { BreakerConfig, BreakerPhase, BreakerReport, BreakerState, breakerAdmit, breakerGranted, breakerPhase, breakerRecord, breakerStateOf } from './breaker.js';
import { GateConfig, GateConfigError, GateConfigInput, gateConfigFrom } from './config.js';
import { GateState, GateStateV1, acquire, initialGateState, reconfigure, reportUtilization, settle, status, upgradeGateState } from './gate.js';
import {
  AcquireDecision,
  AcquireQueue,
  AcquireRequest,
  CALL_FAILURES,
  CallFailure,
  GateStatus,
  PRIORITIES,
  Priority,
  ProviderLimitsReport,
  SettleReport,
  THROTTLE_KINDS,
  ThrottleKind,
  UTILIZATION_SOURCES,
  UtilizationReport,
  UtilizationSource,
} from './types.js';

export const GATE_OPERATIONS = {
  acquire: 'acquire',
  settle: 'settle',
  reportUtilization: 'reportUtilization',
  configure: 'configure',
  status: 'status',
} as const;
export type GateOperation = (typeof GATE_OPERATIONS)[keyof typeof GATE_OPERATIONS];

export interface GateEntityState {
  readonly config: GateConfig;
  readonly gate: GateState;
  /** The deployment's circuit breaker (breaker.ts): a slice of its own, absent when no breaker is configured. */
  readonly breaker?: BreakerState;
}

/** What an entity may have stored: a version 1 gate state is upgraded on its next operation. */
export interface StoredGateEntityState {
  readonly config: GateConfig;
  readonly gate: GateState | GateStateV1;
  readonly breaker?: BreakerState;
}

export type GateErrorCode = 'invalid_input' | 'unknown_operation' | 'invalid_config';
export interface GateError {
  readonly code: GateErrorCode;
  readonly message: string;
}
export type GateResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: GateError };

export interface GateResults {
  acquire: AcquireDecision;
  settle: null;
  reportUtilization: null;
  configure: GateConfig;
  status: GateStatus;
}

export class GateInputError extends Error {
  override readonly name = 'GateInputError';
}

type Json = Record<string, unknown>;

function object(input: unknown, what: string): Json {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new GateInputError(`${what} must be an object`);
  return input as Json;
}

function number(value: unknown, field: string, check: (n: number) => boolean, rule: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) throw new GateInputError(`${field} must be ${rule}`);
  return value;
}

function oneOf<T extends string>(value: unknown, field: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    throw new GateInputError(`${field} must be one of ${options.join(', ')}`);
  }
  return value as T;
}

const nonNegative = (n: number) => n >= 0;
const positiveInteger = (n: number) => Number.isInteger(n) && n > 0;

/** Longest queue window accepted: a day, as queues allow (src/lib/queues/queue.ts). */
export const MAX_QUEUE_WINDOW_MS = 86_400_000;
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function parseAcquire(input: unknown): AcquireRequest {
  const o = object(input, 'acquire input');
  const tokens = number(o.tokens, 'tokens', positiveInteger, 'a whole number above 0');
  const request: AcquireRequest = {
    tokens,
    priority: o.priority === undefined ? 'batch' : oneOf<Priority>(o.priority, 'priority', PRIORITIES),
    ...(o.promptTokens !== undefined ? { promptTokens: number(o.promptTokens, 'promptTokens', (n) => Number.isInteger(n) && n >= 0 && n <= tokens, `a whole number from 0 to tokens (${tokens})`) } : {}),
  };
  return o.queue === undefined || o.queue === null ? request : { ...request, queue: parseAcquireQueue(o.queue) };
}

/** A queue's name and limits; a limit that is absent or null does not apply. */
function parseAcquireQueue(input: unknown): AcquireQueue {
  const o = object(input, 'queue');
  if (typeof o.name !== 'string' || !QUEUE_NAME.test(o.name)) throw new GateInputError('queue.name must be a queue name (letters, digits, ".", "_", "-"; up to 64)');
  const queue: { -readonly [K in keyof AcquireQueue]: AcquireQueue[K] } = {
    name: o.name,
    windowMs: number(o.windowMs, 'queue.windowMs', (n) => positiveInteger(n) && n <= MAX_QUEUE_WINDOW_MS, `whole milliseconds from 1 to ${MAX_QUEUE_WINDOW_MS}`),
  };
  if (o.tokensPerWindow !== undefined && o.tokensPerWindow !== null) queue.tokensPerWindow = number(o.tokensPerWindow, 'queue.tokensPerWindow', positiveInteger, 'a whole number above 0');
  if (o.requestsPerWindow !== undefined && o.requestsPerWindow !== null) {
    queue.requestsPerWindow = number(o.requestsPerWindow, 'queue.requestsPerWindow', positiveInteger, 'a whole number above 0');
  }
  return queue;
}

export function parseSettle(input: unknown): SettleReport {
  const o = object(input, 'settle input');
  const report: { -readonly [K in keyof SettleReport]: SettleReport[K] } = {
    charged: number(o.charged, 'charged', nonNegative, 'a number of tokens, 0 or more'),
  };
  if (o.startAt !== undefined) report.startAt = number(o.startAt, 'startAt', nonNegative, 'epoch milliseconds');
  if (o.notSent !== undefined) {
    if (typeof o.notSent !== 'boolean') throw new GateInputError('notSent must be true or false');
    report.notSent = o.notSent;
  }
  if (o.sentAt !== undefined) {
    if (report.startAt === undefined) throw new GateInputError('sentAt needs startAt: the grant whose call was sent');
    if (report.notSent === true) throw new GateInputError('sentAt and notSent contradict each other: a call was sent or it was not');
    const startAt = report.startAt;
    report.sentAt = number(o.sentAt, 'sentAt', (n) => n >= startAt, `epoch milliseconds, no earlier than startAt (${startAt})`);
  }
  if (o.counted !== undefined) report.counted = number(o.counted, 'counted', nonNegative, 'a number of tokens, 0 or more');
  if (o.usedTokens !== undefined) report.usedTokens = number(o.usedTokens, 'usedTokens', nonNegative, 'a number of tokens, 0 or more');
  if (o.promptTokens !== undefined) {
    const charged = report.charged;
    report.promptTokens = number(o.promptTokens, 'promptTokens', (n) => n >= 0 && n <= charged, `a number of tokens from 0 to charged (${charged})`);
  }
  if (o.utilization !== undefined) report.utilization = number(o.utilization, 'utilization', nonNegative, 'a fraction, 0 or more');
  if (o.utilizationAt !== undefined) report.utilizationAt = number(o.utilizationAt, 'utilizationAt', nonNegative, 'epoch milliseconds');
  if (o.failure !== undefined) report.failure = oneOf<CallFailure>(o.failure, 'failure', CALL_FAILURES);
  if (o.throttled !== undefined) {
    const t = object(o.throttled, 'throttled');
    report.throttled = {
      kind: oneOf<ThrottleKind>(t.kind, 'throttled.kind', THROTTLE_KINDS),
      retryAfterMs: number(t.retryAfterMs, 'throttled.retryAfterMs', nonNegative, 'milliseconds, 0 or more'),
    };
  }
  if (o.providerLimits !== undefined) report.providerLimits = parseProviderLimits(o.providerLimits);
  if (o.exhaustedForMs !== undefined) report.exhaustedForMs = number(o.exhaustedForMs, 'exhaustedForMs', nonNegative, 'milliseconds, 0 or more');
  return report;
}

const PROVIDER_LIMIT_FIELDS = ['tokensPerMinute', 'requestsPerMinute'] as const;

function parseProviderLimits(input: unknown): ProviderLimitsReport {
  const o = object(input, 'providerLimits');
  const unknown = Object.keys(o).filter((k) => !(PROVIDER_LIMIT_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new GateInputError(`providerLimits has unknown field(s) ${unknown.join(', ')}; expected ${PROVIDER_LIMIT_FIELDS.join(', ')}`);
  const limits: { -readonly [K in keyof ProviderLimitsReport]: ProviderLimitsReport[K] } = {};
  for (const field of PROVIDER_LIMIT_FIELDS) {
    if (o[field] !== undefined) limits[field] = number(o[field], `providerLimits.${field}`, positiveInteger, 'a whole number above 0');
  }
  if (limits.tokensPerMinute === undefined && limits.requestsPerMinute === undefined) {
    throw new GateInputError(`providerLimits must give ${PROVIDER_LIMIT_FIELDS.join(' or ')}`);
  }
  return limits;
}

/**
 * The configuration a provider's gate takes from the limits its headers state: OpenAI's TPM and RPM
 * are standard per-minute rate limits, so standard mode with those quotas, and the pace and in-flight
 * limit derived from them again (the ones in force were derived from, or set for, the app's quota).
 * The same object when nothing differs, so a settle that confirms the limits changes nothing.
 */
export function configWithProviderLimits(config: GateConfig, limits: ProviderLimitsReport): GateConfig {
  const tokensPerMinute = limits.tokensPerMinute ?? config.tokensPerMinute;
  const requestsPerMinute = limits.requestsPerMinute ?? config.requestsPerMinute;
  if (config.mode === 'standard' && tokensPerMinute === config.tokensPerMinute && requestsPerMinute === config.requestsPerMinute) return config;
  return parseConfigure({ mode: 'standard', tokensPerMinute, requestsPerMinute, maxInFlight: null, minIntervalMs: null }, config);
}

export function parseUtilization(input: unknown, now: number): UtilizationReport {
  const o = object(input, 'reportUtilization input');
  return {
    utilization: number(o.utilization, 'utilization', nonNegative, 'a fraction, 0 or more'),
    measuredAt: o.measuredAt === undefined ? now : number(o.measuredAt, 'measuredAt', nonNegative, 'epoch milliseconds'),
    source: o.source === undefined ? 'header' : oneOf<UtilizationSource>(o.source, 'source', UTILIZATION_SOURCES),
  };
}

const CONFIG_FIELDS: readonly (keyof GateConfigInput)[] = [
  'mode',
  'tokensPerMinute',
  'requestsPerMinute',
  'windowMs',
  'horizonMs',
  'ptuMaxUtilization',
  'interactiveReserve',
  'startToleranceMs',
  'maxInFlight',
  'minIntervalMs',
  'leaseMs',
];

/** Fields whose default is derived from the quota: null in `configure` goes back to that default. */
const DERIVED_FIELDS: readonly (keyof GateConfigInput)[] = ['maxInFlight', 'minIntervalMs', 'leaseMs'];

export function parseConfigure(input: unknown, current: GateConfig): GateConfig {
  const o = object(input, 'configure input');
  const unknown = Object.keys(o).filter((k) => !(CONFIG_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new GateInputError(`unknown configuration field(s): ${unknown.join(', ')}`);
  const merged = { ...current, ...o } as Record<string, unknown>;
  for (const k of DERIVED_FIELDS) if (merged[k] === null) delete merged[k];
  const picked = Object.fromEntries(CONFIG_FIELDS.filter((k) => merged[k] !== undefined).map((k) => [k, merged[k]])) as unknown as GateConfigInput;
  return gateConfigFrom(picked, current.bucketsPerWindow);
}

export interface OperationOutcome {
  /** Undefined only when there was no state and none could be made: nothing to persist. */
  readonly state: GateEntityState | undefined;
  readonly result: GateResult<GateResults[GateOperation]>;
}

/** One entity operation on the gate alone (the breaker and the wait bound are layered on by `runGateOperation`). */
function runGateOperationOnGate(
  stored: StoredGateEntityState | undefined,
  defaults: () => GateConfig,
  operation: string,
  input: unknown,
  now: number,
  adoptProviderLimits = false,
): OperationOutcome {
  let current: GateEntityState;
  try {
    current = stored === undefined ? { config: defaults(), gate: initialGateState(now, defaults()) } : { config: stored.config, gate: upgradeGateState(stored.gate) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // Only making a first state can fail: there was none, and there is none to persist.
    return { state: undefined, result: { ok: false, error: { code: 'invalid_config', message } } };
  }
  const { config, gate } = current;
  try {
    switch (operation) {
      case GATE_OPERATIONS.acquire: {
        const step = acquire(gate, now, parseAcquire(input), config);
        return { state: { config, gate: step.state }, result: { ok: true, value: step.result } };
      }
      case GATE_OPERATIONS.settle: {
        const report = parseSettle(input);
        // New limits go through reconfigure, as a `configure` would, before the settle is applied under them.
        const adopted = adoptProviderLimits && report.providerLimits !== undefined ? configWithProviderLimits(config, report.providerLimits) : config;
        const reconfigured = adopted === config ? gate : reconfigure(gate, now, config, adopted);
        return { state: { config: adopted, gate: settle(reconfigured, now, report, adopted) }, result: { ok: true, value: null } };
      }
      case GATE_OPERATIONS.reportUtilization:
        return {
          state: { config, gate: reportUtilization(gate, now, parseUtilization(input, now), config) },
          result: { ok: true, value: null },
        };
      case GATE_OPERATIONS.configure: {
        const next = parseConfigure(input, config);
        return { state: { config: next, gate: reconfigure(gate, now, config, next) }, result: { ok: true, value: next } };
      }
      case GATE_OPERATIONS.status:
        return { state: current, result: { ok: true, value: status(gate, now, config) } };
      default:
        return {
          state: current,
          result: {
            ok: false,
            error: { code: 'unknown_operation', message: `unknown operation "${operation}"; expected one of ${Object.values(GATE_OPERATIONS).join(', ')}` },
          },
        };
    }
  } catch (error) {
    if (error instanceof GateInputError) return { state: current, result: { ok: false, error: { code: 'invalid_input', message: error.message } } };
    if (error instanceof GateConfigError) return { state: current, result: { ok: false, error: { code: 'invalid_config', message: error.message } } };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Wait bound and circuit breaker, layered on the gate's own operations

export interface GateEntityOptions {
  /** The deployment's circuit breaker; absent: no breaker (nothing stored, nothing refused). */
  readonly breaker?: BreakerConfig;
  /**
   * An OpenAI-compatible provider's gate: a settle's `providerLimits` become its quotas. Off (the app's
   * Azure deployments, whose quotas are settings): they are ignored.
   */
  readonly adoptProviderLimits?: boolean;
}

/** The breaker as `status` shows it. */
export interface CircuitStatus {
  readonly state: BreakerPhase;
  /** Open: when it half-opens. */
  readonly until: number | null;
  /** Closed: the current run of consecutive failures. */
  readonly failures: number;
}

/** `maxWaitMs` of an acquire input: the longest wait for a slot the caller accepts; undefined: any. */
export function parseAcquireBound(input: unknown): number | undefined {
  const o = object(input, 'acquire input');
  return o.maxWaitMs === undefined || o.maxWaitMs === null ? undefined : number(o.maxWaitMs, 'maxWaitMs', nonNegative, 'milliseconds, 0 or more');
}

/** What a settle says about the deployment: a failure, an answer (usage or a 429), or nothing. */
export function breakerReportOf(report: SettleReport): BreakerReport {
  if (report.failure !== undefined) return { kind: 'failure', failure: report.failure };
  if (report.usedTokens !== undefined || report.throttled !== undefined) return { kind: 'success' };
  return { kind: 'neutral', startAt: report.startAt ?? null };
}

/**
 * One entity operation: the stored state (or none yet), the configured defaults, the input and the
 * time. On top of the pure gate: an acquire with `maxWaitMs` whose grant would start later is answered
 * `retry` (`wait_exceeds_bound`, `retryAt` = the start the gate would have granted) and leaves the
 * state as it was, so nothing is reserved; with a breaker, an open circuit answers `retry`
 * (`circuit_open`) the same way, and settles feed the breaker.
 */
export function runGateOperation(
  stored: StoredGateEntityState | undefined,
  defaults: () => GateConfig,
  operation: string,
  input: unknown,
  now: number,
  options: GateEntityOptions = {},
): OperationOutcome {
  const outcome = runGateOperationOnGate(stored, defaults, operation, input, now, options.adoptProviderLimits === true);
  if (outcome.state === undefined) return outcome;
  const breakerConfig = options.breaker;
  const storedBreaker = stored?.breaker;
  const breaker = breakerConfig === undefined && storedBreaker === undefined ? undefined : breakerStateOf(storedBreaker);
  // A closed circuit without failures is what a missing slice means: nothing is stored for it.
  const withBreaker = (state: GateEntityState, next: BreakerState | undefined): GateEntityState => {
    const { breaker: _previous, ...rest } = state;
    return next === undefined || (next.state === 'closed' && next.failures.length === 0) ? rest : { ...rest, breaker: next };
  };

  if (operation === GATE_OPERATIONS.acquire && outcome.result.ok) {
    let maxWaitMs: number | undefined;
    try {
      maxWaitMs = parseAcquireBound(input);
    } catch (error) {
      if (!(error instanceof GateInputError)) throw error;
      const unchanged = runGateOperationOnGate(stored, defaults, GATE_OPERATIONS.status, undefined, now).state ?? outcome.state;
      return { state: withBreaker(unchanged, breaker), result: { ok: false, error: { code: 'invalid_input', message: error.message } } };
    }
    const decision = outcome.result.value as AcquireDecision;
    const admitted = breakerConfig !== undefined && breaker !== undefined ? breakerAdmit(breaker, now, breakerConfig) : undefined;
    // The state before this acquire: a refused grant must leave nothing reserved (the gate is pure).
    const before = () => runGateOperationOnGate(stored, defaults, GATE_OPERATIONS.status, undefined, now).state ?? outcome.state!;
    const refuse = (retryAt: number, reason: 'wait_exceeds_bound' | 'circuit_open', state: GateEntityState): OperationOutcome => ({
      state: withBreaker(state, admitted?.state ?? breaker),
      result: { ok: true, value: { kind: 'retry', retryAt, reason } },
    });
    if (admitted?.verdict.kind === 'deny') return refuse(admitted.verdict.retryAt, 'circuit_open', decision.kind === 'granted' ? before() : outcome.state);
    if (decision.kind !== 'granted') return { state: withBreaker(outcome.state, admitted?.state ?? breaker), result: outcome.result };
    if (maxWaitMs !== undefined && decision.startAt - now > maxWaitMs) return refuse(decision.startAt, 'wait_exceeds_bound', before());
    const granted = admitted !== undefined && breakerConfig !== undefined ? breakerGranted(admitted.state, decision.startAt, now, breakerConfig) : breaker;
    return { state: withBreaker(outcome.state, granted), result: outcome.result };
  }
  if (operation === GATE_OPERATIONS.settle && outcome.result.ok && breakerConfig !== undefined && breaker !== undefined) {
    return { state: withBreaker(outcome.state, breakerRecord(breaker, now, breakerReportOf(parseSettle(input)), breakerConfig)), result: outcome.result };
  }
  if (operation === GATE_OPERATIONS.status && outcome.result.ok && breaker !== undefined) {
    const circuit: CircuitStatus = {
      state: breakerPhase(breaker, now),
      until: breaker.state === 'open' && breakerPhase(breaker, now) === 'open' ? breaker.until : null,
      failures: breaker.state === 'closed' ? breaker.failures.length : 0,
    };
    const value: GateStatus & { readonly circuit: CircuitStatus } = { ...(outcome.result.value as GateStatus), circuit };
    return { state: withBreaker(outcome.state, breaker), result: { ok: true, value } };
  }
  return { state: withBreaker(outcome.state, breaker), result: outcome.result };
}
