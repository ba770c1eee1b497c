/** The gate's inputs and outputs: plain JSON, because they cross the durable entity boundary. */

export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface AcquireRequest {
  /** Tokens Azure will charge at admission: prompt estimate + max_tokens × max(n, best_of). */
  readonly tokens: number;
  readonly priority: Priority;
  /**
   * The prompt's part of `tokens` (the rest is the completion budget), when the caller knows it. A
   * provisioned gate then counts the prompt whole and only the budget at the share calls use of it.
   */
  readonly promptTokens?: number;
  /**
   * The named queue the work belongs to, with its own limits (they travel with the request, so the gate
   * needs no store). Absent: the deployment's default queue, which has no limits of its own.
   */
  readonly queue?: AcquireQueue;
}

export interface AcquireQueue {
  readonly name: string;
  /** Tokens the queue may be charged in any `windowMs`; absent: only the deployment's quota binds. */
  readonly tokensPerWindow?: number;
  /** Requests the queue may start in any `windowMs`; absent: no request limit of its own. */
  readonly requestsPerWindow?: number;
  readonly windowMs: number;
}

export type AcquireDecision =
  /** Send the call at `startAt` (epoch ms), and no later than `sendBy`; the charge is already counted. */
  | {
      readonly kind: 'granted';
      readonly startAt: number;
      readonly waitMs: number;
      readonly sendBy: number;
      /**
       * Provisioned: what the gate counted for the call, its expected usage (the charge times the usage
       * ratio settles have shown), when less than the charge. Settle reports it back as `counted`.
       */
      readonly counted?: number;
    }
  /**
   * Ask again at `retryAt`, which spreads the returning work over time: no slot inside the horizon, a
   * pause after a 429 that outlasts it, or the in-flight limit is reached (`retryAt` is then no later
   * than the earliest lease's expiry).
   */
  | { readonly kind: 'retry'; readonly retryAt: number; readonly reason: RetryReason }
  /** Can never be admitted: the charge exceeds the whole quota. */
  | { readonly kind: 'rejected'; readonly reason: 'too_large'; readonly limit: number };

/**
 * `wait_exceeds_bound` and `circuit_open` come from the entity (operations.ts), never from the pure gate:
 * the caller's `maxWaitMs` would be exceeded (`retryAt` is the start the gate would have granted), or
 * the deployment's circuit breaker is open (`retryAt` is when it lets a probe through).
 */
export const RETRY_REASONS = ['beyond_horizon', 'paused', 'in_flight', 'wait_exceeds_bound', 'circuit_open'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** A 429's kind: `rate_limit` means quota was exceeded; `overloaded` is the service's own high demand. */
export const THROTTLE_KINDS = ['rate_limit', 'overloaded'] as const;
export type ThrottleKind = (typeof THROTTLE_KINDS)[number];

/**
 * What a failed call says about the deployment itself (the circuit breaker counts these): a 5xx, a 401,
 * or no answer at all (connection failure, timeout). Other failures are the request's own business.
 */
export const CALL_FAILURES = ['server_error', 'unauthorized', 'connection'] as const;
export type CallFailure = (typeof CALL_FAILURES)[number];

export interface SettleReport {
  /** What acquire charged for this call. */
  readonly charged: number;
  /**
   * The `startAt` acquire granted this call: names the in-flight lease to release. Without it the
   * earliest live lease is released. Settle each grant once, sent or not (a missed slot too).
   */
  readonly startAt?: number;
  /**
   * When the call went out (epoch ms, taken by the model client's fetch as it sent): a standard gate
   * then holds its charge for a window and a bucket (its trip to Azure) from then, no longer for the
   * window plus the start tolerance from `startAt`. Taken only with `startAt`, and only within
   * [startAt, startAt + tolerance].
   */
  readonly sentAt?: number;
  /** Tokens the call really used (prompt + completion), when it completed. */
  readonly usedTokens?: number;
  /** The acquire's `promptTokens`: with `usedTokens`, what share of its completion budget the call used. */
  readonly promptTokens?: number;
  /** The grant's `counted`, when it had one: what the gate counted instead of the whole charge. */
  readonly counted?: number;
  /**
   * The call was never sent (its worker woke after `sendBy`): the deployment never counted it, so a
   * standard gate takes its charge back out of the window.
   */
  readonly notSent?: boolean;
  /** The call was throttled: pause admission for `retryAfterMs`. */
  readonly throttled?: { readonly kind: ThrottleKind; readonly retryAfterMs: number };
  /** `azure-openai-deployment-utilization` of the response, as a fraction (0.632 for "63.2%"). */
  readonly utilization?: number;
  /**
   * When that response came (epoch ms). The level drains from then, not from the settle, which may come
   * a while later; taken within [startAt, now], so a caller's clock can shift it only inside the call.
   */
  readonly utilizationAt?: number;
  /** The call failed in a way that counts against the deployment's circuit breaker. */
  readonly failure?: CallFailure;
  /**
   * The limits an OpenAI-compatible provider states in its `x-ratelimit-limit-*` headers (per minute:
   * TPM, RPM). Its gate adopts them; the app's Azure deployments ignore them (their quota is a setting).
   */
  readonly providerLimits?: ProviderLimitsReport;
  /**
   * A call that succeeded but left one of the provider's limits spent (`x-ratelimit-remaining-*` 0):
   * admit nothing for this long, until that limit's reset. A pause like a 429's, without the 429.
   */
  readonly exhaustedForMs?: number;
}

/** A provider's own limits per minute, as its headers state them; at least one is given. */
export interface ProviderLimitsReport {
  readonly tokensPerMinute?: number;
  readonly requestsPerMinute?: number;
}

export const UTILIZATION_SOURCES = ['header', 'monitor'] as const;
export type UtilizationSource = (typeof UTILIZATION_SOURCES)[number];

export interface UtilizationReport {
  /** Fraction of the provisioned capacity in use (1 = 100%). */
  readonly utilization: number;
  /** When it was measured (epoch ms); Monitor values arrive minutes late. */
  readonly measuredAt: number;
  readonly source: UtilizationSource;
}

export interface GateStatus {
  readonly mode: 'standard' | 'provisioned';
  readonly at: number;
  readonly tokensPerWindow: number;
  readonly requestsPerRequestWindow: number;
  /** Adaptive factor applied to the limits after repeated 429s (1 = full quota). */
  readonly factor: number;
  /** Tokens charged in the token window ending now. */
  readonly windowTokens: number;
  /** Requests admitted in the request window ending now. */
  readonly windowRequests: number;
  /** Tokens reserved for calls that start later. */
  readonly reservedTokens: number;
  /** Start of the last reserved slot, or null when nothing waits. */
  readonly reservedUntil: number | null;
  /** Provisioned: estimated utilization now (fraction). */
  readonly utilization: number | null;
  readonly pausedUntil: number | null;
  readonly interactivePresent: boolean;
  /** Leases held now: grants not yet settled whose lease has not expired (reserved slots included). */
  readonly inFlight: number;
  /** The in-flight limit in force; null: none. */
  readonly maxInFlight: number | null;
  /** Least time between two granted starts in force (0: no pacing). */
  readonly minIntervalMs: number;
  /** How long an unsettled grant holds its lease after its start. */
  readonly leaseMs: number;
}
