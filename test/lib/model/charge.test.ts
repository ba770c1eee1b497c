import { describe, expect, it } from 'vitest';
import {
  ChargeableRequest,
  chargeFor,
  completionBudget,
  completionCharge,
  promptPartOf,
  MissingCompletionBudgetError,
  withExplicitMaxTokens,
} from '../../../src/lib/model/charge.js';
import { countPromptTokens, PromptMessage } from '../../../src/lib/model/tokenizer.js';

const MODEL = 'gpt-4o';
const messages: readonly PromptMessage[] = [
  { role: 'system', content: 'You answer in one short sentence.' },
  { role: 'user', content: 'Why is the sky blue?' },
];
const prompt = countPromptTokens({ messages }, MODEL);

describe('chargeFor: prompt + budget × max(n, best_of)', () => {
  it('charges the prompt plus max_tokens for one choice', () => {
    expect(prompt).toBeGreaterThan(10);
    expect(chargeFor({ messages, max_tokens: 500 }, MODEL)).toBe(prompt + 500);
  });

  it('multiplies the budget by n, by best_of, and by the larger of the two', () => {
    expect(chargeFor({ messages, max_tokens: 200, n: 3 }, MODEL)).toBe(prompt + 600);
    expect(chargeFor({ messages, max_tokens: 200, best_of: 4 }, MODEL)).toBe(prompt + 800);
    expect(chargeFor({ messages, max_tokens: 200, n: 2, best_of: 5 }, MODEL)).toBe(prompt + 1000);
    expect(chargeFor({ messages, max_tokens: 200, n: 5, best_of: 2 }, MODEL)).toBe(prompt + 1000);
  });

  it('never charges fewer than one choice (n of 0 or null)', () => {
    expect(chargeFor({ messages, max_tokens: 200, n: null, best_of: null }, MODEL)).toBe(prompt + 200);
    expect(chargeFor({ messages, max_tokens: 200, n: 0 }, MODEL)).toBe(prompt + 200);
  });

  it('treats max_completion_tokens like max_tokens', () => {
    expect(chargeFor({ messages, max_completion_tokens: 700 }, MODEL)).toBe(chargeFor({ messages, max_tokens: 700 }, MODEL));
    expect(chargeFor({ messages, max_completion_tokens: 700, n: 2 }, MODEL)).toBe(prompt + 1400);
    expect(completionBudget({ messages, max_completion_tokens: 700 })).toBe(700);
    // When both are present max_completion_tokens is the budget.
    expect(completionBudget({ messages, max_tokens: 100, max_completion_tokens: 300 })).toBe(300);
    expect(completionBudget({ messages, max_tokens: 100, max_completion_tokens: null })).toBe(100);
    expect(completionBudget({ messages })).toBeUndefined();
  });

  it('counts the prompt with the model\'s own tokenizer', () => {
    const request: ChargeableRequest = { messages, max_tokens: 50 };
    expect(chargeFor(request, 'gpt-4')).toBe(countPromptTokens(request, 'gpt-4') + 50);
    expect(chargeFor(request, 'gpt-4o')).toBe(countPromptTokens(request, 'gpt-4o') + 50);
  });

  it('is never below what Azure charged for 100 prompt tokens and max_tokens 2000 (about 2,061)', () => {
    // A prompt of about 100 tokens: framing plus repeated words.
    const long: PromptMessage[] = [{ role: 'user', content: Array.from({ length: 92 }, () => 'word').join(' ') }];
    const promptTokens = countPromptTokens({ messages: long }, MODEL);
    expect(promptTokens).toBeGreaterThanOrEqual(95);
    expect(promptTokens).toBeLessThanOrEqual(105);
    const charge = chargeFor({ messages: long, max_tokens: 2000 }, MODEL);
    expect(charge).toBe(promptTokens + 2000);
    expect(charge).toBeGreaterThanOrEqual(2061);
  });

  it('throws MissingCompletionBudgetError when no budget is set', () => {
    expect(() => chargeFor({ messages }, MODEL)).toThrow(MissingCompletionBudgetError);
    expect(() => chargeFor({ messages, max_tokens: null, max_completion_tokens: null }, MODEL)).toThrow(MissingCompletionBudgetError);
    expect(() => chargeFor({ messages, n: 3 }, MODEL)).toThrow(/max_tokens/);
  });
});

describe('withExplicitMaxTokens', () => {
  it('adds the default max_tokens only when neither budget is set, without mutating the input', () => {
    const request = { messages, temperature: 0.2 };
    const snapshot = JSON.stringify(request);
    const sent = withExplicitMaxTokens(request, 1024);
    expect(sent).toEqual({ messages, temperature: 0.2, max_tokens: 1024 });
    expect(sent).not.toBe(request);
    expect(JSON.stringify(request)).toBe(snapshot);
    expect('max_tokens' in request).toBe(false);
    expect(chargeFor(sent, MODEL)).toBe(prompt + 1024);
  });

  it('replaces a null budget with the default', () => {
    const sent = withExplicitMaxTokens({ messages, max_tokens: null }, 256);
    expect(sent.max_tokens).toBe(256);
  });

  it('keeps a request that already has max_tokens or max_completion_tokens as it is', () => {
    const withMax: ChargeableRequest = { messages, max_tokens: 64 };
    expect(withExplicitMaxTokens(withMax, 1024)).toBe(withMax);
    expect(withExplicitMaxTokens(withMax, 1024).max_tokens).toBe(64);

    const withCompletion: ChargeableRequest = { messages, max_completion_tokens: 128 };
    const kept = withExplicitMaxTokens(withCompletion, 1024);
    expect(kept).toBe(withCompletion);
    expect(kept.max_tokens).toBeUndefined();
    expect(chargeFor(kept, MODEL)).toBe(prompt + 128);
  });
});

describe("promptPartOf: the prompt's part of a charge, without counting the prompt again", () => {
  it('is the charge less the completion budget for every choice', () => {
    const request = { messages, max_tokens: 200, n: 2 };
    expect(completionCharge(request)).toBe(400);
    expect(promptPartOf(chargeFor(request, MODEL), request)).toBe(prompt);
  });

  it('is undefined for a charge too small to hold the budget, or a request without one', () => {
    expect(promptPartOf(399, { messages, max_tokens: 200, n: 2 })).toBeUndefined();
    expect(promptPartOf(1_000, { messages })).toBeUndefined();
  });
});
