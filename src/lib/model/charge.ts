/**
 * What Azure OpenAI charges a chat completion at admission: the prompt's tokens plus the completion
 * budget (`max_tokens`, or `max_completion_tokens`) for every choice (max of `n` and `best_of`).
 * Azure picks its own budget when none is sent (and it differs by model), so every request gets an
 * explicit one before it is charged or sent.
 */
import { countPromptTokens, PromptInput } from './tokenizer.js';

export interface ChargeableRequest extends PromptInput {
  readonly max_tokens?: number | null;
  readonly max_completion_tokens?: number | null;
  readonly n?: number | null;
  readonly best_of?: number | null;
}

export function completionBudget(request: ChargeableRequest): number | undefined {
  return request.max_completion_tokens ?? request.max_tokens ?? undefined;
}

/** The request as it will be sent: with `max_tokens` set when it set no completion budget. */
export function withExplicitMaxTokens<T extends ChargeableRequest>(request: T, defaultMaxTokens: number): T {
  return completionBudget(request) === undefined ? { ...request, max_tokens: defaultMaxTokens } : request;
}

export class MissingCompletionBudgetError extends Error {
  override readonly name = 'MissingCompletionBudgetError';
  constructor() {
    super('request has neither max_tokens nor max_completion_tokens: give it one with withExplicitMaxTokens before charging');
  }
}

export function chargeFor(request: ChargeableRequest, model: string): number {
  return countPromptTokens(request, model) + completionCharge(request);
}

/** The completion part of the charge: the budget for every choice. */
export function completionCharge(request: ChargeableRequest): number {
  const budget = completionBudget(request);
  if (budget === undefined) throw new MissingCompletionBudgetError();
  return budget * Math.max(request.n ?? 1, request.best_of ?? 1, 1);
}

/**
 * The prompt part of a charge worked out by chargeFor, without counting the prompt again; undefined
 * when the charge cannot hold the request's completion budget (a charge from elsewhere).
 */
export function promptPartOf(charge: number, request: ChargeableRequest): number | undefined {
  const budget = completionBudget(request);
  if (budget === undefined) return undefined;
  const prompt = charge - completionCharge(request);
  return prompt >= 0 ? prompt : undefined;
}
