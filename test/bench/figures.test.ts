import { describe, expect, it } from 'vitest';
import { integrity, interactiveWaits, meanWindowShare, percentile, steadyInterval, throttleCauses, utilizationFigures } from '../../bench/figures.js';
import { idealDrain } from '../../bench/ideal.js';
import { CookbookCapacity } from '../../bench/peers/cookbookCapacity.js';
import { numTokensConsumedFromRequest } from '../../bench/peers/cookbook.js';
import { Scenario } from '../../bench/scenarios.js';

const W = 1000;

describe('cookbook capacity (api_request_parallel_processor.py)', () => {
  it('starts full, refills in proportion to elapsed time and caps at one minute', () => {
    const capacity = new CookbookCapacity(60, 6000, W, 0);
    expect(capacity.tryTake(6000)).toBe(true);
    expect(capacity.tryTake(1)).toBe(false);
    capacity.update(250);
    expect(capacity.available().tokens).toBeCloseTo(1500);
    expect(capacity.available().requests).toBe(60); // 59 + 15, capped at one minute
    capacity.update(10_000);
    expect(capacity.available()).toEqual({ requests: 60, tokens: 6000 });
  });

  it('needs one whole request and the whole estimate', () => {
    const capacity = new CookbookCapacity(1, 100, W, 0);
    expect(capacity.tryTake(100)).toBe(true);
    capacity.update(500);
    expect(capacity.tryTake(50)).toBe(false); // 0.5 requests
    capacity.update(1000);
    expect(capacity.tryTake(50)).toBe(true);
  });

  it('counts chat tokens as the script does: 4 per message, every value, 2 for the reply, n × max_tokens', () => {
    const tokens = numTokensConsumedFromRequest({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 10, n: 2 }, 'gpt-4o');
    // 4 + "user" (1) + "hello" (1) + 2 + 20
    expect(tokens).toBe(28);
    expect(numTokensConsumedFromRequest({ messages: [{ role: 'user', content: 'hello' }] }, 'gpt-4o')).toBe(8 + 15);
  });
});

describe('figures', () => {
  it('mean window share: a full window kept full is 100%, half the time full is 50%', () => {
    const steady = [0, 1000, 2000, 3000].map((at) => ({ at, tokens: 100 }));
    expect(meanWindowShare(steady, 1000, 3000, W, 100)).toBeCloseTo(1);
    const gappy = [0, 2000, 4000].map((at) => ({ at, tokens: 100 }));
    expect(meanWindowShare(gappy, 0, 4000, W, 100)).toBeCloseTo(0.5);
    expect(meanWindowShare(steady, 5, 5, W, 100)).toBeNull();
  });

  it('steady interval leaves out the first and the last window', () => {
    const admissions = [0, 500, 4000].map((at) => ({ at, tokens: 1 }));
    expect(steadyInterval(admissions, W)).toEqual({ from: 1000, to: 3000 });
    expect(steadyInterval([{ at: 0, tokens: 1 }, { at: 2500, tokens: 1 }], W)).toBeNull();
  });

  it('percentile is nearest-rank and counts never-served requests last', () => {
    expect(percentile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, Infinity], 0.95)).toBe(Infinity);
    expect(percentile([], 0.95)).toBeNull();
  });

  it('lost and duplicated jobs', () => {
    const outcomes = [
      { tag: 'j0', ok: true, submittedAt: 0, doneAt: 5 },
      { tag: 'j1', ok: false, submittedAt: 0, doneAt: null },
    ];
    const call = (tag: string, status: number, at = 1) => ({ tag, at, answeredAt: at + 1, status, usedTokens: null });
    expect(integrity(outcomes, [call('j0', 200), call('j0', 200), call('j1', 429)])).toEqual({ lost: 1, duplicated: 1 });
  });

  it('interactive wait is arrival to the first admitted call; never served is infinite', () => {
    const outcomes = [
      { tag: 'i0', ok: true, submittedAt: 100, doneAt: 400 },
      { tag: 'i1', ok: false, submittedAt: 100, doneAt: null },
      { tag: 'j0', ok: true, submittedAt: 0, doneAt: 50 },
    ];
    const calls = [
      { tag: 'i0', at: 150, answeredAt: 151, status: 429, usedTokens: null },
      { tag: 'i0', at: 350, answeredAt: 390, status: 200, usedTokens: 10 },
    ];
    expect(interactiveWaits(outcomes, calls, (tag) => tag.startsWith('i'))).toEqual([250, Infinity]);
  });

  it('utilization: mean over the steady state, max over the run', () => {
    const samples = [[0, 0.9], [10, 0.6], [20, 0.8], [30, 0.1]] as const;
    expect(utilizationFigures(samples, 10, 20)).toEqual({ mean: 0.7, max: 0.9 });
  });

  it('attributes a 429 to the token window or the request window', () => {
    const admissions = [{ at: 0, tokens: 90 }];
    const calls = [
      { tag: 'a', at: 500, answeredAt: 501, status: 429, usedTokens: null },
      { tag: 'b', at: 500, answeredAt: 501, status: 429, usedTokens: null },
    ];
    expect(throttleCauses(calls, admissions, (tag) => (tag === 'a' ? 20 : 5), W, 100)).toEqual({ tokenWindow: 1, requestWindow: 1 });
  });
});

describe('ideal drain', () => {
  const scenario: Scenario = {
    id: 'a',
    title: 'test',
    mode: 'standard',
    tokensPerWindow: 1000,
    windowMs: W,
    jobs: 0,
    producers: 1,
    ptuThreshold: null,
    interactive: null,
    seed: 1,
  };
  const request = { messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 392 };

  it('packs a rolling window: the first window at once, then one quota per window', () => {
    // Each request is charged 400 (8 prompt + 392): two fit a window of 1000, the third waits a window.
    const ideal = idealDrain(scenario, [request, request, request, request, request], 'gpt-4o', { baseMs: 0, perTokenMs: 0 });
    expect(ideal.chargedTokens).toBe(2000);
    expect(ideal.lastAdmissionMs).toBe(2 * W);
  });

  it('provisioned: holds the bucket at the threshold by estimate, corrected to use', () => {
    const ptu = { ...scenario, mode: 'provisioned' as const, ptuThreshold: 0.8 };
    const ideal = idealDrain(ptu, [request, request, request], 'gpt-4o', { baseMs: 0, perTokenMs: 0 });
    // Two estimates (800) fill 80%; they settle at once to 8 + 79 = 87 each, so the third fits at once.
    expect(ideal.lastAdmissionMs).toBeLessThan(1);
    expect(ideal.usedTokens).toBe(3 * 87);
  });
});
