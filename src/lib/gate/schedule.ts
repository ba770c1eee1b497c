/**
 * Time buckets. The token window is `bucketsPerWindow` buckets (B) and the request window B/6 (R).
 * Bucket k covers [kW/B, (k+1)W/B). Any interval of length W touches at most B+1 consecutive buckets,
 * so capping every run of B+1 buckets caps every rolling window exactly. Runs are longer still by the
 * start tolerance (rounded up to buckets), so a call sent that late still fits Azure's window. The price:
 * a charge is held for its window plus one bucket plus the tolerance, so at most W/(W+b+tolerance) of
 * the quota would be usable (97.9% of the tokens and 88.9% of the 10 s request window at the defaults),
 * were it not that a call's settle reports when it was sent: from then on its charge is held for a
 * window, its trip to Azure (a bucket) and one bucket more from that time, and the rest of the
 * tolerance is paid only until the answer comes.
 */
import { GateConfig } from './config.js';

export function bucketOf(t: number, config: GateConfig): number {
  return Math.floor((t * config.bucketsPerWindow) / config.windowMs);
}

export function bucketStart(k: number, config: GateConfig): number {
  return Math.ceil((k * config.windowMs) / config.bucketsPerWindow);
}

/** Value of a bucket in an array that starts at bucket `base` (zero outside it). */
export function at(values: readonly number[], base: number, k: number): number {
  const i = k - base;
  return i >= 0 && i < values.length ? (values[i] ?? 0) : 0;
}

export function addAt(values: number[], base: number, k: number, amount: number): void {
  const i = k - base;
  if (i < 0) throw new RangeError(`bucket ${k} is before the schedule's start ${base}`);
  while (values.length <= i) values.push(0);
  values[i] = (values[i] ?? 0) + amount;
}

/** Drops trailing empty buckets so an idle gate serializes small. */
export function trimEnd(values: number[]): void {
  while (values.length > 0 && values[values.length - 1] === 0) values.pop();
}

/**
 * Values held for fewer buckets than a run spans (`span`, at most the run's): a run counts them only in
 * its last `span` buckets. Charges whose send time is known need no start tolerance (gate.ts).
 */
export interface ShorterHeld {
  readonly values: readonly number[];
  readonly span: number;
}

/**
 * Sums of the runs of `span` consecutive buckets that begin in [first, last]: their `values` plus, when
 * given, the `shorter` values held into their end (same `base`). Index i is the run beginning at `first + i`.
 */
function sumsOfRuns(values: readonly number[], base: number, span: number, first: number, last: number, shorter?: ShorterHeld): Float64Array {
  const sums = new Float64Array(last - first + 1);
  addRunSums(sums, values, base, span, first, 0);
  // Empty when no call's send time is known (or the tolerance is a bucket or less): nothing to add.
  if (shorter !== undefined && shorter.values.length > 0) addRunSums(sums, shorter.values, base, shorter.span, first, span - shorter.span);
  return sums;
}

/** Adds to sums[i] the total of `values` over the `span` buckets from `first + i + skip` (a sliding sum). */
function addRunSums(sums: Float64Array, values: readonly number[], base: number, span: number, first: number, skip: number): void {
  let total = 0;
  const from = first + skip;
  for (let j = from; j < from + span; j++) total += at(values, base, j);
  for (let i = 0; i < sums.length; i++) {
    sums[i]! += total;
    total += at(values, base, from + i + span) - at(values, base, from + i);
  }
}

/** The smallest (or with `sign` -1 the largest) of each `width` consecutive values: index i covers values[i .. i + width - 1]. */
function sliding(values: Float64Array, width: number, sign: 1 | -1): Float64Array {
  const out = new Float64Array(Math.max(0, values.length - width + 1));
  // Indices of candidates, their signed values increasing: a deque in a fixed array.
  const candidates = new Int32Array(values.length);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < values.length; i++) {
    while (tail > head && sign * values[candidates[tail - 1]!]! >= sign * values[i]!) tail--;
    candidates[tail++] = i;
    if (candidates[head]! <= i - width) head++;
    if (i >= width - 1) out[i - width + 1] = values[candidates[head]!]!;
  }
  return out;
}

/**
 * Idle capacity a booking must leave free (see `fitsEveryRun`): what stood free in each of the `buckets`
 * before a candidate, where all of them lie at or beyond `lead`.
 */
export interface IdleKept {
  readonly lead: number;
  readonly buckets: number;
}

/**
 * For each candidate bucket k in [from, until]: may `amount` be added to bucket k while every run of
 * `span` consecutive buckets that contains k stays within its cap (`cap`, or `cap(first bucket of the run)`)?
 * A run's sum is its `values` plus, when given, the `shorter` values held into its end (same `base`).
 *
 * With `idle`, the runs containing k must also leave free what stood free in each of the `idle.buckets`
 * buckets before k, where all of them lie at or beyond `idle.lead` (before it, nothing more is asked):
 * the cap of the runs containing k less the most that a run ending in one of those buckets holds.
 * Capacity idle that long before a reservation is kept for work that can start sooner: taking it would
 * lock it for a window ahead. The cap must then never grow with a later first bucket (the reserve's
 * does not), so the least cap of the runs containing k is that of the run beginning at k.
 */
export function fitsEveryRun(
  values: readonly number[],
  base: number,
  span: number,
  from: number,
  until: number,
  amount: number,
  cap: number | ((first: number) => number),
  shorter?: ShorterHeld,
  idle?: IdleKept,
): boolean[] {
  const capOf = typeof cap === 'number' ? () => cap : cap;
  const fits: boolean[] = [];
  if (idle === undefined) {
    const first = from - span + 1;
    const sums = sumsOfRuns(values, base, span, first, until, shorter);
    let lastOverfull = Number.NEGATIVE_INFINITY;
    for (let j = first; j <= until; j++) {
      if (sums[j - first]! + amount > capOf(j)) lastOverfull = j;
      // The runs containing bucket j start at j-span+1 .. j.
      if (j >= from) fits.push(lastOverfull < j - span + 1);
    }
    return fits;
  }
  // Runs beginning at from-idle-span+1 .. until: those ending in the idle buckets before `from`, and on.
  const first = from - idle.buckets - span + 1;
  const sums = sumsOfRuns(values, base, span, first, until, shorter);
  const room = new Float64Array(sums.length - idle.buckets);
  for (let i = 0; i < room.length; i++) room[i] = capOf(first + idle.buckets + i) - sums[idle.buckets + i]!;
  const least = sliding(room, span, 1);
  // The runs ending in buckets k-idle .. k-1 begin at k-idle-span+1 .. k-span: index i for k = from + i.
  const most = sliding(sums, idle.buckets, -1);
  for (let i = 0; i <= until - from; i++) {
    const k = from + i;
    const idleFree = k - idle.buckets >= idle.lead ? Math.max(0, capOf(k) - most[i]!) : 0;
    fits.push(least[i]! >= amount + idleFree);
  }
  return fits;
}
