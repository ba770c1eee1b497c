/**
 * What the job pipeline tells the gate after an attempt on an OpenAI-compatible provider (its limits,
 * a spent limit's reset, a 429's wait), and the gates a job of a queue with several providers tries.
 */
import { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { parseSettle } from '../../../src/lib/gate/operations.js';
import { PipelineInputError, parseRunJobInput, runJobInputFor, settleReportFor, spilloverInputFor } from '../../../src/lib/jobs/pipeline.js';
import { AttemptOutcome } from '../../../src/lib/jobs/retryPolicy.js';
import { ProviderRateLimits } from '../../../src/lib/model/outcome.js';
import { classifyProviderError } from '../../../src/lib/model/providers.js';
import { appSettings } from '../../../src/lib/settings.js';

const usage = { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 };
const limits = (fields: Partial<ProviderRateLimits>): ProviderRateLimits => ({
  limitRequests: null,
  limitTokens: null,
  remainingRequests: null,
  remainingTokens: null,
  resetRequestsMs: null,
  resetTokensMs: null,
  ...fields,
});
const completed = (withLimits?: ProviderRateLimits): AttemptOutcome => ({
  kind: 'completed',
  completion: { id: 'c' },
  usage,
  utilization: null,
  headers: { remainingTokens: withLimits?.remainingTokens ?? null, remainingRequests: withLimits?.remainingRequests ?? null },
  ...(withLimits ? { limits: withLimits } : {}),
});

describe('settleReportFor: what the provider said reaches its gate', () => {
  it('an answer without limits (every Azure call) is reported exactly as before', () => {
    expect(settleReportFor(100, 5, completed())).toEqual({ charged: 100, startAt: 5, usedTokens: 15 });
  });

  it('a missed slot says its call was never sent, which the entity accepts; anything but a boolean is refused', () => {
    const report = settleReportFor(100, 5, { kind: 'missed' });
    expect(report).toEqual({ charged: 100, startAt: 5, notSent: true });
    expect(parseSettle(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(() => parseSettle({ charged: 100, notSent: 'yes' })).toThrow('notSent must be true or false');
  });

  it('carries a PTU header with the time its answer came, which the entity accepts; a bad time is refused', () => {
    const answer = completed() as Extract<AttemptOutcome, { kind: 'completed' }>;
    const ptu: AttemptOutcome = { ...answer, utilization: 0.62, utilizationAt: 1_700_000_000_123 };
    const report = settleReportFor(100, 5, ptu);
    expect(report).toEqual({ charged: 100, startAt: 5, usedTokens: 15, utilization: 0.62, utilizationAt: 1_700_000_000_123 });
    expect(parseSettle(JSON.parse(JSON.stringify(report)))).toEqual(report);
    // Without a time the header is taken as of the settle; without a header no time is sent.
    expect(settleReportFor(100, 5, { ...answer, utilization: 0.62 })).not.toHaveProperty('utilizationAt');
    expect(settleReportFor(100, 5, { ...answer, utilizationAt: 1 })).not.toHaveProperty('utilizationAt');
    expect(() => parseSettle({ charged: 100, utilization: 0.5, utilizationAt: -1 })).toThrow('utilizationAt');
    expect(() => parseSettle({ charged: 100, utilization: 0.5, utilizationAt: 'now' })).toThrow('utilizationAt');
  });

  it('carries when an answered call went out, which the entity accepts with its slot; a contradicting or bad time is refused', () => {
    const answer = completed() as Extract<AttemptOutcome, { kind: 'completed' }>;
    const report = settleReportFor(100, 5, { ...answer, sentAt: 7 });
    expect(report).toEqual({ charged: 100, startAt: 5, usedTokens: 15, sentAt: 7 });
    expect(parseSettle(JSON.parse(JSON.stringify(report)))).toEqual(report);
    const throttled: AttemptOutcome = { kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 1_000, utilization: null, sentAt: 6, error: { status: 429, code: '429', message: 'slow down' } };
    expect(settleReportFor(100, 5, throttled)).toEqual({ charged: 100, startAt: 5, throttled: { kind: 'rate_limit', retryAfterMs: 1_000 }, sentAt: 6 });
    expect(settleReportFor(100, 5, completed())).not.toHaveProperty('sentAt');
    expect(() => parseSettle({ charged: 100, sentAt: 7 })).toThrow('sentAt needs startAt');
    expect(() => parseSettle({ charged: 100, startAt: 5, sentAt: 4 })).toThrow('sentAt must be epoch milliseconds, no earlier than startAt (5)');
    expect(() => parseSettle({ charged: 100, startAt: 5, sentAt: 'soon' })).toThrow('sentAt');
    expect(() => parseSettle({ charged: 100, startAt: 5, notSent: true, sentAt: 6 })).toThrow('contradict');
  });

  it("carries the prompt's part of the charge with what a completed call used, and nowhere else", () => {
    const report = settleReportFor(100, 5, completed(), undefined, 40);
    expect(report).toEqual({ charged: 100, startAt: 5, usedTokens: 15, promptTokens: 40 });
    expect(parseSettle(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(settleReportFor(100, 5, { kind: 'missed' }, undefined, 40)).toEqual({ charged: 100, startAt: 5, notSent: true });
    expect(() => parseSettle({ charged: 100, usedTokens: 15, promptTokens: 101 })).toThrow('promptTokens');
  });

  it("carries the provider's per-minute limits, leaving out one it did not send (or sent as 0)", () => {
    const report = settleReportFor(100, 5, completed(limits({ limitTokens: 150_000, limitRequests: 600, remainingTokens: 149_000, remainingRequests: 599, resetTokensMs: 400, resetRequestsMs: 100 })));
    expect(report).toEqual({ charged: 100, startAt: 5, usedTokens: 15, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } });
    expect(settleReportFor(100, 5, completed(limits({ limitTokens: 0, limitRequests: 600 })))).toMatchObject({ providerLimits: { requestsPerMinute: 600 } });
    expect(settleReportFor(100, 5, completed(limits({ remainingTokens: 10 })))).not.toHaveProperty('providerLimits');
    // What the entity will accept.
    expect(parseSettle(JSON.parse(JSON.stringify(report)))).toEqual(report);
  });

  it('a call that left a limit spent pauses the gate until that reset (the longer when both are spent); none without a reset', () => {
    expect(settleReportFor(100, 5, completed(limits({ remainingTokens: 0, resetTokensMs: 20_000, remainingRequests: 3, resetRequestsMs: 90_000 })))).toMatchObject({ exhaustedForMs: 20_000 });
    expect(settleReportFor(100, 5, completed(limits({ remainingTokens: 0, resetTokensMs: 20_000, remainingRequests: 0, resetRequestsMs: 90_000 })))).toMatchObject({ exhaustedForMs: 90_000 });
    expect(settleReportFor(100, 5, completed(limits({ remainingTokens: 0 })))).not.toHaveProperty('exhaustedForMs');
    expect(settleReportFor(100, 5, completed(limits({ remainingTokens: 1, resetTokensMs: 20_000 })))).not.toHaveProperty('exhaustedForMs');
  });

  it("a provider's 429 pauses its gate for the retry-after, else the spent limit's reset, with its limits", () => {
    // The SDK's own error for a 429, as the client throws it.
    const rateLimited = (h: Record<string, string>) =>
      classifyProviderError(APIError.generate(429, { error: { code: 'rate_limit_exceeded', message: 'Rate limit reached' } }, undefined, new Headers(h)));
    const byReset = rateLimited({ 'x-ratelimit-limit-tokens': '40000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' });
    expect(byReset).toMatchObject({ kind: 'throttled', retryAfterMs: 360_000 });
    expect(settleReportFor(100, 5, byReset)).toEqual({ charged: 100, startAt: 5, throttled: { kind: 'rate_limit', retryAfterMs: 360_000 }, providerLimits: { tokensPerMinute: 40_000 } });
    const byRetryAfter = rateLimited({ 'retry-after': '3', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' });
    expect(settleReportFor(100, 5, byRetryAfter)).toMatchObject({ throttled: { retryAfterMs: 3_000 } });
  });
});

describe('the gates a job tries', () => {
  const message = { jobId: 'j', deployment: 'api.openai.com/gpt-4o-mini', charge: 10, priority: 'batch' as const };
  const policy = { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 };

  it("a queue's providers, in order and each gate once, with the deployments' spillover wait", () => {
    expect(spilloverInputFor(['a.example/m', 'gpt-4o-eu', 'a.example/m', 'b.example/m'])).toEqual({
      deployments: ['a.example/m', 'gpt-4o-eu', 'b.example/m'],
      spilloverWaitMs: appSettings().spilloverWaitMs,
    });
    expect(spilloverInputFor(['a.example/m', 'a.example/m'])).toEqual({});
    const input = runJobInputFor(message, policy, undefined, ['api.openai.com/gpt-4o-mini', 'llm.example.com/llama']);
    expect(input).toMatchObject({ deployment: 'api.openai.com/gpt-4o-mini', deployments: ['api.openai.com/gpt-4o-mini', 'llm.example.com/llama'] });
  });

  it('a job without a provider list has no choice, as before', () => {
    expect(runJobInputFor(message, policy)).toEqual({ ...message, policy, wakeLeadMs: appSettings().wakeLeadMs });
  });
});

describe("the prompt's part of the charge in a job's input", () => {
  const policy = { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 };
  const started = { jobId: 'job-p', deployment: 'gpt-4o', charge: 100, priority: 'batch', policy };

  it('is carried when known and left out when not; an input without it is valid', () => {
    expect(runJobInputFor({ jobId: 'job-p', deployment: 'gpt-4o', charge: 100, priority: 'batch', promptTokens: 30 }, policy).promptTokens).toBe(30);
    expect(runJobInputFor({ jobId: 'job-p', deployment: 'gpt-4o', charge: 100, priority: 'batch' }, policy)).not.toHaveProperty('promptTokens');
    expect(parseRunJobInput(started)).toEqual(started);
    expect(parseRunJobInput({ ...started, promptTokens: 0 }).promptTokens).toBe(0);
    expect(parseRunJobInput({ ...started, promptTokens: 100 }).promptTokens).toBe(100);
  });

  it('is refused when it is not a whole number of tokens within the charge', () => {
    for (const bad of [-1, 101, 2.5, '30', Number.NaN]) {
      expect(() => parseRunJobInput({ ...started, promptTokens: bad })).toThrow(/promptTokens/);
    }
  });
});

describe('the wake lead in a job\'s input', () => {
  const policy = { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 };
  const started = { jobId: 'job-w', deployment: 'gpt-4o', charge: 100, priority: 'batch', policy };

  it('is fixed into the input when the job starts, from GATE_WAKE_LEAD_MS', () => {
    expect(appSettings().wakeLeadMs).toBe(1_000);
    expect(runJobInputFor({ jobId: 'job-w', deployment: 'gpt-4o', charge: 100, priority: 'batch' }, policy).wakeLeadMs).toBe(1_000);
  });

  it('an input from before the setting (no wakeLeadMs) is still valid; 0 is valid; a negative or non-number lead is not', () => {
    expect(parseRunJobInput(started)).toEqual(started);
    expect(parseRunJobInput(started).wakeLeadMs).toBeUndefined();
    expect(parseRunJobInput({ ...started, wakeLeadMs: 0 }).wakeLeadMs).toBe(0);
    expect(parseRunJobInput({ ...started, wakeLeadMs: 250 }).wakeLeadMs).toBe(250);
    for (const bad of [-1, '1000', Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => parseRunJobInput({ ...started, wakeLeadMs: bad })).toThrow(PipelineInputError);
      expect(() => parseRunJobInput({ ...started, wakeLeadMs: bad })).toThrow(/wakeLeadMs/);
    }
  });
});
