/**
 * The result of one chat completion call, as plain JSON: it is returned by a durable activity and
 * replayed by the orchestration, so it carries no class instances, Headers or Errors.
 */
import { ThrottleKind } from '../gate/types.js';
import { JobError, Usage } from '../jobs/job.js';

export type CallOutcome =
  /** Azure answered 200: the `chat.completion` object, its usage and the live capacity headers. */
  | {
      readonly kind: 'completed';
      readonly completion: Record<string, unknown>;
      readonly usage: Usage | null;
      /** `azure-openai-deployment-utilization` as a fraction (0.632 for "63.2%"); PTU deployments only. */
      readonly utilization: number | null;
      /** When the answer carrying `utilization` came (epoch ms, the caller's clock); set by callModel. */
      readonly utilizationAt?: number;
      /** When the request went out (epoch ms, the caller's clock), taken by the client's fetch as it sent. */
      readonly sentAt?: number;
      readonly headers: { readonly remainingTokens: number | null; readonly remainingRequests: number | null };
      /** OpenAI-compatible providers only: the limits their `x-ratelimit-*` headers state. */
      readonly limits?: ProviderRateLimits;
    }
  /** A 429: pause admission; `rate_limit` means quota was exceeded, `overloaded` the service's own demand. */
  | {
      readonly kind: 'throttled';
      readonly throttle: ThrottleKind;
      readonly retryAfterMs: number | null;
      readonly utilization: number | null;
      /** When the answer carrying `utilization` came (epoch ms, the caller's clock); set by callModel. */
      readonly utilizationAt?: number;
      /** When the request went out (epoch ms, the caller's clock), taken by the client's fetch as it sent. */
      readonly sentAt?: number;
      readonly error: JobError;
      /** OpenAI-compatible providers only: the limits their `x-ratelimit-*` headers state. */
      readonly limits?: ProviderRateLimits;
    }
  /** Worth another attempt later: 408, 409, 5xx, connection failures, timeouts, unknown errors. */
  | { readonly kind: 'transient'; readonly error: JobError; readonly retryAfterMs: number | null }
  /** Retrying the same request cannot succeed: 400 (incl. content filter), 401, 403, 404, 422. */
  | { readonly kind: 'permanent'; readonly error: JobError };

export type CallOutcomeKind = CallOutcome['kind'];

/** An outcome the endpoint answered (200 or 429): the call certainly went out, and headers came back. */
export type AnsweredOutcome = Extract<CallOutcome, { readonly kind: 'completed' | 'throttled' }>;

export function isAnswered(outcome: { readonly kind: string }): outcome is AnsweredOutcome {
  return outcome.kind === 'completed' || outcome.kind === 'throttled';
}

/** An answered call with the time its request was sent. */
export function withSentAt<O extends CallOutcome>(outcome: O, sentAt: number | undefined): O {
  return sentAt !== undefined && isAnswered(outcome) ? { ...outcome, sentAt } : outcome;
}

/** Every outcome but `completed`: what an error classifies as. */
export type FailedOutcome = Exclude<CallOutcome, { readonly kind: 'completed' }>;

/** Anything with `get(name)`, such as the fetch `Headers` the openai client exposes. */
export interface HeaderSource {
  get(name: string): string | null;
}

export const UTILIZATION_HEADER = 'azure-openai-deployment-utilization';
export const REMAINING_TOKENS_HEADER = 'x-ratelimit-remaining-tokens';
export const REMAINING_REQUESTS_HEADER = 'x-ratelimit-remaining-requests';

const NUMBER = /^[+]?(\d+\.?\d*|\.\d+)$/;
const PERCENT = /^([+]?(?:\d+\.?\d*|\.\d+))\s*%?$/;

/**
 * `azure-openai-deployment-utilization` ("63.2%") as a fraction (0.632). Anything that is not a
 * non-negative percentage (missing, empty, "n/a", "-5%", "1e3%") gives null.
 */
export function parseUtilization(header: string | null | undefined): number | null {
  if (header === null || header === undefined) return null;
  const match = PERCENT.exec(header.trim());
  if (!match) return null;
  const percent = Number(match[1]);
  if (!Number.isFinite(percent)) return null;
  // Rounded so "63.2%" is exactly 0.632 rather than 0.6320000000000001.
  return Math.round(percent * 10_000) / 1_000_000;
}

/** A non-negative whole count header (`x-ratelimit-remaining-*`), or null when missing or malformed. */
export function parseCount(header: string | null | undefined): number | null {
  if (header === null || header === undefined) return null;
  const raw = header.trim();
  if (!NUMBER.test(raw)) return null;
  const value = Number(raw);
  return Number.isFinite(value) ? Math.floor(value) : null;
}

/**
 * How long the service asked us to wait: `retry-after-ms` first, then `retry-after` (seconds, or an
 * HTTP date counted from `now`), else null. A date already past gives 0.
 */
export function retryAfterMsFrom(headers: HeaderSource | null | undefined, now: number = Date.now()): number | null {
  if (!headers) return null;
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms !== undefined && NUMBER.test(ms)) {
    const value = Number(ms);
    if (Number.isFinite(value)) return Math.ceil(value);
  }
  const after = headers.get('retry-after')?.trim();
  if (after === undefined || after === '') return null;
  if (NUMBER.test(after)) {
    const seconds = Number(after);
    return Number.isFinite(seconds) ? Math.ceil(seconds * 1000) : null;
  }
  const at = Date.parse(after);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function utilizationFrom(headers: HeaderSource | null | undefined): number | null {
  return headers ? parseUtilization(headers.get(UTILIZATION_HEADER)) : null;
}

/** What an OpenAI-style provider reports about its limits; every field null when not sent. */
export interface ProviderRateLimits {
  readonly limitRequests: number | null;
  readonly limitTokens: number | null;
  readonly remainingRequests: number | null;
  readonly remainingTokens: number | null;
  /** Until the request / token limit is fully replenished (`x-ratelimit-reset-*`, e.g. "6m0s"). */
  readonly resetRequestsMs: number | null;
  readonly resetTokensMs: number | null;
}

/** The `x-ratelimit-*` headers, or null when none of them came. */
export function rateLimitsFrom(headers: HeaderSource | null): ProviderRateLimits | null {
  if (headers === null) return null;
  const limits: ProviderRateLimits = {
    limitRequests: parseCount(headers.get('x-ratelimit-limit-requests')),
    limitTokens: parseCount(headers.get('x-ratelimit-limit-tokens')),
    remainingRequests: parseCount(headers.get('x-ratelimit-remaining-requests')),
    remainingTokens: parseCount(headers.get('x-ratelimit-remaining-tokens')),
    resetRequestsMs: parseDurationMs(headers.get('x-ratelimit-reset-requests')),
    resetTokensMs: parseDurationMs(headers.get('x-ratelimit-reset-tokens')),
  };
  return Object.values(limits).every((v) => v === null) ? null : limits;
}

/** The wait the limits imply: the reset of whichever limit is spent, else the longest reset given. */
export function retryAfterFromLimits(limits: ProviderRateLimits): number | null {
  const spent: (number | null)[] = [];
  if (limits.remainingRequests === 0) spent.push(limits.resetRequestsMs);
  if (limits.remainingTokens === 0) spent.push(limits.resetTokensMs);
  const candidates = (spent.length > 0 ? spent : [limits.resetRequestsMs, limits.resetTokensMs]).filter((v): v is number => v !== null);
  return candidates.length === 0 ? null : Math.max(...candidates);
}

/**
 * After a call that went through: how long until the provider lets the next one in when it reported a
 * limit spent (`remaining` 0) with that limit's reset; the longer of the two when both are. Null when
 * nothing is spent, or a spent limit came without its reset.
 */
export function spentLimitResetMs(limits: ProviderRateLimits): number | null {
  const waits: number[] = [];
  if (limits.remainingRequests === 0 && limits.resetRequestsMs !== null) waits.push(limits.resetRequestsMs);
  if (limits.remainingTokens === 0 && limits.resetTokensMs !== null) waits.push(limits.resetTokensMs);
  return waits.length === 0 ? null : Math.max(...waits);
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$/;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** OpenAI's reset durations ("1s", "6m0s", "20ms", "1h2m3.5s"), or a plain number of seconds, in ms. */
export function parseDurationMs(header: string | null | undefined): number | null {
  if (header === null || header === undefined) return null;
  const raw = header.trim();
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  if (!DURATION.test(raw)) return null;
  let total = 0;
  for (const match of raw.matchAll(DURATION_PART)) total += Number(match[1]) * UNIT_MS[match[2]!]!;
  return Number.isFinite(total) ? Math.ceil(total) : null;
}
