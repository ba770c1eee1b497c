/**
 * The token gate: pure functions from (state, time, input) to (decision, new state). No clock, no I/O;
 * the durable entity supplies the time and persists the state.
 *
 * Standard deployments: two rolling windows charged at admission and never refunded, exactly as Azure
 * counts them (see schedule.ts for the bucket geometry). Provisioned deployments: the leaky bucket of
 * provisioned.ts, held at or below the utilization threshold. Either way acquire answers with a start
 * time: the earliest moment the call may be sent, so a waiting job sleeps once on a durable timer.
 * On top of the quota, every grant holds an in-flight lease until it settles (leases.ts), and no two
 * starts are granted closer than the pacing interval (pacing.ts): the start handed out is the earliest
 * that satisfies the windows, the pace and the in-flight limit together. Batch work leaves the
 * interactive reserve free beyond a short look-ahead (`batchCapped`), so interactive work never queues
 * behind batch reservations up to the horizon.
 */
import { AdaptiveState, FULL_QUOTA, factorAt, recordQuota429 } from './adaptive.js';
import {
  GateConfig,
  idleBuckets,
  inFlightLimit,
  leadBucketOf,
  leadBuckets,
  leaseMsOf,
  minIntervalOf,
  openingIntervalOf,
  pacingGridBuckets,
  requestsPerRequestWindow,
  requestsPerTokenWindow,
  SENT_TRANSIT_BUCKETS,
  toleranceBuckets,
} from './config.js';
import { LeaseCounts, MutableLeases, NO_LEASES, earliestLeaseExpiry, liveLeases, pruneLeases, rebucketLeases, releaseLease, takeLease } from './leases.js';
import { MutablePace, NO_STARTS, PaceRecord, latestStart, offGrid, pacedFrom, prunePace, recordStart } from './pacing.js';
import { capacity, drained, drainsTo } from './provisioned.js';
import {
  MutableQueueLoad,
  MutableQueueLoads,
  QueueLoads,
  activeQueues,
  addToQueue,
  advanceQueues,
  defaultReservations,
  freezeQueues,
  ownFits,
  ownRoomFrom,
  recutOwn,
  touchQueue,
} from './queues.js';
import { addAt, at, bucketOf, bucketStart, fitsEveryRun, trimEnd } from './schedule.js';
import { AcquireDecision, AcquireRequest, GateStatus, Priority, SettleReport, UtilizationReport } from './types.js';

export interface GateState {
  readonly v: 2;
  /** Latest time seen; the gate never lets time run backwards (entity hosts' clocks may differ slightly). */
  readonly clock: number;
  /** Bucket index of `tokens[0]` and `requests[0]`. */
  readonly base: number;
  /** Standard: tokens charged per bucket, past window and future reservations. Provisioned: future reservations. */
  readonly tokens: readonly number[];
  /** Standard: requests admitted per bucket. */
  readonly requests: readonly number[];
  /**
   * Standard: the charges (tokens and requests) of calls whose settle said when they were sent, moved
   * out of `tokens`/`requests` into the bucket of that time (from `base`). Azure holds a charge for a
   * window from the call's arrival, so these are held for a window and a bucket, without the start
   * tolerance that covers a call whose send time is not known. Absent: none.
   */
  readonly sentTokens?: readonly number[];
  readonly sentRequests?: readonly number[];
  /** Provisioned: bucket level at `clock`, every reservation up to then included. */
  readonly level: number;
  /** Provisioned: time of the newest utilization header applied. */
  readonly observedAt: number;
  readonly pausedUntil: number;
  readonly interactiveSeenAt: number | null;
  /** Next time handed to work that did not fit inside the horizon; spaces such work at the quota's pace. */
  readonly deferredUntil: number;
  readonly adaptive: AdaptiveState;
  /** In-flight leases per start bucket. */
  readonly leases: LeaseCounts;
  /** Recent and reserved starts, for pacing. */
  readonly starts: PaceRecord;
  /** Next time handed to work refused for the in-flight limit; spaces such work like `deferredUntil`. */
  readonly inFlightRetryUntil: number;
  /** Named queues' loads (queues.ts); absent while no queue has been active within a window. */
  readonly queues?: QueueLoads;
  /** Provisioned: what calls really use as a share of their charge, learned from settles; absent: 1. */
  readonly usageRatio?: number;
  /**
   * Provisioned: what calls that named their prompt really use of their completion budget (the charge
   * past the prompt), learned from the settles of such calls; absent: none settled yet.
   */
  readonly completionRatio?: number;
  /** Provisioned: when the latest grant's charge entered the level; absent: none since this state began. */
  readonly lastAdmittedAt?: number;
  /**
   * Provisioned: what Azure holds above the gate's count for calls started and not yet settled (each
   * call's charge less what was counted for it); absent: none, and cleared whenever no lease is live.
   */
  readonly inFlightSurplus?: number;
  /** Provisioned: the same for reservations ahead, per bucket from `base`; it joins the above at the start. */
  readonly surplusAhead?: readonly number[];
  /**
   * Standard: end of the opening, the window from the first start granted while the gate was idle (no
   * charge in any window); batch starts before it keep the opening pace. Absent: no opening ahead.
   */
  readonly openingUntil?: number;
}

/** The state as version 1 stored it, before leases and pacing. */
export type GateStateV1 = Omit<GateState, 'v' | 'leases' | 'starts' | 'inFlightRetryUntil'> & { readonly v: 1 };

export interface Step<T> {
  readonly state: GateState;
  readonly result: T;
}

export function initialGateState(now: number, config: GateConfig): GateState {
  return {
    v: 2,
    clock: now,
    base: config.mode === 'standard' ? bucketOf(now, config) - config.bucketsPerWindow - toleranceBuckets(config) : bucketOf(now, config) + 1,
    tokens: [],
    requests: [],
    level: 0,
    observedAt: 0,
    pausedUntil: 0,
    interactiveSeenAt: null,
    deferredUntil: 0,
    adaptive: FULL_QUOTA,
    leases: NO_LEASES,
    starts: NO_STARTS,
    inFlightRetryUntil: 0,
  };
}

/** A stored state of any version as the current one: a version 1 state holds no leases and no starts. */
export function upgradeGateState(stored: GateState | GateStateV1): GateState {
  if (stored.v === 2) return stored;
  return { ...stored, v: 2, leases: NO_LEASES, starts: NO_STARTS, inFlightRetryUntil: 0 };
}

interface Draft {
  clock: number;
  base: number;
  tokens: number[];
  requests: number[];
  sentTokens: number[];
  sentRequests: number[];
  level: number;
  observedAt: number;
  pausedUntil: number;
  interactiveSeenAt: number | null;
  deferredUntil: number;
  adaptive: AdaptiveState;
  leases: MutableLeases;
  starts: MutablePace;
  inFlightRetryUntil: number;
  queues: MutableQueueLoads | undefined;
  usageRatio: number | undefined;
  completionRatio: number | undefined;
  lastAdmittedAt: number | undefined;
  inFlightSurplus: number | undefined;
  surplusAhead: number[];
  openingUntil: number | undefined;
}

const freeze = (draft: Draft): GateState => {
  trimEnd(draft.tokens);
  trimEnd(draft.requests);
  trimEnd(draft.sentTokens);
  trimEnd(draft.sentRequests);
  trimEnd(draft.surplusAhead);
  const { queues, usageRatio, completionRatio, lastAdmittedAt, inFlightSurplus, surplusAhead, openingUntil, sentTokens, sentRequests, ...rest } = draft;
  const frozen = freezeQueues(queues);
  return {
    v: 2,
    ...rest,
    ...(frozen === undefined ? {} : { queues: frozen }),
    ...(usageRatio === undefined ? {} : { usageRatio }),
    ...(completionRatio === undefined ? {} : { completionRatio }),
    ...(lastAdmittedAt === undefined ? {} : { lastAdmittedAt }),
    ...(inFlightSurplus === undefined || inFlightSurplus <= 0 ? {} : { inFlightSurplus }),
    ...(surplusAhead.length === 0 ? {} : { surplusAhead }),
    ...(openingUntil === undefined ? {} : { openingUntil }),
    ...(sentTokens.length === 0 ? {} : { sentTokens }),
    ...(sentRequests.length === 0 ? {} : { sentRequests }),
  };
};

/** Brings the state to `now`: drops buckets no window can reach any more, folds started reservations into the level. */
function advance(state: GateState, requestedNow: number, config: GateConfig): Draft {
  const now = Math.max(requestedNow, state.clock);
  const draft: Draft = {
    clock: now,
    base: state.base,
    tokens: [...state.tokens],
    requests: [...state.requests],
    sentTokens: [...(state.sentTokens ?? [])],
    sentRequests: [...(state.sentRequests ?? [])],
    level: state.level,
    observedAt: state.observedAt,
    pausedUntil: state.pausedUntil,
    interactiveSeenAt: state.interactiveSeenAt,
    deferredUntil: state.deferredUntil,
    adaptive: state.adaptive,
    leases: { base: state.leases.base, counts: [...state.leases.counts] },
    starts: { base: state.starts.base, first: [...state.starts.first], last: [...state.starts.last] },
    inFlightRetryUntil: state.inFlightRetryUntil,
    queues: advanceQueues(state.queues, now, config),
    usageRatio: state.usageRatio,
    completionRatio: state.completionRatio,
    lastAdmittedAt: state.lastAdmittedAt,
    inFlightSurplus: state.inFlightSurplus,
    surplusAhead: [...(state.surplusAhead ?? [])],
    // Once the clock reaches it, no start can be placed inside it any more.
    openingUntil: state.openingUntil !== undefined && state.openingUntil > now ? state.openingUntil : undefined,
  };
  pruneLeases(draft.leases, now, config);
  // Nothing in flight: nothing held above the count. Otherwise it drains like the level: Azure drops it
  // when the calls end, within seconds, and a call never settled (its worker died) must not hold it forever.
  if (liveLeases(draft.leases) === 0) draft.inFlightSurplus = undefined;
  else if (draft.inFlightSurplus !== undefined && config.mode === 'provisioned') draft.inFlightSurplus = drained(draft.inFlightSurplus, state.clock, now, config);
  // Kept as far back as the opening pace reaches, which is the longer one.
  prunePace(draft.starts, now, openingIntervalOf(config), config);
  if (config.mode === 'standard') {
    const oldest = bucketOf(now, config) - config.bucketsPerWindow - toleranceBuckets(config);
    if (oldest > draft.base) {
      const drop = oldest - draft.base;
      draft.tokens.splice(0, drop);
      draft.requests.splice(0, drop);
      draft.sentTokens.splice(0, drop);
      draft.sentRequests.splice(0, drop);
      draft.base = oldest;
    }
    return draft;
  }
  let levelAt = state.clock;
  while (bucketStart(draft.base, config) <= now) {
    const start = bucketStart(draft.base, config);
    const admitted = draft.tokens.shift() ?? 0;
    draft.level = drained(draft.level, levelAt, start, config) + admitted;
    if (admitted > 0) draft.lastAdmittedAt = start;
    const surplus = draft.surplusAhead.shift() ?? 0;
    if (surplus > 0) draft.inFlightSurplus = (draft.inFlightSurplus ?? 0) + surplus;
    levelAt = start;
    draft.base += 1;
  }
  draft.level = drained(draft.level, levelAt, now, config);
  draft.requests = [];
  return draft;
}

function interactivePresent(draft: Draft, config: GateConfig): boolean {
  return draft.interactiveSeenAt !== null && draft.clock - draft.interactiveSeenAt < config.windowMs;
}

/**
 * Share of the quota a priority fills on average: batch leaves the reserve free while interactive work
 * is present. Only spaces returning work; where batch may take the reserve is `batchCapped`'s business.
 */
export function shareOf(priority: Priority, present: boolean, config: GateConfig): number {
  return priority === 'batch' && present ? 1 - config.interactiveReserve : 1;
}

/**
 * The interactive reserve, by position rather than by presence alone. A run of `span` buckets starting
 * at bucket `first` holds batch work to (1 - reserve) of its cap when it begins beyond the look-ahead
 * (`lead`, the first bucket past it); while interactive work is present, also when it merely ends
 * beyond it. Rolling windows make this the whole story: an interactive call can start in bucket k
 * exactly when every run containing k has room, and those runs all end at k or later and begin at most
 * a run before it. So batch, while interactive work is present, can never push an interactive arrival
 * past its look-ahead; after a quiet spell, no further than a run past it. Runs that end inside the
 * look-ahead are full game: batch fills the reserve there when nobody else wants it, which is what
 * keeps a batch-only gate work-conserving.
 */
export function batchCapped(first: number, span: number, lead: number, present: boolean): boolean {
  return first >= lead || (present && first + span - 1 >= lead);
}

/** How one request may use the quota. */
interface Admission {
  /** The adaptive factor in force. */
  readonly factor: number;
  /** Batch work: the first bucket beyond its look-ahead. Interactive work: undefined (the whole quota). */
  readonly lead: number | undefined;
  readonly present: boolean;
  /** The queue's own limits and its fair share, as a check per candidate bucket in [from, until]; undefined: none apply. */
  readonly nested: ((from: number, until: number) => (k: number) => boolean) | undefined;
  /** Batch work: starts before this keep the opening pace (Infinity: this grant opens the window). Otherwise undefined. */
  readonly openingUntil: number | undefined;
}

/**
 * The cap one request is admitted against. A request larger than its share (but within the whole
 * quota) is capped by its own size, so it is admitted into an otherwise empty window rather than never.
 */
export function effectiveCap(full: number, scaled: number, amount: number): number {
  return Math.min(full, Math.max(scaled, amount));
}

/**
 * The nested limits of one request: its queue's own limits over the queue's window, and while several
 * queues are active (asked within the last window; work without a queue is the default queue) its fair
 * share: 1/n of what its priority may fill, in every run of buckets that begins beyond the look-ahead
 * (any priority's). Inside the look-ahead the share does not apply, so capacity no other queue claims
 * is never left idle, and a queue that floods holds at most its share of the reservations ahead.
 */
function nestedCheck(
  draft: Draft,
  request: AcquireRequest,
  load: MutableQueueLoad | undefined,
  active: number,
  factor: number,
  config: GateConfig,
): ((from: number, until: number) => (k: number) => boolean) | undefined {
  const queue = request.queue;
  const own = load !== undefined && queue !== undefined && (queue.tokensPerWindow !== undefined || queue.requestsPerWindow !== undefined);
  if (!own && active < 2) return undefined;
  return (from, until) => {
    const checks: ((k: number) => boolean)[] = [];
    if (own) checks.push(ownFits(load!, queue!, from, until, request.tokens, config));
    if (active >= 2) {
      const reserved = load ?? defaultReservations(draft.queues!, draft);
      const lead = leadBucketOf(draft.clock, config, interactivePresent(draft, config));
      const priorityShare = request.priority === 'batch' ? 1 - config.interactiveReserve : 1;
      const extra = toleranceBuckets(config);
      const runs: [readonly number[], number, number, number][] =
        config.mode === 'standard'
          ? [
              [reserved.tokens, config.bucketsPerWindow + 1 + extra, config.tokensPerMinute, request.tokens],
              [reserved.requests, config.bucketsPerWindow / 6 + 1 + extra, requestsPerRequestWindow(config), 1],
              [reserved.requests, config.bucketsPerWindow + 1 + extra, requestsPerTokenWindow(config), 1],
            ]
          : [[reserved.tokens, config.bucketsPerWindow + 1 + extra, capacity(config) * config.ptuMaxUtilization, request.tokens]];
      for (const [values, span, full, amount] of runs) {
        const share = effectiveCap(full, Math.floor((full * factor * priorityShare) / active), amount);
        const fits = fitsEveryRun(values, reserved.base, span, from, until, amount, (first) => (first >= lead ? share : Number.POSITIVE_INFINITY));
        checks.push((k) => fits[k - from] === true);
      }
    }
    return (k) => checks.every((check) => check(k));
  };
}

/** Smallest bucket whose start is at or after `t`. */
function bucketAtOrAfter(t: number, config: GateConfig): number {
  const k = bucketOf(t, config);
  return bucketStart(k, config) >= t ? k : k + 1;
}

export function acquire(state: GateState, now: number, request: AcquireRequest, config: GateConfig): Step<AcquireDecision> {
  const draft = advance(state, now, config);
  const full = config.mode === 'standard' ? config.tokensPerMinute : capacity(config);
  if (request.tokens > full) {
    return { state: freeze(draft), result: { kind: 'rejected', reason: 'too_large', limit: full } };
  }
  const queue = request.queue;
  if (queue?.tokensPerWindow !== undefined && request.tokens > queue.tokensPerWindow) {
    return { state: freeze(draft), result: { kind: 'rejected', reason: 'too_large', limit: queue.tokensPerWindow } };
  }
  if (request.priority === 'interactive') draft.interactiveSeenAt = draft.clock;
  draft.queues ??= { defaultSeenAt: null, queues: [] };
  const load = touchQueue(draft.queues, queue, draft.clock, config);
  const present = interactivePresent(draft, config);
  const factor = factorAt(draft.adaptive, draft.clock, config);
  const scale = factor * shareOf(request.priority, present, config);
  const active = activeQueues(draft.queues, draft.clock, config);
  // Idle: no charge in any window, past or reserved. The grant made now opens a window (only a paced gate has an opening pace).
  const opening = config.mode === 'standard' && minIntervalOf(config) > 0 && draft.tokens.every((tokens) => tokens === 0) && draft.sentTokens.every((tokens) => tokens === 0);
  const admission: Admission = {
    factor,
    lead: request.priority === 'batch' ? leadBucketOf(draft.clock, config, present) : undefined,
    present,
    nested: nestedCheck(draft, request, load, active, factor, config),
    openingUntil: request.priority !== 'batch' ? undefined : opening ? Number.POSITIVE_INFINITY : draft.openingUntil,
  };
  const earliest = Math.max(draft.clock, draft.pausedUntil);
  const horizonMs = bookingHorizonMs(draft, request.priority, config);
  const latest = draft.clock + horizonMs;
  if (earliest > latest) {
    return { state: freeze(draft), result: { kind: 'retry', retryAt: draft.pausedUntil, reason: 'paused' } };
  }
  if (liveLeases(draft.leases) >= inFlightCap(request.priority, config)) {
    // Slots come back as calls settle, at the latest when the earliest lease lapses. Returning work is
    // spaced at the pace the quota could start it, so the waiting jobs do not all ask at once.
    const pace = quotaPaceMs(request.tokens, full * scale, config);
    const next = Math.max(draft.clock + pace, draft.inFlightRetryUntil);
    draft.inFlightRetryUntil = next + pace;
    const retryAt = Math.min(next, earliestLeaseExpiry(draft.leases, config) ?? next);
    return { state: freeze(draft), result: { kind: 'retry', retryAt: Math.ceil(retryAt), reason: 'in_flight' } };
  }
  const counted = config.mode === 'provisioned' ? expectedUsage(request.tokens, draft, request.promptTokens) : request.tokens;
  const startAt =
    config.mode === 'standard'
      ? reserveStandard(draft, request.tokens, admission, earliest, latest, config)
      : reserveProvisioned(draft, counted, admission, earliest, latest, config);
  if (startAt !== undefined) {
    if (load !== undefined) addToQueue(load, bucketOf(startAt, config), request.tokens);
    if (counted < request.tokens) {
      if (startAt === draft.clock) draft.inFlightSurplus = (draft.inFlightSurplus ?? 0) + request.tokens - counted;
      else addAt(draft.surplusAhead, draft.base, bucketOf(startAt, config), request.tokens - counted);
    }
    takeLease(draft.leases, startAt, config);
    if (minIntervalOf(config) > 0) recordStart(draft.starts, startAt, config);
    if (opening) draft.openingUntil = startAt + config.windowMs;
    return {
      state: freeze(draft),
      result: {
        kind: 'granted',
        startAt,
        waitMs: startAt - draft.clock,
        sendBy: startAt + config.startToleranceMs,
        ...(counted < request.tokens ? { counted } : {}),
      },
    };
  }
  // Returning work is spaced at the pace the quota drains it (a named queue's at its fair share, and
  // apart from the other queues'), so each job asks again about once; work whose queue's own window
  // is full comes back when that window has room, however long it is.
  // Provisioned: at the pace of what the call is expected to use, which is what the bucket drains.
  const spacing = (counted * config.windowMs) / ((full * scale) / (load === undefined ? 1 : active));
  const ownRoom = load !== undefined && queue !== undefined ? bucketStart(ownRoomFrom(load, queue, bucketOf(earliest, config), request.tokens, config), config) - config.horizonMs / 2 : 0;
  const retryAt = Math.max(load?.deferredUntil ?? draft.deferredUntil, draft.clock + horizonMs / 2, ownRoom);
  if (load !== undefined) load.deferredUntil = retryAt + spacing;
  else draft.deferredUntil = retryAt + spacing;
  return { state: freeze(draft), result: { kind: 'retry', retryAt: Math.ceil(retryAt), reason: 'beyond_horizon' } };
}

/**
 * How far ahead a request may be booked: the horizon, except on a provisioned gate that has not yet
 * learned what calls use of their charge (no settle with usage yet). There batch work is booked only
 * within the quiet look-ahead (W/10) and asks again soon after, once the first answers have taught
 * the ratio: bookings made before would count whole charges for a whole horizon.
 */
export function bookingHorizonMs(state: Pick<GateState, 'usageRatio'>, priority: Priority, config: GateConfig): number {
  if (config.mode !== 'provisioned' || state.usageRatio !== undefined || priority !== 'batch') return config.horizonMs;
  return Math.min(config.horizonMs, Math.ceil((leadBuckets(config, false) * config.windowMs) / config.bucketsPerWindow));
}

/**
 * In-flight leases a priority may hold: batch always leaves the interactive reserve of the limit free.
 * Leases are held from grant, so a reserve kept only while interactive work is present would already
 * be spent by batch reservations when the first interactive call arrives; at the derived limit this
 * share binds only when calls stay unsettled for over a window.
 */
export function inFlightCap(priority: Priority, config: GateConfig): number {
  const limit = inFlightLimit(config);
  return priority === 'batch' ? effectiveCap(limit, Math.floor(limit * (1 - config.interactiveReserve)), 1) : limit;
}

/**
 * Earliest time from `from` clear of the pacing interval and, for batch starts beyond the look-ahead,
 * of the interactive pacing grid; past `limit`, whatever lies past it.
 */
function pacedStart(draft: Draft, from: number, admission: Admission, limit: number, config: GateConfig): number {
  const interval = minIntervalOf(config);
  const grid = admission.lead === undefined ? 0 : pacingGridBuckets(config);
  const openingUntil = admission.openingUntil ?? Number.NEGATIVE_INFINITY;
  for (let t = from; ; ) {
    let paced = pacedFrom(draft.starts, t, t < openingUntil ? openingIntervalOf(config) : interval, limit, config);
    // Past the opening the ordinary pace applies: the earliest time there may come sooner.
    if (t < openingUntil && paced >= openingUntil) paced = pacedFrom(draft.starts, openingUntil, interval, limit, config);
    if (paced > limit || grid === 0 || bucketOf(paced, config) < admission.lead!) return paced;
    const clear = offGrid(paced, grid, interval, config);
    if (clear === paced) return paced;
    t = clear;
  }
}

/** Time the quota needs to start one more call of `tokens`: the slowest of the pace, the request rate and the token rate. */
function quotaPaceMs(tokens: number, tokensPerWindow: number, config: GateConfig): number {
  const requestPace = config.mode === 'standard' ? config.windowMs / requestsPerTokenWindow(config) : 0;
  return Math.max(minIntervalOf(config), requestPace, (tokens * config.windowMs) / tokensPerWindow, 1);
}

function reserveStandard(draft: Draft, tokens: number, admission: Admission, earliest: number, latest: number, config: GateConfig): number | undefined {
  const from = bucketOf(earliest, config);
  const until = bucketOf(latest, config);
  const extra = toleranceBuckets(config);
  const windowSpan = config.bucketsPerWindow + 1 + extra;
  const requestSpan = config.bucketsPerWindow / 6 + 1 + extra;
  // Tokens and requests are whole numbers, so whole caps: no float noise decides a slot.
  const cap = (full: number, amount: number, span: number): number | ((first: number) => number) => {
    const whole = effectiveCap(full, Math.floor(full * admission.factor), amount);
    const lead = admission.lead;
    if (lead === undefined) return whole;
    const share = effectiveCap(full, Math.floor(full * admission.factor * (1 - config.interactiveReserve)), amount);
    return (first) => (batchCapped(first, span, lead, admission.present) ? share : whole);
  };
  // Charges of calls known to have been sent are held without the tolerance (`sentSpan`).
  const sentSpan = (span: number) => Math.min(span, span - extra + SENT_TRANSIT_BUCKETS);
  const sentTokens = { values: draft.sentTokens, span: sentSpan(windowSpan) };
  const tokenCap = cap(config.tokensPerMinute, tokens, windowSpan);
  // Batch work booking ahead leaves idle capacity to work that can start sooner (`fitsEveryRun`). Nothing
  // can start before `earliest` (a pause), so capacity idle before it is nobody's to keep.
  const idle = admission.lead === undefined ? undefined : { lead: Math.max(admission.lead, from), buckets: idleBuckets(config) };
  const constraints = [
    fitsEveryRun(draft.tokens, draft.base, windowSpan, from, until, tokens, tokenCap, sentTokens, idle),
    fitsEveryRun(draft.requests, draft.base, requestSpan, from, until, 1, cap(requestsPerRequestWindow(config), 1, requestSpan), {
      values: draft.sentRequests,
      span: sentSpan(requestSpan),
    }),
    fitsEveryRun(draft.requests, draft.base, windowSpan, from, until, 1, cap(requestsPerTokenWindow(config), 1, windowSpan), {
      values: draft.sentRequests,
      span: sentSpan(windowSpan),
    }),
  ];
  const nested = admission.nested?.(from, until);
  // Times before `cursor` are known to be too close to a granted start.
  let cursor = earliest;
  for (let k = from; k <= until; ) {
    if (!constraints.every((fits) => fits[k - from]) || (nested !== undefined && !nested(k))) {
      k++;
      continue;
    }
    const t = pacedStart(draft, Math.max(cursor, k === from ? earliest : bucketStart(k, config)), admission, latest, config);
    if (t > latest) return undefined;
    const bucket = bucketOf(t, config);
    if (bucket !== k) {
      // Every time from this bucket's start to t is too close to some start: try t's own bucket.
      cursor = t;
      k = Math.max(bucket, k + 1);
      continue;
    }
    addAt(draft.tokens, draft.base, k, tokens);
    addAt(draft.requests, draft.base, k, 1);
    return t;
  }
  return undefined;
}

function reserveProvisioned(draft: Draft, tokens: number, admission: Admission, earliest: number, latest: number, config: GateConfig): number | undefined {
  const full = capacity(config);
  // The level is a real number; a billionth of the capacity absorbs rounding in the drain arithmetic.
  const capWhole = effectiveCap(full, full * config.ptuMaxUtilization * admission.factor, tokens) + full * 1e-9;
  // Batch keeps the reserve free in the level from its look-ahead on, whether or not interactive work is
  // present: a lower level costs a provisioned deployment no throughput (the drain rate is the
  // throughput), only headroom for bursts, so no presence is needed to keep it work-conserving.
  const capShare =
    admission.lead === undefined
      ? capWhole
      : effectiveCap(full, full * config.ptuMaxUtilization * admission.factor * (1 - config.interactiveReserve), tokens) + full * 1e-9;
  // Boundaries from index `late` on lie beyond the look-ahead (base is the next boundary, the lead at least one later).
  const late = admission.lead === undefined ? Number.POSITIVE_INFINITY : admission.lead - draft.base;
  const capAt = (i: number) => (i >= late ? capShare : capWhole);
  // Simulate the level right after each reserved boundary (and at least up to the look-ahead's, where
  // the reduced cap begins), and the drain wasted while the bucket sat empty. A charge added at p
  // raises a later level L(j) by max(0, tokens - wasted(p..j)), so it fits at p exactly when every
  // j >= p keeps max(L(j), L(j) - wasted(j) + wasted(p) + tokens) within j's cap.
  const levels: number[] = [];
  const wasted: number[] = [];
  // Azure holds calls in flight at their whole charge: admission counts that too, draining with the rest
  // (it leaves when they end, a few seconds at most).
  const held = draft.level + (draft.inFlightSurplus ?? 0);
  let level = held;
  let waste = 0;
  let t = draft.clock;
  const simulated = Math.max(draft.tokens.length, Number.isFinite(late) ? late + 1 : 0);
  for (let i = 0; i < simulated; i++) {
    const start = bucketStart(draft.base + i, config);
    const drain = (capacity(config) * (start - t)) / config.windowMs;
    waste += Math.max(0, drain - level);
    level = Math.max(0, level - drain) + (draft.tokens[i] ?? 0);
    t = start;
    levels.push(level);
    wasted.push(waste);
  }
  // Suffix maxima of the room each later boundary lacks, with and without the drain wasted before it.
  const over: number[] = new Array<number>(levels.length + 1).fill(Number.NEGATIVE_INFINITY);
  const overUnwasted: number[] = new Array<number>(levels.length + 1).fill(Number.NEGATIVE_INFINITY);
  for (let i = levels.length - 1; i >= 0; i--) {
    over[i] = Math.max(over[i + 1]!, levels[i]! - capAt(i));
    overUnwasted[i] = Math.max(overUnwasted[i + 1]!, levels[i]! - wasted[i]! - capAt(i));
  }
  const fitsFrom = (i: number, levelThere: number, wastedThere: number, capThere: number) =>
    levelThere + tokens <= capThere && over[i]! <= 0 && overUnwasted[i]! + wastedThere + tokens <= 0;

  // Reserved charges sit on bucket boundaries in this model, so a reserved start is one too: pacing
  // may only pass over boundaries, not move a start between them.
  const nested = admission.nested?.(bucketOf(earliest, config), bucketOf(latest, config));
  const clear = (t: number) => (nested === undefined || nested(bucketOf(t, config))) && pacedStart(draft, t, admission, t, config) === t;
  if (earliest === draft.clock && fitsFrom(0, held, 0, capWhole) && clear(draft.clock)) {
    draft.level += tokens;
    draft.lastAdmittedAt = draft.clock;
    return draft.clock;
  }
  for (let i = 0; i < levels.length; i++) {
    const start = bucketStart(draft.base + i, config);
    if (start > latest) return undefined;
    // At boundary i the level already includes that boundary's reservations.
    if (start >= earliest && fitsFrom(i, levels[i]!, wasted[i]!, capAt(i)) && clear(start)) {
      addAt(draft.tokens, draft.base, draft.base + i, tokens);
      return start;
    }
  }
  // After the last simulated boundary the level only drains: the first boundary where it has room.
  const lastStart = levels.length > 0 ? bucketStart(draft.base + levels.length - 1, config) : draft.clock;
  const lastLevel = levels.length > 0 ? levels[levels.length - 1]! : held;
  const capAfter = capAt(levels.length);
  const roomAt = Math.max(drainsTo(lastLevel, capAfter - tokens, lastStart, config), earliest);
  let k = Math.max(draft.base + levels.length, bucketAtOrAfter(roomAt, config));
  // Epoch milliseconds carry about 1e-4 ms of precision: confirm the level at the chosen start itself,
  // in whole-millisecond arithmetic, and take the next boundary if rounding picked one a hair early.
  while (drained(lastLevel, lastStart, bucketStart(k, config), config) + tokens > capAfter || !clear(bucketStart(k, config))) {
    if (bucketStart(k, config) > latest) return undefined;
    k += 1;
  }
  const start = bucketStart(k, config);
  if (start > latest) return undefined;
  addAt(draft.tokens, draft.base, k, tokens);
  return start;
}

export function settle(state: GateState, now: number, report: SettleReport, config: GateConfig): GateState {
  const draft = advance(state, now, config);
  releaseLease(draft.leases, report.startAt, draft.clock, config);
  if (report.notSent && report.startAt !== undefined) refundUnsent(draft, report.startAt, report.counted ?? report.charged, config);
  else if (report.sentAt !== undefined && report.startAt !== undefined) holdFromSend(draft, report.startAt, report.sentAt, report.charged, config);
  if (config.mode === 'provisioned') {
    // Azure reconciles the estimate with real usage when the call ends; so do we, from what we counted.
    if (report.counted !== undefined) draft.inFlightSurplus = Math.max(0, (draft.inFlightSurplus ?? 0) - (report.charged - report.counted));
    if (report.usedTokens !== undefined) {
      draft.level = Math.max(0, draft.level + report.usedTokens - (report.counted ?? report.charged));
      if (report.charged > 0) draft.usageRatio = learnUsageRatio(draft.usageRatio, report.usedTokens / report.charged);
      const prompt = report.promptTokens;
      if (prompt !== undefined && report.charged > prompt) {
        draft.completionRatio = learnUsageRatio(draft.completionRatio, (report.usedTokens - prompt) / (report.charged - prompt));
      }
    }
    // The header was measured when the call was answered, some time before this settle (the answer's time,
    // when reported, drains it from then); the call's start is the latest moment known to precede it.
    if (report.utilization !== undefined) {
      const answeredAt = Math.max(report.startAt ?? Number.NEGATIVE_INFINITY, Math.min(report.utilizationAt ?? draft.clock, draft.clock));
      applyUtilization(draft, { utilization: report.utilization, measuredAt: answeredAt, source: 'header' }, config, report.startAt);
    }
  }
  if (report.throttled) {
    draft.pausedUntil = Math.max(draft.pausedUntil, draft.clock + report.throttled.retryAfterMs);
    if (report.throttled.kind === 'rate_limit') draft.adaptive = recordQuota429(draft.adaptive, draft.clock, config);
  }
  // A spent limit without a 429 pauses the same way, but says nothing about the adaptive factor.
  if (report.exhaustedForMs !== undefined) draft.pausedUntil = Math.max(draft.pausedUntil, draft.clock + report.exhaustedForMs);
  return freeze(draft);
}

/**
 * Provisioned admission counts what a call is expected to use, not its whole charge: Azure takes the
 * charge at arrival but sets it to the real usage when the call ends (seconds later), and reserving
 * future slots at whole charges held the bucket at the threshold times the usage ratio (measured: 35%
 * for a 70% threshold with calls using 60% of their charge). The live header corrects the level on
 * every answer, so a ratio that drifts costs accuracy between answers, never more.
 */
export function expectedUsage(
  charge: number,
  learned: { readonly usageRatio?: number | undefined; readonly completionRatio?: number | undefined },
  promptTokens?: number,
): number {
  // A call that names its prompt is certain to use it; only its completion budget is a guess, and the
  // share of budgets that calls use varies far less than the share of whole charges.
  const expected =
    promptTokens !== undefined && learned.completionRatio !== undefined
      ? promptTokens + Math.ceil((charge - promptTokens) * learned.completionRatio)
      : Math.ceil(charge * (learned.usageRatio ?? 1));
  return Math.min(charge, Math.max(1, expected));
}

/** Each settle moves a ratio a fifth of the way to what that call used; kept within [0.05, 1]. */
export const USAGE_RATIO_WEIGHT = 0.2;
const MIN_USAGE_RATIO = 0.05;

function learnUsageRatio(current: number | undefined, observed: number): number {
  const next = (current ?? 1) + USAGE_RATIO_WEIGHT * (Math.min(1, Math.max(0, observed)) - (current ?? 1));
  return Math.min(1, Math.max(MIN_USAGE_RATIO, next));
}

/**
 * A grant whose call was never sent gives its charge back. Standard: out of the bucket it was charged
 * to, while that bucket is still kept. Provisioned: only a reservation still ahead; one already folded
 * into the level stays (the level has drained since, and taking the whole charge out could undercount).
 * Named queues' loads keep it: counting it there only makes their limits stricter.
 */
function refundUnsent(draft: Draft, startAt: number, charged: number, config: GateConfig): void {
  const i = bucketOf(startAt, config) - draft.base;
  if (i < 0 || i >= draft.tokens.length) return;
  draft.tokens[i] = Math.max(0, draft.tokens[i]! - charged);
  if (config.mode === 'standard' && i < draft.requests.length) draft.requests[i] = Math.max(0, draft.requests[i]! - 1);
}

/**
 * Standard: a call whose settle says when it was sent is held for a window (and its trip) from then: its
 * charge moves from its start's bucket, held with the start tolerance, to its send time's, held without.
 * Only a send time within [startAt, startAt + tolerance] is taken (the client's fetch sends no later),
 * and only a charge its start's bucket still holds (one settle per grant), so the count never drops below
 * what Azure holds. A tolerance of one bucket or less would hold it no shorter: nothing moves.
 */
function holdFromSend(draft: Draft, startAt: number, sentAt: number, charged: number, config: GateConfig): void {
  if (config.mode !== 'standard' || toleranceBuckets(config) <= SENT_TRANSIT_BUCKETS) return;
  if (!(sentAt >= startAt && sentAt <= startAt + config.startToleranceMs)) return;
  const i = bucketOf(startAt, config) - draft.base;
  if (i < 0 || (draft.tokens[i] ?? 0) < charged || (draft.requests[i] ?? 0) < 1) return;
  draft.tokens[i] = draft.tokens[i]! - charged;
  draft.requests[i] = draft.requests[i]! - 1;
  addAt(draft.sentTokens, draft.base, bucketOf(sentAt, config), charged);
  addAt(draft.sentRequests, draft.base, bucketOf(sentAt, config), 1);
}

export function reportUtilization(state: GateState, now: number, report: UtilizationReport, config: GateConfig): GateState {
  const draft = advance(state, now, config);
  if (config.mode === 'provisioned') applyUtilization(draft, report, config);
  return freeze(draft);
}

/**
 * The header is live and authoritative: it replaces the estimate (only a newer one may), unless a
 * grant entered the level after the earliest moment the header may have been measured
 * (`measuredNoEarlierThan`: for a settle's header, its call's start). Such a grant may be missing from
 * it, and replacing would drop it: the gate then only lets the header raise the level (measured: a
 * burst of grants while the first answers came in reached 106%). Azure Monitor arrives minutes late in
 * 1-minute steps: it can only reveal load the gate did not see (other clients), so it only ever raises
 * the level.
 */
function applyUtilization(draft: Draft, report: UtilizationReport, config: GateConfig, measuredNoEarlierThan = report.measuredAt): void {
  const measuredAt = Math.min(report.measuredAt, draft.clock);
  const observed = drained(report.utilization * capacity(config), measuredAt, draft.clock, config);
  if (report.source === 'header') {
    if (measuredAt < draft.observedAt) return;
    const unseen = draft.lastAdmittedAt !== undefined && draft.lastAdmittedAt > measuredNoEarlierThan;
    // Azure's level holds calls in flight at their whole charge, the gate's at what it counted for them.
    draft.level = unseen ? Math.max(draft.level, observed - (draft.inFlightSurplus ?? 0)) : observed;
    draft.observedAt = measuredAt;
  } else {
    draft.level = Math.max(draft.level, observed);
  }
}

/**
 * New limits. Reservations already handed out stay valid; if the window's geometry or the mode
 * changes, old buckets cannot be mapped onto new ones safely, so admission waits until every old
 * charge has left its window.
 */
export function reconfigure(state: GateState, now: number, previous: GateConfig, next: GateConfig): GateState {
  const sameGeometry =
    previous.mode === next.mode && previous.windowMs === next.windowMs && previous.bucketsPerWindow === next.bucketsPerWindow;
  if (sameGeometry) return state;
  const draft = advance(state, now, previous);
  const kept = Math.max(draft.tokens.length, draft.sentTokens.length);
  const lastBusy = kept > 0 ? bucketStart(draft.base + kept, previous) : draft.clock;
  const settledAt =
    previous.mode === 'standard' ? lastBusy + previous.windowMs : drainsTo(draft.level, 0, lastBusy, previous);
  const fresh = initialGateState(draft.clock, next);
  // Starts granted under the old geometry are not carried over; admission waits until the last is a pace away.
  const lastStart = latestStart(draft.starts, previous);
  const pacedAt = lastStart === undefined ? 0 : lastStart + minIntervalOf(next);
  return {
    ...fresh,
    pausedUntil: Math.max(draft.pausedUntil, Math.ceil(settledAt), Math.ceil(pacedAt)),
    adaptive: draft.adaptive,
    interactiveSeenAt: draft.interactiveSeenAt,
    leases: rebucketLeases(draft.leases, previous, next),
    ...queuesRecut(draft, previous, next),
    // What calls use of their charge does not depend on the limits.
    ...(draft.usageRatio !== undefined && next.mode === 'provisioned' ? { usageRatio: draft.usageRatio } : {}),
    ...(draft.completionRatio !== undefined && next.mode === 'provisioned' ? { completionRatio: draft.completionRatio } : {}),
  };
}

/**
 * Queues across a change of geometry: their own windows may outlast the pause above (a queue's window may
 * be a day), so their charges are re-cut onto the new buckets, over-counted rather than lost.
 */
function queuesRecut(draft: Draft, previous: GateConfig, next: GateConfig): { queues?: QueueLoads } {
  if (draft.queues === undefined) return {};
  const current = bucketOf(draft.clock, next);
  for (const q of draft.queues.queues) {
    recutOwn(q, q.windowMs, draft.clock, previous, next);
    q.base = current + 1;
    q.tokens = [];
    q.requests = [];
  }
  const queues = freezeQueues(draft.queues);
  return queues === undefined ? {} : { queues };
}

export function status(state: GateState, now: number, config: GateConfig): GateStatus {
  const draft = advance(state, now, config);
  const current = bucketOf(draft.clock, config);
  const sum = (values: readonly number[], from: number, to: number) => {
    let total = 0;
    for (let k = from; k <= to; k++) total += at(values, draft.base, k);
    return total;
  };
  const lastReserved = draft.base + draft.tokens.length - 1;
  const futureFrom = config.mode === 'standard' ? current + 1 : draft.base;
  const reservedTokens = sum(draft.tokens, futureFrom, lastReserved);
  return {
    mode: config.mode,
    at: draft.clock,
    tokensPerWindow: config.tokensPerMinute,
    requestsPerRequestWindow: requestsPerRequestWindow(config),
    factor: factorAt(draft.adaptive, draft.clock, config),
    windowTokens: config.mode === 'standard' ? sum(draft.tokens, current - config.bucketsPerWindow + 1, current) + sum(draft.sentTokens, current - config.bucketsPerWindow + 1, current) : 0,
    windowRequests:
      config.mode === 'standard'
        ? sum(draft.requests, current - config.bucketsPerWindow / 6 + 1, current) + sum(draft.sentRequests, current - config.bucketsPerWindow / 6 + 1, current)
        : 0,
    reservedTokens,
    reservedUntil: reservedTokens > 0 && lastReserved >= futureFrom ? bucketStart(lastReserved, config) : null,
    utilization: config.mode === 'provisioned' ? draft.level / capacity(config) : null,
    pausedUntil: draft.pausedUntil > draft.clock ? draft.pausedUntil : null,
    interactivePresent: interactivePresent(draft, config),
    inFlight: liveLeases(draft.leases),
    maxInFlight: Number.isFinite(inFlightLimit(config)) ? inFlightLimit(config) : null,
    minIntervalMs: minIntervalOf(config),
    leaseMs: leaseMsOf(config),
  };
}

