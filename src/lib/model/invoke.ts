/**
 * One chat completion call, exactly one HTTP request (the client has `maxRetries: 0`), turned into a
 * plain-JSON `CallOutcome`. It never throws: every failure is classified.
 */
import { AzureOpenAI } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { ChatCompletionRequest, Usage } from '../jobs/job.js';
import { classifyError } from './classify.js';
import {
  CallOutcome,
  HeaderSource,
  parseCount,
  REMAINING_REQUESTS_HEADER,
  REMAINING_TOKENS_HEADER,
  utilizationFrom,
} from './outcome.js';

/** Per call: `clientRequestId` goes out as `x-ms-client-request-id`, Azure's own tracing header (job and attempt). */
export interface CallOptions {
  readonly clientRequestId?: string;
}

export async function callChatCompletion(client: AzureOpenAI, request: ChatCompletionRequest, options: CallOptions = {}): Promise<CallOutcome> {
  try {
    // The request passes through untouched (fields the SDK does not type included); only streaming is
    // forced off, because the outcome must hold the whole completion and its usage.
    const params = { ...request, stream: false } as unknown as ChatCompletionCreateParamsNonStreaming;
    const headers = options.clientRequestId ? { 'x-ms-client-request-id': options.clientRequestId } : undefined;
    const { data, response } = await client.chat.completions.create(params, headers ? { headers } : undefined).withResponse();
    return completedOutcome(data, response.headers);
  } catch (error) {
    return classifyError(error);
  }
}

/** The `completed` outcome for a parsed 200 body and its response headers. */
export function completedOutcome(body: unknown, headers: HeaderSource): Extract<CallOutcome, { readonly kind: 'completed' }> {
  const completion = toPlainJson(body);
  return {
    kind: 'completed',
    completion,
    usage: usageOf(completion['usage']),
    utilization: utilizationFrom(headers),
    headers: {
      remainingTokens: parseCount(headers.get(REMAINING_TOKENS_HEADER)),
      remainingRequests: parseCount(headers.get(REMAINING_REQUESTS_HEADER)),
    },
  };
}

/** A JSON round trip: drops the SDK's non-enumerable extras, so the outcome survives durable replay. */
function toPlainJson(body: unknown): Record<string, unknown> {
  const plain: unknown = body === undefined ? {} : JSON.parse(JSON.stringify(body));
  return typeof plain === 'object' && plain !== null && !Array.isArray(plain) ? (plain as Record<string, unknown>) : {};
}

function usageOf(value: unknown): Usage | null {
  if (typeof value !== 'object' || value === null) return null;
  const usage = value as Record<string, unknown>;
  const prompt = usage['prompt_tokens'];
  const completion = usage['completion_tokens'];
  const total = usage['total_tokens'];
  if (!isCount(prompt) || !isCount(completion)) return null;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: isCount(total) ? total : prompt + completion,
  };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
