/** Timer trigger schedules: six-field NCRONTAB and TimeSpan intervals, in UTC. */
import { describe, expect, it } from 'vitest';
import { ScheduleError, parseSchedule } from '../../../src/local/host/timerSchedule.js';

const at = (iso: string) => new Date(iso);
/** The next `count` occurrences after `from`, as ISO strings. */
function occurrences(expression: string, from: string, count: number): string[] {
  const schedule = parseSchedule(expression);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < count; i++) {
    t = schedule.next(t);
    out.push(t.toISOString());
  }
  return out;
}

describe('parseSchedule: NCRONTAB', () => {
  it('every minute, at second 0, strictly after the given time', () => {
    expect(occurrences('0 * * * * *', '2026-03-10T10:00:00.000Z', 3)).toEqual(['2026-03-10T10:01:00.000Z', '2026-03-10T10:02:00.000Z', '2026-03-10T10:03:00.000Z']);
    expect(occurrences('0 * * * * *', '2026-03-10T10:00:59.999Z', 1)).toEqual(['2026-03-10T10:01:00.000Z']);
    expect(occurrences('0 * * * * *', '2026-03-10T10:00:00.500Z', 1)).toEqual(['2026-03-10T10:01:00.000Z']);
  });

  it('every 5 seconds, across a minute and an hour boundary', () => {
    expect(occurrences('*/5 * * * * *', '2026-03-10T10:59:52.300Z', 4)).toEqual([
      '2026-03-10T10:59:55.000Z',
      '2026-03-10T11:00:00.000Z',
      '2026-03-10T11:00:05.000Z',
      '2026-03-10T11:00:10.000Z',
    ]);
  });

  it('every second', () => {
    expect(occurrences('* * * * * *', '2026-12-31T23:59:58.000Z', 2)).toEqual(['2026-12-31T23:59:59.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('every five minutes, ranges, lists and steps combined', () => {
    expect(occurrences('0 */5 * * * *', '2026-03-10T10:07:00Z', 2)).toEqual(['2026-03-10T10:10:00.000Z', '2026-03-10T10:15:00.000Z']);
    // Minutes 10, 11, 12 and 30 of hours 9 to 10.
    expect(occurrences('0 10-12,30 9-10 * * *', '2026-03-10T09:11:30Z', 6)).toEqual([
      '2026-03-10T09:12:00.000Z',
      '2026-03-10T09:30:00.000Z',
      '2026-03-10T10:10:00.000Z',
      '2026-03-10T10:11:00.000Z',
      '2026-03-10T10:12:00.000Z',
      '2026-03-10T10:30:00.000Z',
    ]);
    // A range with a step, and a single value with a step (from there to the end of the range).
    expect(occurrences('0 0 8-18/4 * * *', '2026-03-10T00:00:00Z', 4)).toEqual(['2026-03-10T08:00:00.000Z', '2026-03-10T12:00:00.000Z', '2026-03-10T16:00:00.000Z', '2026-03-11T08:00:00.000Z']);
    expect(occurrences('45/5 0 0 * * *', '2026-03-10T00:00:00Z', 3)).toEqual(['2026-03-10T00:00:45.000Z', '2026-03-10T00:00:50.000Z', '2026-03-10T00:00:55.000Z']);
    expect(occurrences('45/5 0 0 * * *', '2026-03-10T00:00:55Z', 1)).toEqual(['2026-03-11T00:00:45.000Z']);
  });

  it('resets the smaller fields when a larger one moves on', () => {
    // 09:30:15 daily: from 09:45 the next one is tomorrow, not "10:30:15" or "09:30:15 + 1 minute".
    expect(occurrences('15 30 9 * * *', '2026-03-10T09:45:00Z', 2)).toEqual(['2026-03-11T09:30:15.000Z', '2026-03-12T09:30:15.000Z']);
    expect(occurrences('0 0 0 * * *', '2026-03-10T00:00:00Z', 1)).toEqual(['2026-03-11T00:00:00.000Z']);
  });

  it('accepts month and day names, case-insensitive', () => {
    expect(occurrences('0 0 12 * * MON-fri', '2026-03-06T13:00:00Z', 3)).toEqual(['2026-03-09T12:00:00.000Z', '2026-03-10T12:00:00.000Z', '2026-03-11T12:00:00.000Z']);
    expect(occurrences('0 0 0 1 jan,JUL *', '2026-03-10T00:00:00Z', 2)).toEqual(['2026-07-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('day of week: 0 is Sunday; with a day of month both must match', () => {
    // 2026-03-10 is a Tuesday.
    expect(occurrences('0 0 9 * * 0', '2026-03-10T00:00:00Z', 2)).toEqual(['2026-03-15T09:00:00.000Z', '2026-03-22T09:00:00.000Z']);
    expect(occurrences('0 30 9 * * 1-5', '2026-03-13T10:00:00Z', 2)).toEqual(['2026-03-16T09:30:00.000Z', '2026-03-17T09:30:00.000Z']);
    // Friday the 13th (NCRONTAB requires both fields, unlike Vixie cron's "either").
    expect(occurrences('0 0 0 13 * 5', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-02-13T00:00:00.000Z', '2026-03-13T00:00:00.000Z']);
  });

  it('rolls over months of different lengths and the year end', () => {
    // The 31st: skips the months without one.
    expect(occurrences('0 0 0 31 * *', '2026-01-31T00:00:00Z', 3)).toEqual(['2026-03-31T00:00:00.000Z', '2026-05-31T00:00:00.000Z', '2026-07-31T00:00:00.000Z']);
    expect(occurrences('0 0 0 1 * *', '2026-12-15T00:00:00Z', 2)).toEqual(['2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z']);
    expect(occurrences('59 59 23 31 12 *', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-12-31T23:59:59.000Z']);
    // A last-day-of-month hour in a month that must be skipped does not leak into the next month.
    expect(occurrences('0 0 23 30 * *', '2026-01-30T23:00:00Z', 2)).toEqual(['2026-03-30T23:00:00.000Z', '2026-04-30T23:00:00.000Z']);
  });

  it('finds the leap day, years away', () => {
    expect(occurrences('0 0 0 29 2 *', '2025-01-01T00:00:00Z', 2)).toEqual(['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']);
    // 2100 is not a leap year.
    expect(occurrences('0 0 0 29 feb *', '2096-03-01T00:00:00Z', 1)).toEqual(['2104-02-29T00:00:00.000Z']);
  });

  it('tolerates surrounding and repeated whitespace', () => {
    expect(occurrences('  0   */15 *  * * *  ', '2026-03-10T10:01:00Z', 1)).toEqual(['2026-03-10T10:15:00.000Z']);
  });

  it('is always strictly after and on a whole second, for arbitrary start times', () => {
    const schedule = parseSchedule('*/7 */3 * * * *');
    let t = at('2026-03-10T10:00:00.123Z');
    for (let i = 0; i < 200; i++) {
      const next = schedule.next(t);
      expect(next.getTime()).toBeGreaterThan(t.getTime());
      expect(next.getUTCMilliseconds()).toBe(0);
      expect(next.getUTCSeconds() % 7).toBe(0);
      expect(next.getUTCMinutes() % 3).toBe(0);
      t = new Date(next.getTime() + 1);
    }
  });
});

describe('parseSchedule: TimeSpan intervals', () => {
  it('hh:mm:ss means every interval after the given time', () => {
    expect(occurrences('00:00:05', '2026-03-10T10:00:00.250Z', 2)).toEqual(['2026-03-10T10:00:05.250Z', '2026-03-10T10:00:10.250Z']);
    expect(occurrences('01:30:00', '2026-03-10T23:00:00Z', 1)).toEqual(['2026-03-11T00:30:00.000Z']);
    expect(occurrences(' 24:00:00 ', '2026-03-10T00:00:00Z', 1)).toEqual(['2026-03-11T00:00:00.000Z']);
  });

  it('refuses a zero interval', () => {
    expect(() => parseSchedule('00:00:00')).toThrow(ScheduleError);
  });
});

describe('parseSchedule: errors', () => {
  it.each([
    ['five fields', '0 * * * *'],
    ['seven fields', '0 0 * * * * *'],
    ['empty', ''],
    ['second out of range', '60 * * * * *'],
    ['minute out of range', '0 60 * * * *'],
    ['hour out of range', '0 0 24 * * *'],
    ['day 0', '0 0 0 0 * *'],
    ['day 32', '0 0 0 32 * *'],
    ['month 13', '0 0 0 1 13 *'],
    ['day of week 7', '0 0 0 * * 7'],
    ['unknown name', '0 0 0 * * funday'],
    ['a month name as a weekday', '0 0 0 * * jan'],
    ['negative', '0 -1 * * * *'],
    ['a fraction', '0 1.5 * * * *'],
    ['a backwards range', '0 30-10 * * * *'],
    ['a zero step', '*/0 * * * * *'],
    ['a negative step', '*/-2 * * * * *'],
    ['a step that is not a number', '*/x * * * * *'],
    ['an empty list item', '0 1,,2 * * * *'],
    ['a range missing its start', '0 -5 * * * *'],
    ['a range missing its end', '0 5- * * * *'],
    ['hexadecimal', '0 0x1f * * * *'],
    ['exponent notation', '0 1e1 * * * *'],
    ['a range with three ends', '0 1-2-3 * * * *'],
    ['two steps', '0/5/7 * * * * *'],
    ['a step in exponent notation', '*/1e1 * * * * *'],
    ['garbage', 'every five minutes please'],
  ])('refuses %s', (_label, expression) => {
    expect(() => parseSchedule(expression)).toThrow(ScheduleError);
  });

  it('names the field it could not read', () => {
    expect(() => parseSchedule('0 0 25 * * *')).toThrow(/hour "25" is not in 0-23/);
  });

  it('reports a schedule that can never occur when asked for the next time', () => {
    const never = parseSchedule('0 0 0 30 2 *');
    expect(() => never.next(at('2026-01-01T00:00:00Z'))).toThrow(/never occurs/);
  });
});
