/**
 * The one chat completion request a synchronous route carries, validated exactly as the producer
 * validates each of its items (submission.ts): one object with `messages` (or the `{ prompt,
 * system_prompt? }` shorthand), nothing else. Arrays, envelopes and Batch API lines belong to
 * `POST /api/producer`.
 */
import { SubmissionError, SubmissionLimits, SubmittedItem, parseSubmission } from '../jobs/submission.js';

export function parseSyncRequest(body: string | Buffer, limits: SubmissionLimits): SubmittedItem {
  const submission = parseSubmission(body, 'application/json', limits);
  // parseSubmission has accepted the body as JSON, so this parse cannot fail.
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const value: unknown = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  const single = typeof value === 'object' && value !== null && !Array.isArray(value) && !('requests' in value) && ('messages' in value || 'prompt' in value);
  if (!single || submission.items.length !== 1) {
    throw new SubmissionError([
      { item: null, field: '', message: 'expected one chat completion request { messages, ... }; send arrays, envelopes and Batch API lines to POST /api/producer' },
    ]);
  }
  return submission.items[0]!;
}

/** `GET /api/completion?query=...&system=...&max_tokens=...` as the request it stands for. */
export function completionQueryRequest(query: string | null, system: string | null, maxTokens: string | null, limits: SubmissionLimits): SubmittedItem {
  if (query === null || query.trim() === '') {
    throw new SubmissionError([{ item: null, field: 'query', message: 'is required: the question to answer (?query=...)' }]);
  }
  const request: Record<string, unknown> = { prompt: query };
  if (system !== null && system !== '') request['system_prompt'] = system;
  if (maxTokens !== null && maxTokens !== '') {
    // Plain decimals only; anything else is passed on as a string so the validation names it.
    request['max_tokens'] = /^\d+$/.test(maxTokens.trim()) ? Number(maxTokens.trim()) : maxTokens;
  }
  return parseSyncRequest(JSON.stringify(request), limits);
}
