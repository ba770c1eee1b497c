/**
 * The dashboard page's arithmetic: its rolling history and the geometry of its charts. Plain functions
 * that use nothing but each other and the language's built-ins, because the page embeds their source
 * (`CHART_MATH_SOURCE`): the browser runs exactly the code these unit tests run, with no bundler.
 */

export interface Sample {
  /** Epoch ms. */
  readonly t: number;
}

export interface XY {
  readonly x: number;
  readonly y: number;
}

export interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly top: number;
}

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above `max`: an axis top with round tick labels. */
export function niceCeil(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(max)));
  const steps = [1, 2, 2.5, 5, 10];
  for (let i = 0; i < steps.length; i++) {
    const candidate = steps[i]! * power;
    // A relative tolerance: log10 and the multiplication round, and 3 must not become 5.
    if (candidate >= max * (1 - 1e-9)) return candidate;
  }
  return 10 * power;
}

/** Grid intervals for an axis topped by `niceCeil`: 4 for a leading 2 (steps of 5), else 5 (steps of 1, 2, 5). */
export function tickCount(yMax: number): number {
  if (!(yMax > 0) || !Number.isFinite(yMax)) return 5;
  const leading = yMax / Math.pow(10, Math.floor(Math.log10(yMax)));
  return Math.abs(leading - 2) < 1e-9 ? 4 : 5;
}

/**
 * Appends a sample unless it is not newer than the last one (a poll answered out of order), then keeps
 * only samples within `keepMs` of the newest and at most `maxPoints` of them. Returns a new array.
 */
export function pushHistory<T extends Sample>(history: readonly T[], sample: T, keepMs: number, maxPoints: number): T[] {
  const last = history[history.length - 1];
  const next = last !== undefined && sample.t <= last.t ? history.slice() : history.concat([sample]);
  const newest = next[next.length - 1]!.t;
  const kept = next.filter((s) => s.t >= newest - keepMs);
  return kept.slice(Math.max(0, kept.length - maxPoints));
}

/** Maps values in [x0, x1] × [0, yMax] onto the frame (y grows downwards on screen); values beyond are clamped. */
export function project(points: readonly XY[], x0: number, x1: number, yMax: number, frame: Frame): XY[] {
  const spanX = x1 > x0 ? x1 - x0 : 1;
  const top = yMax > 0 ? yMax : 1;
  return points.map((p) => ({
    x: frame.left + (Math.min(Math.max(p.x, x0), x1) - x0) / spanX * frame.width,
    y: frame.top + frame.height - (Math.min(Math.max(p.y, 0), top) / top) * frame.height,
  }));
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** An SVG path through projected points; empty for none. */
export function linePath(points: readonly XY[]): string {
  return points.map((p, i) => (i === 0 ? 'M' : 'L') + round1(p.x) + ' ' + round1(p.y)).join(' ');
}

/** The closed area between projected points and the frame's baseline; a single point becomes a thin bar. */
export function areaPath(points: readonly XY[], baseline: number): string {
  if (points.length === 0) return '';
  const first = points[0]!;
  if (points.length === 1) {
    const half = 3;
    return 'M' + round1(first.x - half) + ' ' + round1(baseline) + ' L' + round1(first.x - half) + ' ' + round1(first.y) + ' L' + round1(first.x + half) + ' ' + round1(first.y) + ' L' + round1(first.x + half) + ' ' + round1(baseline) + ' Z';
  }
  const last = points[points.length - 1]!;
  return 'M' + round1(first.x) + ' ' + round1(baseline) + ' ' + linePath(points).replace(/^M/, 'L') + ' L' + round1(last.x) + ' ' + round1(baseline) + ' Z';
}

/**
 * Stacks series: for each index the running totals, bottom first. `series[s][i]` is series s at index i;
 * the result's `[s][i]` is the top of series s there.
 */
export function stack(series: readonly (readonly number[])[]): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < series.length; s++) {
    const below = s === 0 ? null : out[s - 1]!;
    out.push(series[s]!.map((v, i) => (below ? below[i]! : 0) + Math.max(0, v)));
  }
  return out;
}

/** Whole numbers with thousands separators; fractions of 1 as percentages with one decimal. */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatPercent(fraction: number): string {
  return (Math.round(fraction * 1000) / 10).toFixed(1) + '%';
}

/** The source of every function above, for the page's inline script. */
export const CHART_MATH_SOURCE: string = [niceCeil, tickCount, pushHistory, project, linePath, areaPath, stack, formatCount, formatPercent]
  .map((fn) => fn.toString())
  .join('\n')
  .concat('\nconst round1 = ', round1.toString(), ';\n');
