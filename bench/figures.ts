/**
 * The figures of issue #7, from one run's raw facts. Pure functions over plain data, so they are
 * tested on small synthetic inputs (test/bench/figures.test.ts).
 */

export interface Admission {
  readonly at: number;
  readonly tokens: number;
}

/**
 * Mean occupancy of the rolling window over [from, to], as a share of `quota`: the time average of
 * "tokens admitted in the last window", i.e. how full the deployment's window was kept. Each admission
 * counts for the part of [at, at + window) inside [from, to]. Null when the interval is empty.
 */
export function meanWindowShare(admissions: readonly Admission[], from: number, to: number, windowMs: number, quota: number): number | null {
  if (!(to > from)) return null;
  let area = 0;
  for (const { at, tokens } of admissions) {
    const overlap = Math.min(at + windowMs, to) - Math.max(at, from);
    if (overlap > 0) area += tokens * overlap;
  }
  return area / (to - from) / quota;
}

/**
 * The steady state: from one window after the first admission to one window before the last, which
 * leaves out the opening burst (a rolling window admits a whole quota at once) and the tail (the last
 * jobs cannot fill a window). Null when the drain is shorter than three windows.
 */
export function steadyInterval(admissions: readonly Admission[], windowMs: number): { from: number; to: number } | null {
  if (admissions.length === 0) return null;
  let first = Infinity;
  let last = -Infinity;
  for (const { at } of admissions) {
    first = Math.min(first, at);
    last = Math.max(last, at);
  }
  const from = first + windowMs;
  const to = last - windowMs;
  return to - from >= windowMs ? { from, to } : null;
}

/** Nearest-rank percentile (p in (0, 1]); Infinity entries (never served) sort last. Null for no values. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export interface CallRecord {
  readonly tag: string | null;
  readonly at: number;
  readonly answeredAt: number | null;
  readonly status: number | null;
  readonly usedTokens: number | null;
}

export interface OutcomeRecord {
  readonly tag: string;
  readonly ok: boolean;
  readonly submittedAt: number;
  readonly doneAt: number | null;
}

export interface JobIntegrity {
  /** Jobs whose caller got no completion. */
  readonly lost: number;
  /** Jobs the deployment answered 200 more than once (charged and run twice). */
  readonly duplicated: number;
}

export function integrity(outcomes: readonly OutcomeRecord[], calls: readonly CallRecord[]): JobIntegrity {
  const answered = new Map<string, number>();
  for (const call of calls) if (call.tag !== null && call.status === 200) answered.set(call.tag, (answered.get(call.tag) ?? 0) + 1);
  return {
    lost: outcomes.filter((o) => !o.ok).length,
    duplicated: [...answered.values()].filter((n) => n > 1).length,
  };
}

/** Per job, the first call the deployment admitted (answered 200). */
export function firstAdmitted(calls: readonly CallRecord[]): Map<string, CallRecord> {
  const first = new Map<string, CallRecord>();
  for (const call of calls) {
    if (call.tag === null || call.status !== 200) continue;
    const seen = first.get(call.tag);
    if (!seen || call.at < seen.at) first.set(call.tag, call);
  }
  return first;
}

/** Per job, the last 200 the deployment sent back. */
export function lastAnswered(calls: readonly CallRecord[]): Map<string, CallRecord> {
  const last = new Map<string, CallRecord>();
  for (const call of calls) {
    if (call.tag === null || call.status !== 200 || call.answeredAt === null) continue;
    const seen = last.get(call.tag);
    if (!seen || call.answeredAt! > seen.answeredAt!) last.set(call.tag, call);
  }
  return last;
}

/**
 * How long each interactive request waited: from its arrival to the moment the deployment admitted
 * its call. A request never served waited forever (Infinity), so it counts against the percentile.
 */
export function interactiveWaits(outcomes: readonly OutcomeRecord[], calls: readonly CallRecord[], isInteractive: (tag: string) => boolean): number[] {
  const admitted = firstAdmitted(calls);
  return outcomes.filter((o) => isInteractive(o.tag)).map((o) => {
    const call = admitted.get(o.tag);
    return o.ok && call ? Math.max(0, call.at - o.submittedAt) : Infinity;
  });
}

/** Mean and max of utilization samples; the mean only over [from, to] (the steady state). */
export function utilizationFigures(samples: readonly (readonly [number, number])[], from: number, to: number): { mean: number | null; max: number | null } {
  if (samples.length === 0) return { mean: null, max: null };
  const steady = samples.filter(([t]) => t >= from && t <= to).map(([, u]) => u);
  return {
    mean: steady.length > 0 ? steady.reduce((s, u) => s + u, 0) / steady.length : null,
    max: Math.max(...samples.map(([, u]) => u)),
  };
}

export function median(values: readonly number[]): number | null {
  return percentile(values, 0.5);
}

/**
 * Why each 429 of a standard deployment happened, replayed from the deployment's own admissions: the
 * token window (what it held in the last window plus the call's charge is over quota) or else the
 * request window (a sixth of the window, RPM/6 calls).
 */
export function throttleCauses(
  calls: readonly CallRecord[],
  admissions: readonly Admission[],
  chargeOf: (tag: string) => number | undefined,
  windowMs: number,
  quota: number,
): { tokenWindow: number; requestWindow: number } {
  const causes = { tokenWindow: 0, requestWindow: 0 };
  for (const call of calls) {
    if (call.status !== 429 || call.tag === null) continue;
    const held = admissions.filter((a) => a.at > call.at - windowMs && a.at <= call.at).reduce((sum, a) => sum + a.tokens, 0);
    if (held + (chargeOf(call.tag) ?? 0) > quota) causes.tokenWindow += 1;
    else causes.requestWindow += 1;
  }
  return causes;
}
