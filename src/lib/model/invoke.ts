/**
 * One chat completion call, exactly one HTTP request (the client has `maxRetries: 0`), turned into a
 * plain-JSON `CallOutcome`, or `missed` when it had a send-by moment and could not go out by then. It
 * never throws: every failure is classified.
 */
import { AzureOpenAI } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { ChatCompletionRequest, Usage } from '../jobs/job.js';
import { AttemptOutcome } from '../jobs/retryPolicy.js';
import { classifyError } from './classify.js';
import {
  CallOutcome,
  HeaderSource,
  parseCount,
  REMAINING_REQUESTS_HEADER,
  REMAINING_TOKENS_HEADER,
  utilizationFrom,
  withSentAt,
} from './outcome.js';
import { sendingBy } from './sendByGuard.js';
import { slotMissedIn } from './slotMissedError.js';

/** Per call: `clientRequestId` goes out as `x-ms-client-request-id`, Azure's own tracing header (job and attempt). */
export interface CallOptions {
  readonly clientRequestId?: string;
  /**
   * The granted slot's send-by moment (epoch ms): checked by the client's fetch right before the request
   * goes out (see sendByGuard.ts); later, nothing is sent and the outcome is `missed`. Absent: no bound.
   */
  readonly sendBy?: number;
}

/** Without `sendBy` the call is never `missed`. */
export function callChatCompletion(client: AzureOpenAI, request: ChatCompletionRequest, options?: CallOptions & { readonly sendBy?: undefined }): Promise<CallOutcome>;
export function callChatCompletion(client: AzureOpenAI, request: ChatCompletionRequest, options?: CallOptions): Promise<AttemptOutcome>;
export async function callChatCompletion(client: AzureOpenAI, request: ChatCompletionRequest, options: CallOptions = {}): Promise<AttemptOutcome> {
  // The request passes through untouched (fields the SDK does not type included); only streaming is
  // forced off, because the outcome must hold the whole completion and its usage.
  const params = { ...request, stream: false } as unknown as ChatCompletionCreateParamsNonStreaming;
  const headers = options.clientRequestId ? { 'x-ms-client-request-id': options.clientRequestId } : undefined;
  const { sending, result } = sendingBy(options.sendBy, () => client.chat.completions.create(params, headers ? { headers } : undefined).withResponse());
  try {
    const { data, response } = await result;
    return withSentAt(completedOutcome(data, response.headers), sending.sentAt);
  } catch (error) {
    // The guard's refusal arrives wrapped by the SDK (a connection error); it is no failure of the endpoint.
    if (slotMissedIn(error) !== undefined) return { kind: 'missed' };
    return withSentAt(classifyError(error), sending.sentAt);
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
