/**
 * Pacing: no two granted starts closer than `minIntervalMs`, whenever they were granted and whatever
 * their priority. The record keeps, per bucket, only the first and the last start granted in it. That
 * is exact for every start the gate can still hand out: within a bucket a new start is only ever
 * placed after the last one (the earliest allowed time, clock or pause, never moves back, and a start
 * is placed at it or right after an earlier start's interval), so the gaps a bucket's first and last
 * hide are already in the past. Placing before a bucket's first start, as an out-of-order reservation
 * does for the bucket after it, is checked against that first start.
 */
import { GateConfig } from './config.js';
import { bucketOf, bucketStart } from './schedule.js';

export interface PaceRecord {
  /** Bucket of `first[0]` and `last[0]`. */
  readonly base: number;
  /** First and last start granted in each bucket, in ms after the bucket's start; null: none. */
  readonly first: readonly (number | null)[];
  readonly last: readonly (number | null)[];
}

export interface MutablePace {
  base: number;
  first: (number | null)[];
  last: (number | null)[];
}

export const NO_STARTS: PaceRecord = { base: 0, first: [], last: [] };

/** Forgets buckets whose starts can no longer be within `interval` of a start at or after `now`. */
export function prunePace(pace: MutablePace, now: number, interval: number, config: GateConfig): void {
  if (interval === 0) {
    pace.first = [];
    pace.last = [];
    return;
  }
  const oldest = bucketOf(now - interval, config);
  let drop = Math.max(0, oldest - pace.base);
  while (drop < pace.first.length && pace.first[drop] === null) drop++;
  if (drop > 0) {
    pace.first.splice(0, drop);
    pace.last.splice(0, drop);
    pace.base += drop;
  }
  while (pace.first.length > 0 && pace.first[pace.first.length - 1] === null) {
    pace.first.pop();
    pace.last.pop();
  }
}

/**
 * Earliest time at or after `from` at least `interval` away from every recorded start, or the first
 * candidate past `limit` (the caller's cut-off) if there is none before it.
 */
export function pacedFrom(pace: PaceRecord, from: number, interval: number, limit: number, config: GateConfig): number {
  if (interval === 0 || pace.first.length === 0) return from;
  let t = from;
  for (;;) {
    if (t > limit) return t;
    let blockedUntil: number | undefined;
    const lastBucket = Math.min(bucketOf(t + interval, config), pace.base + pace.first.length - 1);
    for (let k = Math.max(bucketOf(t - interval, config), pace.base); k <= lastBucket; k++) {
      const first = pace.first[k - pace.base];
      const last = pace.last[k - pace.base];
      if (first === null || first === undefined || last === null || last === undefined) continue;
      const start = bucketStart(k, config);
      if (t > start + first - interval && t < start + last + interval) {
        blockedUntil = start + last + interval;
        break;
      }
    }
    if (blockedUntil === undefined) return t;
    t = blockedUntil;
  }
}

export function recordStart(pace: MutablePace, t: number, config: GateConfig): void {
  const k = bucketOf(t, config);
  if (pace.first.length === 0) pace.base = k;
  if (k < pace.base) {
    const gap = new Array<null>(pace.base - k).fill(null);
    pace.first.unshift(...gap);
    pace.last.unshift(...gap);
    pace.base = k;
  }
  while (pace.first.length <= k - pace.base) {
    pace.first.push(null);
    pace.last.push(null);
  }
  // Relative to the bucket's start: a few digits instead of an epoch's thirteen. Exact, as both are
  // epoch-sized doubles (Sterbenz).
  const offset = t - bucketStart(k, config);
  const i = k - pace.base;
  const first = pace.first[i];
  const last = pace.last[i];
  pace.first[i] = first === null || first === undefined ? offset : Math.min(first, offset);
  pace.last[i] = last === null || last === undefined ? offset : Math.max(last, offset);
}

/** The latest start recorded, or undefined. */
export function latestStart(pace: PaceRecord, config: GateConfig): number | undefined {
  for (let i = pace.last.length - 1; i >= 0; i--) {
    const last = pace.last[i];
    if (last !== null && last !== undefined) return bucketStart(pace.base + i, config) + last;
  }
  return undefined;
}

/**
 * `t`, or the first time after it clear of the interactive pacing grid: at least `interval` from the
 * start of every bucket that is a multiple of `gridBuckets`. Grid points are at least 2 × interval + 1
 * apart (see pacingGridBuckets), so the zones never touch and one step always clears them.
 */
export function offGrid(t: number, gridBuckets: number, interval: number, config: GateConfig): number {
  if (gridBuckets === 0 || interval === 0) return t;
  const below = Math.floor(bucketOf(t, config) / gridBuckets) * gridBuckets;
  for (const point of [bucketStart(below, config), bucketStart(below + gridBuckets, config)]) {
    if (Math.abs(t - point) < interval) return point + interval;
  }
  return t;
}
