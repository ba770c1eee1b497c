/** The gate's limits and geometry: validated once, then treated as plain data (it lives in entity state). */

export const GATE_MODES = ['standard', 'provisioned'] as const;
export type GateMode = (typeof GATE_MODES)[number];

export interface GateConfigInput {
  readonly mode: GateMode;
  /** Standard: the token window's quota. Provisioned: tokens the PTUs drain per window at 100% utilization. */
  readonly tokensPerMinute: number;
  /** Requests per (scaled) minute; the request window allows a sixth of it every sixth of the window. */
  readonly requestsPerMinute: number;
  /** Length of the token window ("minute"); shorter than 60 s only to run tests and benchmarks faster. */
  readonly windowMs: number;
  /** How far ahead a slot may be reserved; a request that fits only later is told when to ask again. */
  readonly horizonMs: number;
  /** Provisioned: admission keeps the estimated utilization at or below this fraction. */
  readonly ptuMaxUtilization: number;
  /** Share of capacity batch work leaves free while interactive work is present. */
  readonly interactiveReserve: number;
  /**
   * How late after its slot a call may still be sent. Timers and queues fire late, and Azure counts a
   * charge from when the call arrives, so the gate keeps every charge this much longer in its windows;
   * a caller later than this must ask for a new slot instead of sending.
   */
  readonly startToleranceMs: number;
  /**
   * Most grants holding a lease at once (granted, not yet settled, lease not expired); 0: no limit.
   * Unset: derived from the quota, see `inFlightLimit`.
   */
  readonly maxInFlight?: number | undefined;
  /** Least time between any two granted starts, whole ms; 0: no pacing. Unset: derived, see `minIntervalOf`. */
  readonly minIntervalMs?: number | undefined;
  /** How long after its start a grant that was never settled (its worker died) holds its lease. Unset: `DEFAULT_LEASE_MS`. */
  readonly leaseMs?: number | undefined;
}

export interface GateConfig extends GateConfigInput {
  /** Buckets per token window; the request window is a sixth of them. Always a multiple of 6. */
  readonly bucketsPerWindow: number;
}

/** Resolution of the schedule: finer buckets waste less quota (one bucket per window is held back) but cost state. */
export const DEFAULT_BUCKETS_PER_WINDOW = 240;

/**
 * A call's longest legitimate time between its start and its settle: the model timeout (120 s by
 * default) plus the start tolerance and the durable queues' latency, with room to spare. A lease
 * released too early only lets the in-flight count undercount; one held too long only delays a dead
 * worker's slot.
 */
export const DEFAULT_LEASE_MS = 300_000;

export class GateConfigError extends Error {
  override readonly name = 'GateConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid gate configuration: ${problems.join('; ')}`);
  }
}

export function gateConfigFrom(input: GateConfigInput, bucketsPerWindow = DEFAULT_BUCKETS_PER_WINDOW): GateConfig {
  const problems = gateConfigProblems(input);
  if (!Number.isInteger(bucketsPerWindow) || bucketsPerWindow < 6 || bucketsPerWindow % 6 !== 0) {
    problems.push('bucketsPerWindow must be a multiple of 6');
  }
  if (problems.length > 0) throw new GateConfigError(problems);
  // A bucket must be at least 1 ms wide so that every bucket contains its own start time.
  const buckets = Math.max(6, Math.min(bucketsPerWindow, Math.floor(input.windowMs / 6) * 6));
  return { ...input, bucketsPerWindow: buckets };
}

export function gateConfigProblems(input: Partial<Record<keyof GateConfigInput, unknown>>): string[] {
  const problems: string[] = [];
  const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!(GATE_MODES as readonly unknown[]).includes(input.mode)) problems.push(`mode must be one of ${GATE_MODES.join(', ')}`);
  if (!isNumber(input.tokensPerMinute) || input.tokensPerMinute <= 0) problems.push('tokensPerMinute must be above 0');
  if (!isNumber(input.requestsPerMinute) || input.requestsPerMinute < 1) problems.push('requestsPerMinute must be at least 1');
  if (!isNumber(input.windowMs) || !Number.isInteger(input.windowMs) || input.windowMs < 60) {
    problems.push('windowMs must be a whole number of at least 60');
  }
  if (!isNumber(input.horizonMs) || input.horizonMs <= 0) problems.push('horizonMs must be above 0');
  if (!isNumber(input.ptuMaxUtilization) || input.ptuMaxUtilization <= 0 || input.ptuMaxUtilization > 1) {
    problems.push('ptuMaxUtilization must be in (0, 1]');
  }
  if (!isNumber(input.interactiveReserve) || input.interactiveReserve < 0 || input.interactiveReserve >= 1) {
    problems.push('interactiveReserve must be in [0, 1)');
  }
  if (!isNumber(input.startToleranceMs) || !Number.isInteger(input.startToleranceMs) || input.startToleranceMs < 0) {
    problems.push('startToleranceMs must be a whole number, 0 or more');
  }
  const unsetOr = (value: unknown, check: (n: number) => boolean) => value === undefined || (isNumber(value) && check(value));
  if (!unsetOr(input.maxInFlight, (n) => Number.isInteger(n) && n >= 0)) problems.push('maxInFlight must be a whole number, 0 or more (0: no limit)');
  // Beyond a window the pace would undercut the quota itself; whole milliseconds keep start times whole.
  if (!unsetOr(input.minIntervalMs, (n) => Number.isInteger(n) && n >= 0 && (!isNumber(input.windowMs) || n <= input.windowMs))) {
    problems.push('minIntervalMs must be a whole number of milliseconds from 0 to windowMs (0: no pacing)');
  }
  if (!unsetOr(input.leaseMs, (n) => Number.isInteger(n) && n > 0)) problems.push('leaseMs must be a whole number above 0');
  return problems;
}

/** Requests allowed in one request window (a sixth of the token window), as Azure's `request` rule counts them. */
export function requestsPerRequestWindow(config: GateConfig): number {
  return Math.max(1, Math.floor(config.requestsPerMinute / 6));
}

/** Requests allowed in one token window: binds only when RPM is too small to split into sixths. */
export function requestsPerTokenWindow(config: GateConfig): number {
  return Math.max(1, Math.floor(config.requestsPerMinute));
}

/**
 * A sent call reaches Azure a moment after its request left, and Azure holds it from its arrival: once
 * a settle reports the send time, the charge is held one bucket (W/240 by default) beyond its window
 * from then, for that trip. Before, the start tolerance covers it.
 */
export const SENT_TRANSIT_BUCKETS = 1;

/** Extra buckets every charge is held for, covering the start tolerance. */
export function toleranceBuckets(config: GateConfig): number {
  return Math.ceil((config.startToleranceMs * config.bucketsPerWindow) / config.windowMs);
}

/**
 * Derived pacing (standard deployments): the request window's RPM/6 spread evenly over it, one start
 * every W/RPM (334 ms at 180 RPM, 6 ms at 10,000), rounded up to whole milliseconds. Azure throttles
 * bursts inside a second even when the 10 s window has room; a pace no faster than the quota's own
 * average rate never costs throughput, only the burst. Provisioned deployments have no request
 * window, and their reserved starts sit on bucket boundaries (see gate.ts), so pacing there is off
 * unless configured.
 */
export function minIntervalOf(config: GateConfig): number {
  if (config.minIntervalMs !== undefined) return config.minIntervalMs;
  return config.mode === 'standard' ? Math.ceil(config.windowMs / requestsPerTokenWindow(config)) : 0;
}

/**
 * The opening pace: batch starts in the first window after the gate was idle keep this interval instead
 * of `minIntervalOf` (half as long again). A rolling window returns its charges at the pace they were
 * started, so a batch that opens a window at the full pace refills it at the full pace ever after: when
 * the calls that refill it are smaller than the ones expiring (more starts for the same tokens), the
 * pace cannot keep up, and the window runs part-empty at every turn for the rest of the batch. Opened at
 * two thirds of the pace, every turn keeps a third of the pace in hand to catch up. Measured with the
 * bench's job mix: steady state 95.0-98.1% of quota by job order without it, 97.2-98.1% with it, for
 * about 0.1 s more drain.
 */
export function openingIntervalOf(config: GateConfig): number {
  return config.mode === 'standard' ? Math.ceil(minIntervalOf(config) * 1.5) : minIntervalOf(config);
}

/**
 * Most leases held at once; Infinity when unlimited. Derived: every request the quota can start
 * over the horizon plus one window more, RPM x (W + horizon) / W (540 at 180 RPM and the default
 * 120 s horizon). A lease is held from grant, so reservations count: this default never cuts into the
 * horizon's reservations at the full request rate (refusing them would cost entity operations, the
 * scarce resource) and binds only when calls stay unsettled for more than a window: a slow or hung
 * deployment, or dead workers. Then admission backs off instead of piling calls on.
 */
export function inFlightLimit(config: GateConfig): number {
  const configured = config.maxInFlight ?? Math.ceil((requestsPerTokenWindow(config) * (config.windowMs + config.horizonMs)) / config.windowMs);
  return configured === 0 ? Number.POSITIVE_INFINITY : configured;
}

export function leaseMsOf(config: GateConfig): number {
  return config.leaseMs ?? DEFAULT_LEASE_MS;
}

/**
 * The look-ahead, in buckets (at least one). Batch work may take the interactive reserve only where that
 * cannot delay an interactive arrival by more than this: runs of buckets that begin (or, while interactive
 * work is present, end) within it. Beyond it every window keeps the reserve free. See `batchCapped` in
 * gate.ts. While interactive work is present it is short, W/60 (1 s at 60 s): that bounds an interactive
 * arrival's wait. While none is, W/10 (6 s at 60 s): the reserve of a window beginning that close is
 * handed to batch, since otherwise only the deferred batch work that happens to ask within the look-ahead
 * can take it (measured: 1% of the quota at a 6 s window). An interactive arrival after a quiet spell
 * already waits up to a window past the look-ahead in force when batch last booked.
 */
export function leadBuckets(config: GateConfig, interactivePresent: boolean): number {
  return Math.max(1, Math.round(config.bucketsPerWindow / (interactivePresent ? 60 : 10)));
}

/**
 * Standard batch reservations keep idle capacity for work that can start sooner: a reservation beyond
 * the look-ahead may not take what stood free in every bucket of the half window before its start (see
 * `fitsEveryRun` in schedule.ts). This is that half window, in buckets.
 */
export function idleBuckets(config: GateConfig): number {
  return Math.max(1, Math.round(config.bucketsPerWindow / 2));
}

/** First bucket beyond the look-ahead of a decision taken at `now`. */
export function leadBucketOf(now: number, config: GateConfig, interactivePresent: boolean): number {
  return Math.floor((now * config.bucketsPerWindow) / config.windowMs) + leadBuckets(config, interactivePresent);
}

/**
 * The interactive pacing grid, in buckets (0: none): the bucket starts at multiples of it. Beyond the
 * look-ahead a batch start keeps a pacing interval away from every grid point, so an interactive call
 * finds a start clear of batch starts within one grid step even while batch runs at the full pace.
 * Points on bucket starts serve provisioned deployments too, whose reserved starts sit there. Spacing
 * interval / reserve takes from batch no more of the pace than the reserve, and never less than
 * 2 × interval + 1, which leaves batch a gap between the zones.
 */
export function pacingGridBuckets(config: GateConfig): number {
  const interval = minIntervalOf(config);
  if (interval === 0 || config.interactiveReserve === 0) return 0;
  const spacingMs = Math.max(Math.ceil(interval / config.interactiveReserve), 2 * interval + 1);
  return Math.ceil((spacingMs * config.bucketsPerWindow) / config.windowMs);
}
