import { describe, expect, it } from 'vitest';
import { Admission } from '../../bench/figures.js';
import { gateSchedule, inOrderSchedule, largestFitSchedule, shuffled, steadyShareOf } from '../../bench/packing.js';
import { LATENCY, MODEL } from '../../bench/deployment.js';
import { Scenario, SCENARIOS } from '../../bench/scenarios.js';
import { BenchRequest, workloadFor } from '../../bench/workload.js';
import { gateConfigFrom, minIntervalOf } from '../../src/lib/gate/config.js';
import { busiestWindow } from '../../src/local/busiestWindow.js';
import { estimateRequest } from '../../src/local/simulator/rules.js';

const scenario: Scenario = { ...SCENARIOS.find((s) => s.id === 'a')!, tokensPerWindow: 6_000, windowMs: 6_000, jobs: 40, seed: 3 };
const requests = workloadFor(scenario).map((job) => job.request);
const charge = (request: BenchRequest) => estimateRequest(request, MODEL).estimate;
const config = gateConfigFrom({
  mode: 'standard',
  tokensPerMinute: scenario.tokensPerWindow,
  requestsPerMinute: 36,
  windowMs: scenario.windowMs,
  horizonMs: 2 * scenario.windowMs,
  ptuMaxUtilization: 0.7,
  interactiveReserve: 0,
  startToleranceMs: 25,
});

function smallestGap(admissions: readonly Admission[]): number {
  const times = admissions.map((a) => a.at).sort((x, y) => x - y);
  return Math.min(...times.slice(1).map((t, i) => t - times[i]!));
}

const totalCharge = requests.reduce((sum, request) => sum + charge(request), 0);

describe('packing study schedulers', () => {
  it('the workload spans several windows, so each schedule has a steady state', () => {
    expect(totalCharge).toBeGreaterThan(3 * scenario.tokensPerWindow);
  });

  it('gate: every job admitted once, no 429, no window over quota, starts at least the pace apart', () => {
    const schedule = gateSchedule(scenario, requests, config, LATENCY);
    expect(schedule.throttled).toBe(0);
    expect(schedule.admissions).toHaveLength(requests.length);
    expect(schedule.admissions.reduce((sum, a) => sum + a.tokens, 0)).toBe(totalCharge);
    expect(busiestWindow(schedule.admissions, scenario.windowMs)).toBeLessThanOrEqual(scenario.tokensPerWindow);
    expect(smallestGap(schedule.admissions)).toBeGreaterThanOrEqual(minIntervalOf(config));
    expect(steadyShareOf(schedule, scenario)).toBeGreaterThan(0.8);
  });

  it('in order: admits in the given order, the first window at once, never over quota', () => {
    const schedule = inOrderSchedule(scenario, requests);
    expect(schedule.admissions.map((a) => a.tokens)).toEqual(requests.map(charge));
    expect(schedule.admissions[0]!.at).toBe(0);
    expect(busiestWindow(schedule.admissions, scenario.windowMs)).toBeLessThanOrEqual(scenario.tokensPerWindow);
  });

  it('largest fit: starts the largest job that fits, keeps the pace, never over quota', () => {
    const paced = largestFitSchedule(scenario, requests, 100);
    const charges = requests.map(charge).sort((x, y) => y - x);
    expect(paced.admissions[0]).toEqual({ at: 0, tokens: charges[0] });
    expect(paced.admissions[1]).toEqual({ at: 100, tokens: charges[1] });
    expect(paced.admissions).toHaveLength(requests.length);
    expect(smallestGap(paced.admissions)).toBeGreaterThanOrEqual(100);
    expect(busiestWindow(paced.admissions, scenario.windowMs)).toBeLessThanOrEqual(scenario.tokensPerWindow);
    // Unpaced, the first window fills at time 0 with the largest jobs, up to the request window's count.
    const unpaced = largestFitSchedule(scenario, requests, 0);
    const atZero = unpaced.admissions.filter((a) => a.at === 0);
    expect(atZero.map((a) => a.tokens)).toEqual([...atZero.map((a) => a.tokens)].sort((x, y) => y - x));
    expect(atZero.length).toBeLessThanOrEqual(Math.floor(36 / 6));
    expect(busiestWindow(unpaced.admissions, scenario.windowMs)).toBeLessThanOrEqual(scenario.tokensPerWindow);
  });

  it('shuffled: seed 0 keeps the order; other seeds permute, the same way every time', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(shuffled(items, 0)).toEqual(items);
    const once = shuffled(items, 5);
    expect(once).not.toEqual(items);
    expect([...once].sort((x, y) => x - y)).toEqual(items);
    expect(shuffled(items, 5)).toEqual(once);
  });
});
