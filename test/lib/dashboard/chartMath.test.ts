/** The page's chart arithmetic, and its embedded source behaving the same outside the module. */
import { describe, expect, it } from 'vitest';
import {
  CHART_MATH_SOURCE,
  areaPath,
  formatCount,
  formatPercent,
  linePath,
  niceCeil,
  project,
  pushHistory,
  stack,
  tickCount,
} from '../../../src/lib/dashboard/chartMath.js';

const frame = { left: 10, top: 5, width: 100, height: 50 };

describe('axes', () => {
  it('tops an axis with the next round value', () => {
    expect([0, -3, Number.NaN, Number.POSITIVE_INFINITY].map(niceCeil)).toEqual([1, 1, 1, 1]);
    expect([1, 1.2, 3, 4_400, 5_000, 5_001, 0.07, 2_100].map(niceCeil)).toEqual([1, 2, 5, 5_000, 5_000, 10_000, 0.1, 2_500]);
  });

  it('divides such an axis into round steps', () => {
    for (const top of [1, 2, 2.5, 5, 10, 20, 25, 50, 200, 250, 5_000, 0.2]) {
      const n = tickCount(top);
      const step = top / n;
      // Every step is 1, 2 or 5 times a power of ten.
      const leading = step / Math.pow(10, Math.floor(Math.log10(step) + 1e-9));
      expect([1, 2, 5].some((m) => Math.abs(leading - m) < 1e-6)).toBe(true);
    }
  });
});

describe('pushHistory', () => {
  it('appends, drops samples older than keepMs before the newest, and caps the count', () => {
    let h: { t: number; v: number }[] = [];
    for (let t = 0; t <= 10_000; t += 1_000) h = pushHistory(h, { t, v: t }, 5_000, 100);
    expect(h.map((s) => s.t)).toEqual([5_000, 6_000, 7_000, 8_000, 9_000, 10_000]);
    expect(pushHistory(h, { t: 11_000, v: 0 }, 60_000, 3).map((s) => s.t)).toEqual([9_000, 10_000, 11_000]);
  });

  it('ignores a sample not newer than the last (a poll answered out of order) and does not mutate its input', () => {
    const h = [{ t: 1 }, { t: 5 }];
    expect(pushHistory(h, { t: 5 }, 100, 10)).toEqual(h);
    expect(pushHistory(h, { t: 3 }, 100, 10)).toEqual(h);
    expect(h).toEqual([{ t: 1 }, { t: 5 }]);
    expect(pushHistory([], { t: 7 }, 100, 10)).toEqual([{ t: 7 }]);
  });
});

describe('geometry', () => {
  it('projects values onto the frame, y downwards, clamping what lies outside', () => {
    expect(project([{ x: 0, y: 0 }, { x: 50, y: 5 }, { x: 100, y: 10 }, { x: 200, y: 20 }, { x: -5, y: -1 }], 0, 100, 10, frame)).toEqual([
      { x: 10, y: 55 },
      { x: 60, y: 30 },
      { x: 110, y: 5 },
      { x: 110, y: 5 },
      { x: 10, y: 55 },
    ]);
    // A single instant spans nothing: it sits at the left edge rather than dividing by zero.
    expect(project([{ x: 7, y: 1 }], 7, 7, 0, frame)).toEqual([{ x: 10, y: 5 }]);
  });

  it('draws lines and closed areas down to the baseline', () => {
    const points = [{ x: 10, y: 50 }, { x: 60.04, y: 20 }, { x: 110, y: 30 }];
    expect(linePath(points)).toBe('M10 50 L60 20 L110 30');
    expect(areaPath(points, 55)).toBe('M10 55 L10 50 L60 20 L110 30 L110 55 Z');
    expect(areaPath([{ x: 20, y: 30 }], 55)).toBe('M17 55 L17 30 L23 30 L23 55 Z');
    expect(linePath([])).toBe('');
    expect(areaPath([], 55)).toBe('');
  });

  it('stacks series bottom first, negatives as zero', () => {
    expect(stack([[1, 2, 3], [10, -1, 0], [100, 100, 100]])).toEqual([[1, 2, 3], [11, 2, 3], [111, 102, 103]]);
    expect(stack([])).toEqual([]);
  });
});

describe('formatting', () => {
  it('writes counts with separators and fractions as percentages', () => {
    expect([0, 7, 999, 1_000, 29_900, 1_234_567.6].map(formatCount)).toEqual(['0', '7', '999', '1,000', '29,900', '1,234,568']);
    expect([0, 0.369, 0.9999, 1.25].map(formatPercent)).toEqual(['0.0%', '36.9%', '100.0%', '125.0%']);
  });
});

describe('CHART_MATH_SOURCE', () => {
  it('is standalone JavaScript that computes what the module does', () => {
    const names = ['niceCeil', 'tickCount', 'pushHistory', 'project', 'linePath', 'areaPath', 'stack', 'formatCount', 'formatPercent'];
    const embedded = new Function(`'use strict';\n${CHART_MATH_SOURCE}\nreturn { ${names.join(', ')} };`)() as Record<string, (...args: unknown[]) => unknown>;
    expect(Object.keys(embedded).sort()).toEqual([...names].sort());
    expect(embedded.niceCeil!(4_400)).toBe(5_000);
    expect(embedded.tickCount!(200)).toBe(4);
    expect(embedded.pushHistory!([{ t: 1 }], { t: 2 }, 10, 10)).toEqual([{ t: 1 }, { t: 2 }]);
    expect(embedded.areaPath!(project([{ x: 0, y: 0 }, { x: 1, y: 1 }], 0, 1, 1, frame), 55)).toBe(areaPath(project([{ x: 0, y: 0 }, { x: 1, y: 1 }], 0, 1, 1, frame), 55));
    expect(embedded.stack!([[1], [2]])).toEqual([[1], [3]]);
    expect(embedded.formatCount!(12_345)).toBe('12,345');
    expect(embedded.formatPercent!(0.5)).toBe('50.0%');
  });
});
