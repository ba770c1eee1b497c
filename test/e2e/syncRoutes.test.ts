/**
 * The synchronous routes on the local runtime, in process: the official `openai` client (AzureOpenAI)
 * pointed at the app unchanged, and the app's own `/api/completion` and `/api/chat`. Calls run at
 * interactive priority through the real gate entity against the simulator; a wait beyond the bound is
 * an immediate 429 with an honest retry-after.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.GATE_WINDOW_SECONDS = '3';
  process.env.GATE_TOKENS_PER_MINUTE = '4000';
  process.env.GATE_START_TOLERANCE_MS = '300';
  process.env.GATE_DEFAULT_MAX_TOKENS = '100';
  process.env.JOB_RETRY_BASE_MS = '50';
  process.env.SYNC_MAX_WAIT_SECONDS = '1';
});

import { AzureOpenAI, BadRequestError, NotFoundError, RateLimitError } from 'openai';
import { LocalRuntime, startLocalRuntime } from '../../src/local/runtime.js';

let runtime: LocalRuntime;
let client: AzureOpenAI;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokengate-sync-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, functionsDir: join(__dirname, '..', '..', 'src', 'functions'), log: () => undefined });
  // Exactly what a caller of Azure OpenAI writes, with the app's base URL as the endpoint. The key is
  // required by the client and ignored by the app (the function key is the auth in Azure).
  client = new AzureOpenAI({ endpoint: `${runtime.url}/api`, apiKey: 'ignored', apiVersion: '2024-10-21', deployment: runtime.settings.deployment, maxRetries: 0 });
}, 60_000);
afterAll(() => runtime.close());

const api = (path: string, init?: RequestInit) => fetch(`${runtime.url}${path}`, init);
/** Long enough for every charge so far to leave the 3 s window (plus tolerance and a bucket). */
const windowPasses = () => new Promise((resolve) => setTimeout(resolve, 3_600));

describe('synchronous routes', () => {
  it('answers the official openai client with the chat.completion Azure would send, usage included', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: runtime.settings.deployment, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 40 })
      .withResponse();
    expect(data).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' } }] });
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    // The request id is the job's: its result is also readable the asynchronous way.
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(/^req_/);
    const stored = (await (await api(`/api/response/${requestId}`)).json()) as { status: string; result: unknown };
    expect(stored).toMatchObject({ status: 'completed', result: data });
    // It ran at interactive priority through the gate, and the simulator admitted exactly that call.
    expect(runtime.simulator!.stats().calls.length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('answers 429 at once with an honest retry-after when the slot is beyond the bound; the client raises RateLimitError', async () => {
    await windowPasses();
    // 3,000 of the 4,000-token window each: the second can only start once the first left the window,
    // about 3 s later, beyond the 1 s bound.
    const big = { model: runtime.settings.deployment, messages: [{ role: 'user' as const, content: 'Write a long story' }], max_tokens: 3_000 };
    const first = await client.chat.completions.create(big);
    expect(first.object).toBe('chat.completion');
    const started = Date.now();
    const error = await client.chat.completions.create(big).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    const limited = error as RateLimitError;
    expect(limited.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(2_500);
    const retryAfterMs = Number(limited.headers?.get('retry-after-ms'));
    const retryAfter = Number(limited.headers?.get('retry-after'));
    expect(retryAfterMs).toBeGreaterThan(1_000);
    expect(retryAfterMs).toBeLessThanOrEqual(4_000);
    expect(retryAfter).toBe(Math.ceil(retryAfterMs / 1000));
    expect(limited.code).toBe('429');
    // Honest: asked again after the retry-after, the same call is served.
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs + 100));
    const again = await client.chat.completions.create(big);
    expect(again.object).toBe('chat.completion');
    // The deployment itself never had to throttle.
    expect(runtime.simulator!.stats().throttled.rate_limit).toBe(0);
  }, 30_000);

  it('refuses a bad request with 400 before anything runs (BadRequestError), and an unknown deployment with 404', async () => {
    await windowPasses();
    const bad = await client.chat.completions.create({ model: runtime.settings.deployment, messages: [], max_tokens: 10 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).param).toBe('messages');
    const streaming = await client.chat.completions
      .create({ model: runtime.settings.deployment, messages: [{ role: 'user', content: 'hi' }], stream: true })
      .catch((e: unknown) => e);
    expect(streaming).toBeInstanceOf(BadRequestError);
    const other = new AzureOpenAI({ endpoint: `${runtime.url}/api`, apiKey: 'ignored', apiVersion: '2024-10-21', deployment: 'no-such-deployment', maxRetries: 0 });
    const missing = await other.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).code).toBe('DeploymentNotFound');
  }, 30_000);

  it('GET /api/completion answers a query with the chat.completion; 400 without one', async () => {
    const answered = await api(`/api/completion?query=${encodeURIComponent('What is a token gate?')}&max_tokens=30`);
    expect(answered.status).toBe(200);
    const body = (await answered.json()) as { object: string; usage: { total_tokens: number }; choices: { message: { content: string } }[] };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]!.message.content.length).toBeGreaterThan(0);
    expect(body.usage.total_tokens).toBeGreaterThan(0);
    expect(answered.headers.get('x-request-id')).toMatch(/^req_/);

    const none = await api('/api/completion');
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ error: { code: 'invalid_submission', issues: [{ field: 'query' }] } });
    const badBudget = await api('/api/completion?query=hi&max_tokens=lots');
    expect(badBudget.status).toBe(400);
    expect(await badBudget.json()).toMatchObject({ error: { issues: [{ field: 'max_tokens' }] } });
  }, 30_000);

  it('POST /api/chat answers one request; refuses arrays, bad fields and a charge beyond the quota with 400; 429 in the app shape', async () => {
    await windowPasses();
    const post = (body: unknown) => api('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answered = await post({ messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Hello' }], max_tokens: 20 });
    expect(answered.status).toBe(200);
    expect(await answered.json()).toMatchObject({ object: 'chat.completion', usage: { total_tokens: expect.any(Number) } });

    expect((await post([{ messages: [{ role: 'user', content: 'a' }] }])).status).toBe(400);
    const badRole = await post({ messages: [{ role: 'robot', content: 'a' }] });
    expect(badRole.status).toBe(400);
    expect(await badRole.json()).toMatchObject({ error: { code: 'invalid_submission', issues: [{ field: 'messages[0].role' }] } });
    const tooLarge = await post({ messages: [{ role: 'user', content: 'a' }], max_tokens: 5_000 });
    expect(tooLarge.status).toBe(400);
    expect(await tooLarge.json()).toMatchObject({ error: { issues: [{ field: 'max_tokens' }] } });

    const big = { messages: [{ role: 'user', content: 'Write a long story' }], max_tokens: 3_000 };
    expect((await post(big)).status).toBe(200);
    const limited = await post(big);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get('retry-after-ms'))).toBeGreaterThan(1_000);
    const body = (await limited.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('rate_limited');
    // The refused call is stored as a failed job with the reason, like any other.
    const stored = (await (await api(`/api/response/${body.error.request_id}`)).json()) as { status: string; error: { code: string; status: number } };
    expect(stored).toMatchObject({ status: 'failed', error: { code: 'rate_limited', status: 429 } });
  }, 30_000);
});
