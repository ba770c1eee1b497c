/**
 * The model providers a named queue can route its jobs to, besides the app's own Azure OpenAI
 * deployment: another deployment on the same Azure OpenAI account, or any OpenAI-compatible
 * endpoint (OpenAI itself, or a service speaking its chat completions protocol) through the same
 * `openai` package.
 *
 * A provider's secret is never part of its configuration: an OpenAI-compatible provider names the
 * app setting that holds its API key (`apiKeySetting`), and the key is read from the environment at
 * call time (in Azure a Key Vault reference arrives as an app setting). So the key is neither stored
 * in the database nor returned by the API, and rotating it needs no change to any queue.
 */
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { ChatCompletionRequest } from '../jobs/job.js';
import { classifyError } from './classify.js';
import { completedOutcome } from './invoke.js';
import { AttemptOutcome } from '../jobs/retryPolicy.js';
import { FailedOutcome, HeaderSource, rateLimitsFrom, retryAfterFromLimits, withSentAt } from './outcome.js';
import { guardedFetch, sendingBy } from './sendByGuard.js';
import { slotMissedIn } from './slotMissedError.js';

export const PROVIDER_TYPES = ['azure_openai', 'openai_compatible'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** A deployment on the app's Azure OpenAI account (AZURE_OPENAI_ENDPOINT, same auth). */
export interface AzureOpenAIProvider {
  readonly type: 'azure_openai';
  readonly deployment: string;
  /** The model behind the deployment (picks the tokenizer); null: the deployment name. */
  readonly model: string | null;
}

/** Any endpoint speaking OpenAI's `POST {baseUrl}/chat/completions`. */
export interface OpenAICompatibleProvider {
  readonly type: 'openai_compatible';
  /** e.g. `https://api.openai.com/v1`: the client appends `/chat/completions`. */
  readonly baseUrl: string;
  /** Sent as the request's `model`; also picks the tokenizer. */
  readonly model: string;
  /** Name of the app setting holding the API key (never the key itself). */
  readonly apiKeySetting: string;
}

export type ProviderConfig = AzureOpenAIProvider | OpenAICompatibleProvider;

/**
 * The key a provider's gate is kept under (the job's `deployment`). An Azure deployment keeps its own
 * name, so the default path is unchanged; an OpenAI-compatible provider is `<host>/<model>`, which
 * cannot collide with an Azure deployment name (those have no `/`).
 */
export function gateKeyFor(provider: ProviderConfig): string {
  if (provider.type === 'azure_openai') return provider.deployment;
  return `${new URL(provider.baseUrl).host.toLowerCase()}/${provider.model}`;
}

/** Whether a gate key is an OpenAI-compatible provider's (`<host>/<model>`) rather than an Azure deployment's. */
export function isOpenAICompatibleGateKey(key: string): boolean {
  return key.includes('/');
}

/** The model whose tokenizer counts the provider's prompts. */
export function tokenizerModelFor(provider: ProviderConfig): string {
  return provider.type === 'azure_openai' ? (provider.model ?? provider.deployment) : provider.model;
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible calls

export interface OpenAICompatibleClientOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly timeoutMs: number;
}

export function createOpenAICompatibleClient(options: OpenAICompatibleClientOptions): OpenAI {
  return new OpenAI({
    baseURL: options.baseUrl,
    apiKey: options.apiKey,
    // Explicit nulls: otherwise the SDK fills them from OPENAI_ORG_ID / OPENAI_PROJECT_ID / OPENAI_ADMIN_KEY,
    // settings meant for something else, and would send them to whatever endpoint the queue names.
    organization: null,
    project: null,
    adminAPIKey: null,
    // As for Azure: the gate granted exactly one call; our orchestration owns retries.
    maxRetries: 0,
    timeout: options.timeoutMs,
    // As for Azure: a call past its send-by moment is stopped before it goes out.
    fetch: guardedFetch,
  });
}

/** Clients by endpoint, timeout and key: a rotated key (a new app-setting value) gets a new client. */
const clients = new Map<string, OpenAI>();
/** Bounded: queues are few, but their keys rotate. */
const MAX_CLIENTS = 64;

/**
 * One call on an OpenAI-compatible provider, with its key read from the app setting the provider names
 * at call time. An unset setting fails the job at once (`provider_key_missing`): no retry can set it.
 * Never throws.
 */
export async function completeOnProvider(
  provider: OpenAICompatibleProvider,
  request: ChatCompletionRequest,
  options: { readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv; readonly sendBy?: number },
): Promise<AttemptOutcome> {
  const apiKey = (options.env ?? process.env)[provider.apiKeySetting]?.trim();
  if (!apiKey) {
    return { kind: 'permanent', error: { status: null, code: 'provider_key_missing', message: `app setting ${provider.apiKeySetting} (the provider's API key) is not set` } };
  }
  const cacheKey = JSON.stringify([provider.baseUrl, options.timeoutMs, apiKey]);
  let client = clients.get(cacheKey);
  if (!client) {
    if (clients.size >= MAX_CLIENTS) clients.clear();
    client = createOpenAICompatibleClient({ baseUrl: provider.baseUrl, apiKey, timeoutMs: options.timeoutMs });
    clients.set(cacheKey, client);
  }
  return callOpenAICompatible(client, provider.model, request, options.sendBy);
}

/**
 * One chat completion on an OpenAI-compatible endpoint, classified like an Azure call, with what the
 * provider says about its own limits (`x-ratelimit-*`, `retry-after`) where it sends them. With `sendBy`
 * (epoch ms), a request that could not go out by then is not sent: `missed`. Never throws.
 */
export async function callOpenAICompatible(client: OpenAI, model: string, request: ChatCompletionRequest, sendBy?: number): Promise<AttemptOutcome> {
  const params = { ...request, model, stream: false } as unknown as ChatCompletionCreateParamsNonStreaming;
  const { sending, result } = sendingBy(sendBy, () => client.chat.completions.create(params).withResponse());
  try {
    const { data, response } = await result;
    const outcome = withSentAt(completedOutcome(data, response.headers), sending.sentAt);
    const limits = rateLimitsFrom(response.headers);
    return limits === null ? outcome : { ...outcome, limits };
  } catch (error) {
    if (slotMissedIn(error) !== undefined) return { kind: 'missed' };
    return withSentAt(classifyProviderError(error), sending.sentAt);
  }
}

/**
 * OpenAI's 429 with `insufficient_quota` is a billing state, not a rate: no wait makes the call
 * succeed, so it fails the job. Codes compared exactly, as the API documents them.
 */
export const PERMANENT_429_CODES: ReadonlySet<string> = new Set(['insufficient_quota']);

export function classifyProviderError(error: unknown): FailedOutcome {
  const outcome = classifyError(error);
  if (outcome.kind !== 'throttled') return outcome;
  if (outcome.error.code !== null && PERMANENT_429_CODES.has(outcome.error.code)) return { kind: 'permanent', error: outcome.error };
  const limits = rateLimitsFrom(headersOf(error));
  if (limits === null) return outcome;
  // Without retry-after, the reset of the exhausted limit says when the provider lets us in again.
  return { ...outcome, retryAfterMs: outcome.retryAfterMs ?? retryAfterFromLimits(limits), limits };
}

function headersOf(error: unknown): HeaderSource | null {
  if (typeof error !== 'object' || error === null) return null;
  const headers: unknown = (error as { headers?: unknown }).headers;
  return typeof headers === 'object' && headers !== null && typeof (headers as { get?: unknown }).get === 'function' ? (headers as HeaderSource) : null;
}
