/**
 * Timer trigger schedules as the Functions host reads them: six-field NCRONTAB
 * (`{second} {minute} {hour} {day} {month} {day-of-week}`) with `*`, numbers, ranges, lists and
 * steps, or a TimeSpan `hh:mm:ss` meaning "every interval". Times are UTC (WEBSITE_TIME_ZONE unset).
 */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 6 },
] as const;

const MONTH_NAMES: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DAY_NAMES: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
/** Names only where they belong: `mon` is a day of week, never January. */
const NAMES: Partial<Record<(typeof FIELDS)[number]['name'], Record<string, number>>> = { month: MONTH_NAMES, 'day-of-week': DAY_NAMES };

export interface Schedule {
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
}

function parseField(text: string, field: (typeof FIELDS)[number]): Set<number> {
  const values = new Set<number>();
  const value = (s: string) => {
    // Digits only: Number() would also take "", "0x1f", "1e1" and " 7 ".
    const n = NAMES[field.name]?.[s.toLowerCase()] ?? (/^\d+$/.test(s) ? Number(s) : NaN);
    if (!Number.isInteger(n) || n < field.min || n > field.max) throw new ScheduleError(`${field.name} "${s}" is not in ${field.min}-${field.max}`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range = '', stepText, extraStep] = part.split('/');
    const step = stepText === undefined ? 1 : /^\d+$/.test(stepText) ? Number(stepText) : NaN;
    if (extraStep !== undefined || !Number.isInteger(step) || step < 1) throw new ScheduleError(`${field.name} step "${stepText}" must be a whole number above 0`);
    let from: number = field.min;
    let to: number = field.max;
    if (range !== '*') {
      const [a = '', b, extra] = range.split('-');
      if (extra !== undefined) throw new ScheduleError(`${field.name} range "${range}" has more than two ends`);
      from = value(a);
      to = b === undefined ? (stepText === undefined ? from : field.max) : value(b);
    }
    if (from > to) throw new ScheduleError(`${field.name} range "${range}" runs backwards`);
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return values;
}

function cron(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) throw new ScheduleError(`"${expression}" needs six fields (second minute hour day month day-of-week)`);
  const [seconds, minutes, hours, days, months, weekdays] = parts.map((p, i) => parseField(p, FIELDS[i]!)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  return {
    next(after) {
      const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
      // Walk field by field, carrying into the next larger unit; bounded to a few years of searching.
      for (let guard = 0; guard < 500_000; guard++) {
        if (!months.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0);
        } else if (!days.has(t.getUTCDate()) || !weekdays.has(t.getUTCDay())) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0);
        } else if (!hours.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0);
        } else if (!minutes.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0);
        } else if (!seconds.has(t.getUTCSeconds())) {
          t.setUTCSeconds(t.getUTCSeconds() + 1);
        } else {
          return t;
        }
      }
      throw new ScheduleError(`"${expression}" never occurs`);
    },
  };
}

function interval(text: string): Schedule {
  const [h, m, s] = text.split(':').map(Number) as [number, number, number];
  const ms = ((h * 60 + m) * 60 + s) * 1000;
  if (!(ms > 0)) throw new ScheduleError(`interval "${text}" must be longer than zero`);
  return { next: (after) => new Date(after.getTime() + ms) };
}

export function parseSchedule(expression: string): Schedule {
  return /^\d{1,2}:\d{2}:\d{2}$/.test(expression.trim()) ? interval(expression.trim()) : cron(expression);
}
