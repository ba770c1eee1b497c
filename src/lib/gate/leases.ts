/**
 * In-flight leases. Every grant holds one from the moment it is granted (a reserved slot counts: its
 * worker is already committed to it) until its call settles, or until `leaseMs` after the end of its
 * start's bucket if it never does (its worker died). Leases are counted per start bucket, not per
 * call, so the state stays a few numbers per bucket whatever the concurrency, and a settle names its
 * lease by the grant's `startAt`. All leases of one bucket expire together, which keeps a late
 * settle from releasing a neighbour's lease after its own has already expired.
 */
import { GateConfig, leaseMsOf } from './config.js';
import { bucketOf, bucketStart } from './schedule.js';

export interface LeaseCounts {
  /** Bucket of `counts[0]`. */
  readonly base: number;
  /** Live leases per start bucket; leading expired or empty buckets are pruned. */
  readonly counts: readonly number[];
}

export interface MutableLeases {
  base: number;
  counts: number[];
}

export const NO_LEASES: LeaseCounts = { base: 0, counts: [] };

/** When the leases of bucket k lapse: `leaseMs` after the bucket ends, so never before startAt + leaseMs. */
export function leaseExpiry(k: number, config: GateConfig): number {
  return bucketStart(k + 1, config) + leaseMsOf(config);
}

/** Drops expired and empty leading buckets: what remains is exactly the live leases, earliest expiry first. */
export function pruneLeases(leases: MutableLeases, now: number, config: GateConfig): void {
  let drop = 0;
  while (drop < leases.counts.length && (leases.counts[drop] === 0 || leaseExpiry(leases.base + drop, config) <= now)) drop++;
  if (drop > 0) {
    leases.counts.splice(0, drop);
    leases.base += drop;
  }
  while (leases.counts.length > 0 && leases.counts[leases.counts.length - 1] === 0) leases.counts.pop();
}

export function liveLeases(leases: LeaseCounts): number {
  let total = 0;
  for (const n of leases.counts) total += n;
  return total;
}

/** Earliest moment a live lease lapses by itself; undefined when none is held. Call after pruning. */
export function earliestLeaseExpiry(leases: LeaseCounts, config: GateConfig): number | undefined {
  return leases.counts.length > 0 ? leaseExpiry(leases.base, config) : undefined;
}

export function takeLease(leases: MutableLeases, startAt: number, config: GateConfig): void {
  const k = bucketOf(startAt, config);
  if (leases.counts.length === 0) leases.base = k;
  // A reservation may start before the earliest lease still held.
  if (k < leases.base) {
    leases.counts.unshift(...new Array<number>(leases.base - k).fill(0));
    leases.base = k;
  }
  while (leases.counts.length <= k - leases.base) leases.counts.push(0);
  leases.counts[k - leases.base] = (leases.counts[k - leases.base] ?? 0) + 1;
}

/**
 * Releases the lease of the grant that started at `startAt`. Without one (callers older than leases)
 * it releases the earliest live lease: every settle ends one call. A lease already expired or
 * released is not there to release: nothing happens.
 */
export function releaseLease(leases: MutableLeases, startAt: number | undefined, now: number, config: GateConfig): void {
  const i = startAt === undefined ? leases.counts.findIndex((n) => n > 0) : bucketOf(startAt, config) - leases.base;
  if (i < 0 || i >= leases.counts.length || (leases.counts[i] ?? 0) === 0) return;
  leases.counts[i] = leases.counts[i]! - 1;
  pruneLeases(leases, now, config);
}

/**
 * Carries leases across a change of bucket geometry: each old bucket's leases go to the new bucket
 * holding the old bucket's last millisecond, so none lapses earlier than it would have. A settle that
 * then names a start in another new bucket finds nothing and its lease lapses by timeout instead.
 */
export function rebucketLeases(leases: LeaseCounts, previous: GateConfig, next: GateConfig): LeaseCounts {
  const moved: MutableLeases = { base: 0, counts: [] };
  leases.counts.forEach((n, i) => {
    for (let j = 0; j < n; j++) takeLease(moved, bucketStart(leases.base + i + 1, previous) - 1, next);
  });
  return moved;
}
