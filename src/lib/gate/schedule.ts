/**
 * Time buckets. The token window is `bucketsPerWindow` buckets (B) and the request window B/6 (R).
 * Bucket k covers [kW/B, (k+1)W/B). Any interval of length W touches at most B+1 consecutive buckets,
 * so capping every run of B+1 buckets caps every rolling window exactly. Runs are longer still by the
 * start tolerance (rounded up to buckets), so a call sent that late still fits Azure's window. The price:
 * a charge is held for its window plus one bucket plus the tolerance, so at most W/(W+b+tolerance) of
 * the quota would be usable (97.9% of the tokens and 88.9% of the 10 s request window at the defaults),
 * were it not that a call's settle reports when it was sent: from then on its charge is held for a
 * window plus one bucket from that time, and the tolerance is paid only until the answer comes.
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
function sumsOfRuns(values: readonly number[], base: number, span: number, first: number, last: number, shorter?: ShorterHeld): number[] {
  const prefix: number[] = [0];
  const shorterPrefix: number[] = [0];
  for (let j = first; j <= last + span - 1; j++) {
    prefix.push(prefix[prefix.length - 1]! + at(values, base, j));
    shorterPrefix.push(shorterPrefix[shorterPrefix.length - 1]! + (shorter === undefined ? 0 : at(shorter.values, base, j)));
  }
  const skipped = shorter === undefined ? 0 : span - shorter.span;
  const sums: number[] = [];
  for (let j = first; j <= last; j++) sums.push(prefix[j + span - first]! - prefix[j - first]! + shorterPrefix[j + span - first]! - shorterPrefix[j + skipped - first]!);
  return sums;
}

/** The smallest (or with `sign` -1 the largest) of each `width` consecutive values: index i covers values[i .. i + width - 1]. */
function sliding(values: readonly number[], width: number, sign: 1 | -1 = 1): number[] {
  const out: number[] = [];
  // Indices of candidates, their signed values increasing.
  const candidates: number[] = [];
  let head = 0;
  for (let i = 0; i < values.length; i++) {
    while (candidates.length > head && sign * values[candidates[candidates.length - 1]!]! >= sign * values[i]!) candidates.pop();
    candidates.push(i);
    if (candidates[head]! <= i - width) head++;
    if (i >= width - 1) out.push(values[candidates[head]!]!);
  }
  return out;
}

const capsOf = (cap: number | ((first: number) => number), first: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => (typeof cap === 'number' ? cap : cap(first + i)));

/**
 * For each candidate bucket k in [from, until]: may `amount` be added to bucket k while every run of
 * `span` consecutive buckets that contains k stays within its cap (`cap`, or `cap(first bucket of the run)`)?
 * A run's sum is its `values` plus, when given, the `shorter` values held into its end (same `base`).
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
): boolean[] {
  // The runs containing bucket k begin at k-span+1 .. k.
  const first = from - span + 1;
  const sums = sumsOfRuns(values, base, span, first, until, shorter);
  const caps = capsOf(cap, first, sums.length);
  return sliding(sums.map((sum, i) => caps[i]! - sum), span).map((room) => room >= amount);
}

/**
 * `fitsEveryRun`, and also leaving free, in every run that contains k, what stood free in each of the
 * `idle` buckets before k, where all of them lie at or beyond `lead` (before it, nothing more is asked):
 * the cap of the runs containing k (their least) less the most that a run ending in one of those buckets
 * holds. Capacity idle that long before a reservation is kept for work that can start sooner: taking it
 * would lock it for a window ahead.
 */
export function keepsIdleFree(
  values: readonly number[],
  base: number,
  span: number,
  from: number,
  until: number,
  amount: number,
  cap: number | ((first: number) => number),
  shorter: ShorterHeld | undefined,
  lead: number,
  idle: number,
): boolean[] {
  // Runs beginning at from-idle-span+1 .. until: those ending in the idle buckets before `from`, and on.
  const first = from - idle - span + 1;
  const sums = sumsOfRuns(values, base, span, first, until, shorter);
  const caps = capsOf(cap, first, sums.length);
  const room = sliding(sums.map((sum, i) => caps[i]! - sum).slice(idle), span);
  const capHere = sliding(caps.slice(idle), span);
  // The runs ending in buckets k-idle .. k-1 begin at k-idle-span+1 .. k-span: index i for k = from + i.
  const mostBefore = sliding(sums, idle, -1);
  return room.map((free, i) => {
    const idleFree = from + i - idle >= lead ? Math.max(0, capHere[i]! - mostBefore[i]!) : 0;
    return free >= amount + idleFree;
  });
}

