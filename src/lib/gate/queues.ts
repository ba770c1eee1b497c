/**
 * Named queues inside a deployment's quota (issue #9). The deployment's gate keeps, per queue seen in
 * the last window (or still holding charges), two sets of bucket sums:
 * - its own window (`own*`): every charge, in buckets of `unit` gate buckets so that a queue window of a
 *   day stays about as many buckets as the deployment's window; its own limits are checked on these;
 * - its reservations ahead (`tokens`, `requests`, gate buckets from the next bucket on): its fair share
 *   applies only beyond the look-ahead, so only future buckets are ever needed.
 * Work without a queue is the default queue: it has no limits of its own, and its reservations are the
 * deployment's minus the named queues'. An idle queue whose charges have all left its window is dropped,
 * so the state is bounded by the queues active at once.
 */
import { GateConfig } from './config.js';
import { addAt, at, bucketOf, bucketStart, fitsEveryRun, trimEnd } from './schedule.js';
import { AcquireQueue } from './types.js';

export interface QueueLoad {
  readonly name: string;
  /** Last acquire of this queue: it counts as active for a window after it. */
  readonly seenAt: number;
  /** Spaces this queue's deferred work, so one queue's backlog never pushes another's returns back. */
  readonly deferredUntil: number;
  /** Gate bucket of `tokens[0]` and `requests[0]`: reservations ahead, for the fair share. */
  readonly base: number;
  readonly tokens: readonly number[];
  readonly requests: readonly number[];
  /** The queue's window as last asked (limits travel with each request). */
  readonly windowMs: number;
  /** Gate buckets per own bucket. */
  readonly unit: number;
  /** Own bucket of `ownTokens[0]` and `ownRequests[0]`. */
  readonly ownBase: number;
  readonly ownTokens: readonly number[];
  readonly ownRequests: readonly number[];
}

export interface QueueLoads {
  /** Last acquire without a queue (the default queue), null: none within a window. */
  readonly defaultSeenAt: number | null;
  readonly queues: readonly QueueLoad[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly number[] ? number[] : T[K] };
export type MutableQueueLoad = Mutable<QueueLoad>;
export interface MutableQueueLoads {
  defaultSeenAt: number | null;
  queues: MutableQueueLoad[];
}

/** Gate buckets per own bucket: about one deployment window's worth of own buckets per queue window. */
export function unitOf(windowMs: number, config: GateConfig): number {
  return Math.max(1, Math.ceil(windowMs / config.windowMs));
}

/**
 * Own buckets a run must span so that capping every run caps every interval of the queue's window plus
 * the start tolerance (an interval of length l touches at most ceil(l / width) + 1 buckets).
 */
export function ownSpan(windowMs: number, unit: number, config: GateConfig): number {
  return Math.ceil(((windowMs + config.startToleranceMs) * config.bucketsPerWindow) / (config.windowMs * unit)) + 1;
}

const isEmpty = (values: number[]) => {
  trimEnd(values);
  return values.length === 0;
};

function dropBefore(values: number[], base: number, oldest: number): number {
  if (oldest <= base) return base;
  values.splice(0, oldest - base);
  return oldest;
}

/** Brings the queues to `now`: prunes buckets no window can reach any more and drops idle queues. */
export function advanceQueues(loads: QueueLoads | undefined, now: number, config: GateConfig): MutableQueueLoads | undefined {
  if (loads === undefined) return undefined;
  const current = bucketOf(now, config);
  const active = (seenAt: number) => now - seenAt < config.windowMs;
  const queues: MutableQueueLoad[] = [];
  for (const q of loads.queues) {
    const m: MutableQueueLoad = { ...q, tokens: [...q.tokens], requests: [...q.requests], ownTokens: [...q.ownTokens], ownRequests: [...q.ownRequests] };
    const fine = dropBefore(m.tokens, m.base, current + 1);
    dropBefore(m.requests, m.base, current + 1);
    m.base = fine;
    const own = Math.floor(current / m.unit) - ownSpan(m.windowMs, m.unit, config) + 1;
    const ownBase = dropBefore(m.ownTokens, m.ownBase, own);
    dropBefore(m.ownRequests, m.ownBase, own);
    m.ownBase = ownBase;
    const idle = !active(m.seenAt) && m.deferredUntil <= now;
    if (idle && isEmpty(m.tokens) && isEmpty(m.requests) && isEmpty(m.ownTokens) && isEmpty(m.ownRequests)) continue;
    queues.push(m);
  }
  const defaultSeenAt = loads.defaultSeenAt !== null && active(loads.defaultSeenAt) ? loads.defaultSeenAt : null;
  return queues.length === 0 && defaultSeenAt === null ? undefined : { defaultSeenAt, queues };
}

export function freezeQueues(loads: MutableQueueLoads | undefined): QueueLoads | undefined {
  if (loads === undefined) return undefined;
  for (const q of loads.queues) for (const values of [q.tokens, q.requests, q.ownTokens, q.ownRequests]) trimEnd(values);
  return { defaultSeenAt: loads.defaultSeenAt, queues: loads.queues.map((q) => ({ ...q })) };
}

/**
 * Own buckets re-cut to a new window (its unit changed) or a new geometry: each old bucket's sum is
 * counted in every new bucket its time overlaps, which over-counts and so never lets a limit slip;
 * buckets no run of the new window can reach from `now` on are left out.
 */
export function recutOwn(q: MutableQueueLoad, windowMs: number, now: number, previous: GateConfig, next: GateConfig): void {
  const unit = unitOf(windowMs, next);
  const oldest = Math.floor(bucketOf(now, next) / unit) - ownSpan(windowMs, unit, next) + 1;
  const recut = (values: readonly number[]) => {
    const out: number[] = [];
    values.forEach((v, i) => {
      if (v === 0) return;
      const from = Math.floor(bucketOf(bucketStart((q.ownBase + i) * q.unit, previous), next) / unit);
      const to = Math.floor(bucketOf(bucketStart((q.ownBase + i + 1) * q.unit, previous) - 1, next) / unit);
      for (let k = Math.max(from, oldest); k <= to; k++) addAt(out, oldest, k, v);
    });
    return out;
  };
  const tokens = recut(q.ownTokens);
  const requests = recut(q.ownRequests);
  q.unit = unit;
  q.windowMs = windowMs;
  q.ownBase = oldest;
  q.ownTokens = tokens;
  q.ownRequests = requests;
}

/** Records an acquire of `queue` (undefined: the default queue) at `now`; returns its load, undefined for the default. */
export function touchQueue(loads: MutableQueueLoads, queue: AcquireQueue | undefined, now: number, config: GateConfig): MutableQueueLoad | undefined {
  if (queue === undefined) {
    loads.defaultSeenAt = now;
    return undefined;
  }
  const unit = unitOf(queue.windowMs, config);
  let q = loads.queues.find((e) => e.name === queue.name);
  if (q === undefined) {
    const current = bucketOf(now, config);
    q = {
      name: queue.name,
      seenAt: now,
      deferredUntil: 0,
      base: current + 1,
      tokens: [],
      requests: [],
      windowMs: queue.windowMs,
      unit,
      ownBase: Math.floor(current / unit) - ownSpan(queue.windowMs, unit, config) + 1,
      ownTokens: [],
      ownRequests: [],
    };
    loads.queues.push(q);
  }
  if (q.unit !== unit) recutOwn(q, queue.windowMs, now, config, config);
  q.windowMs = queue.windowMs;
  q.seenAt = now;
  return q;
}

/** Queues active now: asked within the last window (the default queue included). At least one. */
export function activeQueues(loads: MutableQueueLoads | undefined, now: number, config: GateConfig): number {
  if (loads === undefined) return 1;
  const active = (seenAt: number) => now - seenAt < config.windowMs;
  const n = loads.queues.filter((q) => active(q.seenAt)).length + (loads.defaultSeenAt !== null && active(loads.defaultSeenAt) ? 1 : 0);
  return Math.max(1, n);
}

/** For gate buckets in [from, until]: does one more request of `tokens` keep the queue within its own limits? */
export function ownFits(q: MutableQueueLoad, queue: AcquireQueue, from: number, until: number, tokens: number, config: GateConfig): (k: number) => boolean {
  const span = ownSpan(queue.windowMs, q.unit, config);
  const first = Math.floor(from / q.unit);
  const last = Math.floor(until / q.unit);
  const checks: boolean[][] = [];
  if (queue.tokensPerWindow !== undefined) checks.push(fitsEveryRun(q.ownTokens, q.ownBase, span, first, last, tokens, queue.tokensPerWindow));
  if (queue.requestsPerWindow !== undefined) checks.push(fitsEveryRun(q.ownRequests, q.ownBase, span, first, last, 1, queue.requestsPerWindow));
  return (k) => checks.every((fits) => fits[Math.floor(k / q.unit) - first] === true);
}

/**
 * First gate bucket from `from` on where the queue's own limits have room for `tokens`, however far:
 * where deferred work of a queue whose own window is full should come back (its window may be a day).
 */
export function ownRoomFrom(q: MutableQueueLoad, queue: AcquireQueue, from: number, tokens: number, config: GateConfig): number {
  const span = ownSpan(queue.windowMs, q.unit, config);
  const first = Math.floor(from / q.unit);
  const last = Math.max(first, q.ownBase + Math.max(q.ownTokens.length, q.ownRequests.length) + span);
  // Own buckets are checked one by one: a day's window is a few hundred of them, not a day of gate buckets.
  const fits = ownFits(q, queue, first * q.unit, last * q.unit, tokens, config);
  for (let own = first; own <= last; own += 1) if (fits(own * q.unit)) return Math.max(from, own * q.unit);
  return last * q.unit;
}

/** Adds a grant of `tokens` in gate bucket `k` to the queue's sums. */
export function addToQueue(q: MutableQueueLoad, k: number, tokens: number): void {
  // A start in the current bucket is never beyond a look-ahead: the fair share has no use for it.
  if (k >= q.base) {
    addAt(q.tokens, q.base, k, tokens);
    addAt(q.requests, q.base, k, 1);
  }
  addAt(q.ownTokens, q.ownBase, Math.floor(k / q.unit), tokens);
  addAt(q.ownRequests, q.ownBase, Math.floor(k / q.unit), 1);
}

/** Reservations ahead of the default queue: the deployment's minus every named queue's. */
export function defaultReservations(
  loads: MutableQueueLoads,
  deployment: { readonly base: number; readonly tokens: readonly number[]; readonly requests: readonly number[] },
): { base: number; tokens: number[]; requests: number[] } {
  const tokens = deployment.tokens.map((v, i) => v - loads.queues.reduce((sum, q) => sum + at(q.tokens, q.base, deployment.base + i), 0));
  const requests = deployment.requests.map((v, i) => v - loads.queues.reduce((sum, q) => sum + at(q.requests, q.base, deployment.base + i), 0));
  return { base: deployment.base, tokens: tokens.map((v) => Math.max(0, v)), requests: requests.map((v) => Math.max(0, v)) };
}
