/**
 * The simulator's faults as something a run can change while it goes (the local runtime's
 * `PUT /local/simulator/faults`, a standalone simulator's `PUT /simulator/faults`): the seeded random
 * faults of `SimulatorFaults`, plus the two a rate cannot express, an endpoint that is down and a 429
 * storm, which fault runs switch on for a while and off again.
 */

export interface SimulatorFaults {
  /** Share of calls answered 500 InternalServerError. */
  readonly serverErrorRate?: number;
  /** Share of admitted calls whose connection is destroyed instead of answered. */
  readonly dropRate?: number;
  /** Share of admitted calls that take `slowMs` longer. */
  readonly slowRate?: number;
  readonly slowMs?: number;
  /** Share of calls refused with the service's own "high demand" 429 (`no_capacity`). */
  readonly overloadedRate?: number;
  /** `retry-after-ms` of an overloaded 429; default 1000. */
  readonly overloadedRetryAfterMs?: number;
  /**
   * A request whose message text contains this is refused with Azure's content-filter 400
   * (`content_filter`), a permanent error: deterministic, so a run knows which jobs must fail.
   */
  readonly contentFilterMarker?: string;
}

/** A model endpoint that is down: `503` answers 503 ServiceUnavailable, `reset` closes the connection unanswered. */
export type Outage = '503' | 'reset';

export interface SimulatorFaultState extends SimulatorFaults {
  /** While set, every call (the model list too) fails this way, before admission and without a charge. */
  readonly down?: Outage | null;
  /** While set, every chat call gets a quota 429 (`rate_limit`) with this retry-after, and no charge. */
  readonly storm?: { readonly retryAfterMs: number } | null;
}

const RATES = ['serverErrorRate', 'dropRate', 'slowRate', 'overloadedRate'] as const;
const DURATIONS = ['slowMs', 'overloadedRetryAfterMs'] as const;

/**
 * A fault update from JSON: the fields present replace the current ones (null clears `down`, `storm`
 * and `contentFilterMarker`); `down: true` means `'503'`. Returns why when it is not a valid update.
 */
export function parseFaultUpdate(body: unknown): SimulatorFaultState | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const input = body as Record<string, unknown>;
  const known = new Set<string>([...RATES, ...DURATIONS, 'contentFilterMarker', 'down', 'storm']);
  const unknown = Object.keys(input).filter((key) => !known.has(key));
  if (unknown.length > 0) return `unknown field(s): ${unknown.join(', ')}`;
  const update: Record<string, unknown> = {};
  for (const key of RATES) {
    if (!(key in input)) continue;
    const value = input[key];
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) return `${key} must be a share between 0 and 1`;
    update[key] = value;
  }
  for (const key of DURATIONS) {
    if (!(key in input)) continue;
    const value = input[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return `${key} must be a number of milliseconds, 0 or more`;
    update[key] = value;
  }
  if ('contentFilterMarker' in input) {
    const value = input['contentFilterMarker'];
    if (value !== null && (typeof value !== 'string' || value === '')) return 'contentFilterMarker must be a non-empty string or null';
    update['contentFilterMarker'] = value ?? undefined;
  }
  if ('down' in input) {
    const value = input['down'];
    if (value === true) update['down'] = '503';
    else if (value === false || value === null) update['down'] = null;
    else if (value === '503' || value === 'reset') update['down'] = value;
    else return "down must be true, false, null, '503' or 'reset'";
  }
  if ('storm' in input) {
    const value = input['storm'];
    if (value === null || value === false) update['storm'] = null;
    else {
      const ms = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['retryAfterMs'] : undefined;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return 'storm must be null or { retryAfterMs: number of milliseconds }';
      update['storm'] = { retryAfterMs: ms };
    }
  }
  return update as SimulatorFaultState;
}
