/**
 * Independent reference models for the gate's properties: plain lists of grants and brute-force interval
 * sums, with no buckets. The gate is checked against these, not against itself.
 */
export interface Grant {
  readonly startAt: number;
  readonly tokens: number;
}

/** Largest total of `weight` over grants starting in any half-open interval of length `length`. */
export function busiestInterval(grants: readonly Grant[], length: number, weight: (g: Grant) => number): number {
  const sorted = [...grants].sort((a, b) => a.startAt - b.startAt);
  let best = 0;
  let j = 0;
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]!.startAt < sorted[i]!.startAt + length) sum += weight(sorted[j++]!);
    best = Math.max(best, sum);
    sum -= weight(sorted[i]!);
  }
  return best;
}

/** Largest total `weight` held at one moment, each over its half-open [from, to). */
export function mostHeld(holds: readonly { readonly from: number; readonly to: number; readonly weight: number }[]): number {
  // At equal times a hold ends before another begins: the intervals are half-open.
  const edges = holds.flatMap((h) => [
    { t: h.from, delta: h.weight },
    { t: h.to, delta: -h.weight },
  ]);
  edges.sort((a, b) => a.t - b.t || a.delta - b.delta);
  let held = 0;
  let most = 0;
  for (const edge of edges) {
    held += edge.delta;
    most = Math.max(most, held);
  }
  return most;
}

/**
 * Would adding `amount` at time `t` overfill some half-open interval of length `length` containing t?
 * `cap` may depend on where the interval starts, as long as it never grows with a later start: then
 * the busiest such interval relative to its cap starts at t or at a grant inside (t - length, t]
 * (moving an interval's start right, up to the next grant, loses nothing and lowers no cap).
 */
export function overfills(
  grants: readonly Grant[],
  t: number,
  length: number,
  amount: number,
  cap: number | ((start: number) => number),
  weight: (g: Grant) => number,
): boolean {
  const capAt = typeof cap === 'number' ? () => cap : cap;
  const starts = [t, ...grants.filter((g) => g.startAt > t - length && g.startAt <= t).map((g) => g.startAt)];
  return starts.some((a) => {
    let sum = amount;
    for (const g of grants) if (g.startAt >= a && g.startAt < a + length) sum += weight(g);
    return sum > capAt(a) + 1e-9;
  });
}

/**
 * A continuous leaky bucket: additions at instants, a level set by observation (or only raised by it,
 * when the observation may predate admissions), draining at `rate` per ms.
 */
export type BucketEvent =
  | { readonly t: number; readonly kind: 'add'; readonly amount: number; readonly seq: number; readonly rank: number }
  | { readonly t: number; readonly kind: 'set' | 'raise'; readonly level: number; readonly seq: number; readonly rank: number };

export function levelsAt(events: readonly BucketEvent[], rate: number, probes: readonly number[]): Map<number, number> {
  const sorted = [...events].sort((a, b) => a.t - b.t || a.rank - b.rank || a.seq - b.seq);
  const out = new Map<number, number>();
  const pending = [...new Set(probes)].sort((a, b) => a - b);
  let level = 0;
  let t = Number.NEGATIVE_INFINITY;
  const drainTo = (to: number) => {
    if (t !== Number.NEGATIVE_INFINITY) level = Math.max(0, level - rate * (to - t));
    t = to;
  };
  let p = 0;
  for (const e of sorted) {
    // A probe sees every event at or before its instant.
    while (p < pending.length && pending[p]! < e.t) {
      drainTo(pending[p]!);
      out.set(pending[p]!, level);
      p++;
    }
    drainTo(e.t);
    level = e.kind === 'add' ? Math.max(0, level + e.amount) : e.kind === 'raise' ? Math.max(level, e.level) : e.level;
  }
  while (p < pending.length) {
    drainTo(pending[p]!);
    out.set(pending[p]!, level);
    p++;
  }
  return out;
}

/** One grant's in-flight lease, as the caller sees it: granted, then settled or never. */
export interface Lease {
  readonly grantedAt: number;
  readonly startAt: number;
  /** When it lapses if never settled. */
  readonly expiresAt: number;
  readonly settledAt: number | null;
}

/** Leases held at `t`: granted by then, not settled by then, not lapsed. */
export function liveAt(leases: readonly Lease[], t: number): number {
  return leases.filter((l) => l.grantedAt <= t && (l.settledAt === null || l.settledAt > t) && t < l.expiresAt).length;
}

/** Earliest lapse among the leases held at `t`. */
export function earliestExpiry(leases: readonly Lease[], t: number): number | undefined {
  const live = leases.filter((l) => l.grantedAt <= t && (l.settledAt === null || l.settledAt > t) && t < l.expiresAt);
  return live.length > 0 ? Math.min(...live.map((l) => l.expiresAt)) : undefined;
}

/** Would a start at `t` be closer than `interval` to one of `starts`? */
export function tooClose(starts: readonly number[], t: number, interval: number): boolean {
  return starts.some((s) => Math.abs(t - s) < interval);
}

/**
 * Would a start at `t` fall within `interval` of the span of the starts that share a bucket? The gate's
 * pace record keeps only each bucket's first and last start, so it never places a start between them:
 * a gap there is as taken as the starts around it. Where one pace holds, such a gap is narrower than two
 * paces and this is `tooClose`; only an opening's batch starts (1.5 paces apart) leave a gap an
 * interactive start, at the plain pace, could have used.
 */
export function tooCloseToSpans(starts: readonly number[], t: number, interval: number, g: ReserveGeometry): boolean {
  const spans = new Map<number, { first: number; last: number }>();
  for (const s of starts) {
    const k = bucketAt(s, g);
    const span = spans.get(k);
    spans.set(k, span === undefined ? { first: s, last: s } : { first: Math.min(span.first, s), last: Math.max(span.last, s) });
  }
  return [...spans.values()].some(({ first, last }) => t > first - interval && t < last + interval);
}

/** Smallest distance between any two starts (Infinity for fewer than two). */
export function closestStarts(starts: readonly number[]): number {
  const sorted = [...starts].sort((a, b) => a - b);
  let closest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < sorted.length; i++) closest = Math.min(closest, sorted[i]! - sorted[i - 1]!);
  return closest;
}

/**
 * The interactive reserve as the README states it, in the gate's bucket terms (bucket k covers
 * [kW/B, (k+1)W/B)); every name here is spelled out rather than taken from the gate.
 */
export interface ReserveGeometry {
  readonly windowMs: number;
  readonly buckets: number;
  /** Look-ahead in buckets while interactive work is present. */
  readonly lead: number;
  /** Look-ahead in buckets while none is (longer: batch may take more of the reserve). */
  readonly quietLead: number;
}

/** The look-ahead in force for a decision, in buckets. */
export const leadOf = (g: ReserveGeometry, present: boolean) => (present ? g.lead : g.quietLead);

export const bucketAt = (t: number, g: ReserveGeometry) => Math.floor((t * g.buckets) / g.windowMs);
export const bucketBegin = (k: number, g: ReserveGeometry) => Math.ceil((k * g.windowMs) / g.buckets);

/**
 * Does a window (a run of `span` buckets starting in bucket `first`) hold batch work to its share, for
 * a decision at `now`? When it starts beyond the look-ahead; while interactive work is present, also
 * when it ends beyond it.
 */
export function heldToShare(first: number, span: number, now: number, present: boolean, g: ReserveGeometry): boolean {
  const beyond = bucketAt(now, g) + leadOf(g, present);
  return first >= beyond || (present && first + span - 1 >= beyond);
}

/** A grant with, once its settle reported it, when its call went out. */
export interface SentGrant extends Grant {
  readonly sentAt?: number;
}

/**
 * The README's rule that batch work booking ahead keeps idle capacity free, from the grants alone: would
 * `amount` in bucket k leave some run of `span` buckets containing k with less room than what stood free
 * in each of the `idle` buckets before k (the cap of the runs containing k less what a run ending there
 * holds)? Only where all of those lie at or beyond `lead`. A run holds each charge from its start's bucket
 * for `span` buckets, a sent call's from its send time's bucket for `sentSpan`; its cap is `capOf(its
 * first bucket)`.
 */
export function takesIdleCapacity(
  grants: readonly SentGrant[],
  k: number,
  amount: number,
  geometry: { readonly span: number; readonly sentSpan: number; readonly idle: number; readonly lead: number },
  capOf: (first: number) => number,
  bucket: (t: number) => number,
): boolean {
  const { span, sentSpan, idle, lead } = geometry;
  if (k - idle < lead) return false;
  const heldAt = (x: number) => {
    let held = 0;
    for (const g of grants) {
      const from = g.sentAt === undefined ? bucket(g.startAt) : bucket(g.sentAt);
      const length = g.sentAt === undefined ? span : sentSpan;
      if (from <= x && x < from + length) held += g.tokens;
    }
    return held;
  };
  // The runs containing k end at k .. k+span-1; their cap is the least of theirs.
  let capHere = Number.POSITIVE_INFINITY;
  for (let y = k; y < k + span; y++) capHere = Math.min(capHere, capOf(y - span + 1));
  let idleRoom = Number.POSITIVE_INFINITY;
  for (let x = k - idle; x < k; x++) idleRoom = Math.min(idleRoom, capHere - heldAt(x));
  for (let y = k; y < k + span; y++) if (capOf(y - span + 1) - heldAt(y) < amount + Math.max(0, idleRoom)) return true;
  return false;
}

/** Is `t` closer than `interval` to a point of the interactive pacing grid (bucket starts at multiples of gridBuckets)? */
export function nearGrid(t: number, gridBuckets: number, interval: number, g: ReserveGeometry): boolean {
  if (gridBuckets === 0 || interval === 0) return false;
  const below = Math.floor(bucketAt(t, g) / gridBuckets) * gridBuckets;
  return [below, below + gridBuckets].some((k) => Math.abs(t - bucketBegin(k, g)) < interval);
}

/**
 * Named queues (issue #9), as the README states them: a queue is active for a window after it last
 * asked; while n queues are active each may hold at most 1/n of what its priority may fill in a window
 * that begins beyond the look-ahead (a single request larger than that may fill an empty one).
 */
export function activeQueueCount(lastAsked: ReadonlyMap<string, number>, now: number, windowMs: number): number {
  let n = 0;
  for (const t of lastAsked.values()) if (now - t < windowMs) n += 1;
  return Math.max(1, n);
}

export function fairShareCap(full: number, priorityShare: number, active: number, amount: number): number {
  return Math.min(full, Math.max(Math.floor((full * priorityShare) / active), amount));
}
