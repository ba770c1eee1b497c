/**
 * Time buckets. The token window is `bucketsPerWindow` buckets (B) and the request window B/6 (R).
 * Bucket k covers [kW/B, (k+1)W/B). Any interval of length W touches at most B+1 consecutive buckets,
 * so capping every run of B+1 buckets caps every rolling window exactly. Runs are longer still by the
 * start tolerance (rounded up to buckets), so a call sent that late still fits Azure's window. The price:
 * a charge is held for its window plus one bucket plus the tolerance, so at most W/(W+b+tolerance) of
 * the quota is usable: 97.9% of the tokens and 88.9% of the 10 s request window at the defaults.
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
 * For each candidate bucket k in [from, until]: may `amount` be added to bucket k while every run of
 * `span` consecutive buckets that contains k stays within its cap (`cap`, or `cap(first bucket of the run)`)?
 */
export function fitsEveryRun(
  values: readonly number[],
  base: number,
  span: number,
  from: number,
  until: number,
  amount: number,
  cap: number | ((first: number) => number),
): boolean[] {
  const capOf = typeof cap === 'number' ? () => cap : cap;
  const first = from - span + 1;
  const prefix: number[] = [0];
  for (let j = first; j <= until + span - 1; j++) prefix.push(prefix[prefix.length - 1]! + at(values, base, j));
  const runSum = (j: number) => prefix[j + span - first]! - prefix[j - first]!;
  const fits: boolean[] = [];
  let lastOverfull = Number.NEGATIVE_INFINITY;
  for (let j = first; j <= until; j++) {
    if (runSum(j) + amount > capOf(j)) lastOverfull = j;
    // The runs containing bucket j start at j-span+1 .. j.
    if (j >= from) fits.push(lastOverfull < j - span + 1);
  }
  return fits;
}
