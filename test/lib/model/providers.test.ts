/**
 * OpenAI-compatible providers through the `openai` package's own client, against a local HTTP server
 * speaking `POST /v1/chat/completions`: the key comes from the app setting the provider names, one
 * request per call (SDK retries off), errors classified by type and status, limits from the provider's
 * own `x-ratelimit-*` and `retry-after` headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatCompletionRequest } from '../../../src/lib/jobs/job.js';
import { parseDurationMs, rateLimitsFrom, retryAfterFromLimits } from '../../../src/lib/model/outcome.js';
import { OpenAICompatibleProvider, completeOnProvider, gateKeyFor, tokenizerModelFor } from '../../../src/lib/model/providers.js';
import { OpenAICompatibleServer, openAICompletion, startOpenAICompatibleServer } from '../../support/openAICompatibleServer.js';

let server: OpenAICompatibleServer;
let provider: OpenAICompatibleProvider;
const env = { PROVIDER_LOCAL_API_KEY: 'sk-local-test' };
const request: ChatCompletionRequest = { messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 20, temperature: 0 };
const call = (p: OpenAICompatibleProvider = provider, e: NodeJS.ProcessEnv = env) => completeOnProvider(p, request, { timeoutMs: 5_000, env: e });

beforeAll(async () => {
  server = await startOpenAICompatibleServer();
  provider = { type: 'openai_compatible', baseUrl: server.baseUrl, model: 'llama-3.1-8b', apiKeySetting: 'PROVIDER_LOCAL_API_KEY' };
});
afterAll(() => server.close());

describe('completeOnProvider', () => {
  it('posts to {base_url}/chat/completions with the model, the key from the named setting, and returns the completion', async () => {
    const before = server.received.length;
    server.replies.push({
      status: 200,
      body: openAICompletion('hi there', 'llama-3.1-8b'),
      headers: { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-limit-tokens': '200000', 'x-ratelimit-remaining-tokens': '199970', 'x-ratelimit-reset-requests': '120ms', 'x-ratelimit-reset-tokens': '9ms' },
    });
    const sentFrom = Date.now();
    const outcome = await call();
    const sentTo = Date.now();
    // When the request went out, for the gate to hold its charge from then.
    expect((outcome as { sentAt?: number }).sentAt).toBeGreaterThanOrEqual(sentFrom);
    expect((outcome as { sentAt?: number }).sentAt).toBeLessThanOrEqual(sentTo);
    expect(outcome).toMatchObject({
      kind: 'completed',
      usage: { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 },
      headers: { remainingRequests: 499, remainingTokens: 199970 },
      limits: { limitRequests: 500, limitTokens: 200000, remainingRequests: 499, remainingTokens: 199970, resetRequestsMs: 120, resetTokensMs: 9 },
    });
    expect(server.received.length - before).toBe(1);
    const sent = server.received[server.received.length - 1]!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-local-test');
    expect(sent.body).toEqual({ ...request, model: 'llama-3.1-8b', stream: false });
  });

  it('sends none of the OPENAI_* environment the SDK would otherwise pick up', async () => {
    const saved = { org: process.env['OPENAI_ORG_ID'], project: process.env['OPENAI_PROJECT_ID'] };
    process.env['OPENAI_ORG_ID'] = 'org-should-not-leak';
    process.env['OPENAI_PROJECT_ID'] = 'proj-should-not-leak';
    try {
      // A new timeout makes a new client, built while the variables are set.
      await completeOnProvider(provider, request, { timeoutMs: 5_001, env });
      const sent = server.received[server.received.length - 1]!;
      expect(sent.headers['openai-organization']).toBeUndefined();
      expect(sent.headers['openai-project']).toBeUndefined();
    } finally {
      for (const [key, value] of [['OPENAI_ORG_ID', saved.org], ['OPENAI_PROJECT_ID', saved.project]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('reads the key at call time: a rotated value is used, an unset setting fails the job without a call', async () => {
    await call(provider, { PROVIDER_LOCAL_API_KEY: 'sk-rotated' });
    expect(server.received[server.received.length - 1]!.headers.authorization).toBe('Bearer sk-rotated');
    const before = server.received.length;
    expect(await call(provider, {})).toEqual({
      kind: 'permanent',
      error: { status: null, code: 'provider_key_missing', message: "app setting PROVIDER_LOCAL_API_KEY (the provider's API key) is not set" },
    });
    expect(server.received.length).toBe(before);
  });

  it('classifies a 429: retry-after first, else the reset of the spent limit; one request each', async () => {
    const before = server.received.length;
    server.replies.push({ status: 429, body: { error: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached' } }, headers: { 'retry-after': '3' } });
    const sentFrom = Date.now();
    const throttled = await call();
    expect(throttled).toMatchObject({ kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 3000, error: { status: 429, code: 'rate_limit_exceeded' } });
    expect((throttled as { sentAt?: number }).sentAt).toBeGreaterThanOrEqual(sentFrom);
    server.replies.push({
      status: 429,
      body: { error: { type: 'tokens', code: 'rate_limit_exceeded', message: 'Rate limit reached' } },
      headers: { 'x-ratelimit-remaining-requests': '10', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' },
    });
    expect(await call()).toMatchObject({ kind: 'throttled', retryAfterMs: 360_000, limits: { remainingTokens: 0, resetTokensMs: 360_000 } });
    expect(server.received.length - before).toBe(2);
  });

  it('fails a job at once on insufficient_quota (billing, not a rate), 401 and 404; retries 5xx', async () => {
    server.replies.push({ status: 429, body: { error: { type: 'insufficient_quota', code: 'insufficient_quota', message: 'You exceeded your current quota' } } });
    expect(await call()).toMatchObject({ kind: 'permanent', error: { status: 429, code: 'insufficient_quota' } });
    server.replies.push({ status: 401, body: { error: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided' } } });
    expect(await call()).toMatchObject({ kind: 'permanent', error: { status: 401, code: 'invalid_api_key' } });
    expect(await call({ ...provider, baseUrl: server.baseUrl.replace(/\/v1$/, '/v2') })).toMatchObject({ kind: 'permanent', error: { status: 404 } });
    server.replies.push({ status: 503, body: { error: { message: 'overloaded' } } });
    const failed = await call();
    expect(failed).toMatchObject({ kind: 'transient', error: { status: 503 } });
    // A failure is not known to have reached the deployment's count: the gate keeps holding it with the tolerance.
    expect(failed).not.toHaveProperty('sentAt');
  });

  it('a send-by passed before the request goes out: missed, and the provider receives nothing', async () => {
    const before = server.received.length;
    expect(await completeOnProvider(provider, request, { timeoutMs: 5_000, env, sendBy: Date.now() - 1 })).toEqual({ kind: 'missed' });
    expect(server.received.length).toBe(before);
    expect(await completeOnProvider(provider, request, { timeoutMs: 5_000, env, sendBy: Date.now() + 10_000 })).toMatchObject({ kind: 'completed' });
    expect(server.received.length - before).toBe(1);
  });

  it('classifies an endpoint that does not answer as a connection error', async () => {
    const closed = await startOpenAICompatibleServer();
    await closed.close();
    expect(await call({ ...provider, baseUrl: closed.baseUrl })).toMatchObject({ kind: 'transient', error: { status: null, code: 'connection_error' } });
  });
});

describe('provider limits and keys', () => {
  it('parses the reset durations OpenAI sends', () => {
    expect(parseDurationMs('1s')).toBe(1000);
    expect(parseDurationMs('6m0s')).toBe(360_000);
    expect(parseDurationMs('20ms')).toBe(20);
    expect(parseDurationMs('1h2m3.5s')).toBe(3_723_500);
    expect(parseDurationMs('0.5')).toBe(500);
    for (const bad of ['', 'soon', '5x', '-1s', null, undefined]) expect(parseDurationMs(bad)).toBeNull();
  });

  it('reads x-ratelimit-* only when present, and waits for the spent limit', () => {
    const headers = (h: Record<string, string>) => ({ get: (name: string) => h[name] ?? null });
    expect(rateLimitsFrom(headers({}))).toBeNull();
    const limits = rateLimitsFrom(headers({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-reset-tokens': '30s' }))!;
    expect(retryAfterFromLimits(limits)).toBe(2000);
    expect(retryAfterFromLimits({ ...limits, remainingRequests: 5 })).toBe(30_000);
    expect(retryAfterFromLimits({ ...limits, resetRequestsMs: null, resetTokensMs: null })).toBeNull();
  });

  it('keys an OpenAI-compatible provider\'s gate by host and model, never like an Azure deployment', () => {
    expect(gateKeyFor({ type: 'openai_compatible', baseUrl: 'https://API.openai.com/v1', model: 'gpt-4o-mini', apiKeySetting: 'PROVIDER_OPENAI_API_KEY' })).toBe('api.openai.com/gpt-4o-mini');
    expect(gateKeyFor({ type: 'azure_openai', deployment: 'gpt-4o-eu', model: null })).toBe('gpt-4o-eu');
    expect(tokenizerModelFor({ type: 'azure_openai', deployment: 'prod-35', model: 'gpt-35-turbo' })).toBe('gpt-35-turbo');
    expect(tokenizerModelFor({ type: 'azure_openai', deployment: 'gpt-4o-eu', model: null })).toBe('gpt-4o-eu');
  });
});
