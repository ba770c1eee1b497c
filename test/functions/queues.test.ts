/**
 * The named queues API and submissions routed through a queue, through the real @azure/functions types,
 * on a local Cosmos-protocol server; a queue's job goes to an OpenAI-compatible endpoint served by a
 * local HTTP server, and its supportive_variable comes back in the exports.
 */
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchResults } from '../../src/functions/batches.js';
import { callModel } from '../../src/functions/callModel.js';
import { jobsHub, producer } from '../../src/functions/producer.js';
import { queueDelete, queueGet, queuesList, queuesUpsert } from '../../src/functions/queues.js';
import { saveResult } from '../../src/functions/saveResult.js';
import { loadSettings } from '../../src/lib/config.js';
import { DispatchMessage } from '../../src/lib/jobs/pipeline.js';
import { useServices } from '../../src/lib/services.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { unreachableModel } from '../support/models.js';
import { OpenAICompatibleServer, openAICompletion, startOpenAICompatibleServer } from '../support/openAICompatibleServer.js';

const KEY_SETTING = 'PROVIDER_QUEUES_TEST_API_KEY';
const PROVIDER_KEY = 'sk-queues-test-3f9c';
let cosmos: LocalCosmos;
let provider: OpenAICompatibleServer;
const logs: string[] = [];
const settings = loadSettings({ GATE_TOKENS_PER_MINUTE: '10000', GATE_DEFAULT_MAX_TOKENS: '256', MODEL_TIMEOUT_SECONDS: '5' });

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-queues-api');
  provider = await startOpenAICompatibleServer();
  // The default path must never be taken by a queue's jobs here: its model refuses every call.
  useServices({ settings, store: cosmos.store, model: unreachableModel });
  process.env[KEY_SETTING] = PROVIDER_KEY;
});
afterAll(async () => {
  delete process.env[KEY_SETTING];
  await cosmos.close();
  await provider.close();
});

const context = () => new InvocationContext({ invocationId: 'q', functionName: 'queues', logHandler: (_level, ...args) => logs.push(args.join(' ')) });

type Answer = Omit<HttpResponseInit, 'jsonBody' | 'headers'> & { jsonBody: Record<string, unknown> & { error?: { code: string; issues?: { field: string; item?: number | null }[] } }; headers: Record<string, string> };

async function upsert(body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const request = new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/queues',
    headers: { 'content-type': 'application/json', ...headers },
    body: { string: typeof body === 'string' ? body : JSON.stringify(body) },
  });
  return (await queuesUpsert(request, context())) as Answer;
}

async function read(name: string): Promise<Answer> {
  return (await queueGet(new HttpRequest({ method: 'GET', url: `http://localhost/api/queues/${name}`, params: { name } }), context())) as Answer;
}

async function remove(name: string, headers: Record<string, string> = {}): Promise<Answer> {
  return (await queueDelete(new HttpRequest({ method: 'DELETE', url: `http://localhost/api/queues/${name}`, params: { name }, headers }), context())) as Answer;
}

async function submit(body: unknown, query = '', contentType = 'application/json') {
  const ctx = context();
  const request = new HttpRequest({ method: 'POST', url: `http://localhost/api/producer${query}`, headers: { 'content-type': contentType }, body: { string: typeof body === 'string' ? body : JSON.stringify(body) } });
  const answer = (await producer(request, ctx)) as Answer;
  return { answer, events: (ctx.extraOutputs.get(jobsHub) ?? []) as DispatchMessage[] };
}

const compatible = () => ({ type: 'openai_compatible', base_url: provider.baseUrl, model: 'local-llama', api_key_setting: KEY_SETTING });

describe('POST /api/queues', () => {
  it('creates a queue (201, ETag), then updates it by name (200, new ETag, same id)', async () => {
    const created = await upsert({ queue_name: 'summaries', providers: [compatible()], limit: 5000, time_window: 60, requests_per_window: 30, priority: 'interactive' });
    expect(created.status).toBe(201);
    expect(created.headers.etag).toMatch(/^".+"$/);
    expect(created.jsonBody).toMatchObject({
      queue_name: 'summaries',
      providers: [{ type: 'openai_compatible', base_url: provider.baseUrl, model: 'local-llama', api_key_setting: KEY_SETTING }],
      limit: 5000,
      time_window: 60,
      requests_per_window: 30,
      priority: 'interactive',
      etag: created.headers.etag,
    });
    const updated = await upsert({ queue_name: 'summaries', providers: [compatible()], limit: 6000 });
    expect(updated.status).toBe(200);
    expect(updated.jsonBody).toMatchObject({ id: created.jsonBody.id, limit: 6000, priority: 'batch', created_at: created.jsonBody.created_at });
    expect(updated.headers.etag).not.toBe(created.headers.etag);
  });

  it('refuses a stale If-Match with 412 and changes nothing; the current one updates', async () => {
    const first = await upsert({ queue_name: 'guarded', limit: 100 });
    const second = await upsert({ queue_name: 'guarded', limit: 200 }, { 'if-match': first.headers.etag });
    expect(second.status).toBe(200);
    const stale = await upsert({ queue_name: 'guarded', limit: 300 }, { 'if-match': first.headers.etag });
    expect(stale).toMatchObject({ status: 412, jsonBody: { error: { code: 'precondition_failed' } } });
    expect((await read('guarded')).jsonBody.limit).toBe(200);
    expect((await upsert({ queue_name: 'guarded' }, { 'if-none-match': '*' })).status).toBe(412);
    expect((await upsert({ queue_name: 'guarded', id: 'other-id' })).status).toBe(409);
  });

  it('answers 400 naming every bad field, and writes nothing', async () => {
    const bad = await upsert({ queue_name: 'bad/name', limit: -1, providers: [{ type: 'openai_compatible', base_url: 'ftp://x', model: 'm', api_key: 'sk-secret-value' }] });
    expect(bad.status).toBe(400);
    expect(bad.jsonBody.error?.code).toBe('invalid_queue');
    expect(bad.jsonBody.error?.issues?.map((i) => i.field)).toEqual([
      'queue_name',
      'providers[0].api_key',
      'providers[0].base_url',
      'providers[0].api_key_setting',
      'limit',
    ]);
    expect(JSON.stringify(bad.jsonBody)).not.toContain('sk-secret-value');
    expect((await upsert('{"queue_name": ')).status).toBe(400);
    expect((await upsert({ queue_name: 'too-big', pad: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await read('too-big')).status).toBe(404);
  });
});

describe('GET and DELETE /api/queues', () => {
  it('reads one (ETag) or all; 404 for an unknown or impossible name', async () => {
    const made = await upsert({ queue_name: 'readable' });
    const one = await read('readable');
    expect(one.status).toBe(200);
    expect(one.headers.etag).toBe(made.headers.etag);
    const list = (await queuesList(new HttpRequest({ method: 'GET', url: 'http://localhost/api/queues' }), context())) as Answer;
    expect((list.jsonBody.queues as { queue_name: string }[]).map((q) => q.queue_name)).toEqual(expect.arrayContaining(['readable', 'summaries']));
    expect(await read('nope')).toMatchObject({ status: 404, jsonBody: { error: { code: 'not_found' } } });
    expect((await read('..%2F')).status).toBe(404);
  });

  it('deletes (204), honouring If-Match (412 when stale); then 404', async () => {
    const made = await upsert({ queue_name: 'deletable' });
    await upsert({ queue_name: 'deletable', limit: 5 });
    expect((await remove('deletable', { 'if-match': made.headers.etag })).status).toBe(412);
    expect((await remove('deletable')).status).toBe(204);
    expect((await remove('deletable')).status).toBe(404);
    expect((await read('deletable')).status).toBe(404);
  });

  it('never returns a provider secret: the stored queue holds only the setting name', async () => {
    const all = JSON.stringify((await queuesList(new HttpRequest({ method: 'GET', url: 'http://localhost/api/queues' }), context())).jsonBody);
    expect(all).toContain(KEY_SETTING);
    expect(all).not.toContain(PROVIDER_KEY);
    const { resources } = await cosmos.database.container('queues').items.query('SELECT * FROM c').fetchAll();
    expect(JSON.stringify(resources)).not.toContain(PROVIDER_KEY);
  });
});

describe('POST /api/producer with a named queue', () => {
  it('routes shorthand and full items to the queue\'s provider, with its priority, and carries supportive_variable', async () => {
    const { answer, events } = await submit({
      queue: 'summaries',
      metadata: { team: 'qa' },
      requests: [
        { prompt: 'Summarise: the cat sat.', system_prompt: 'One line.', supportive_variable: { row: 1 }, custom_id: 's-1', max_tokens: 20 },
        { messages: [{ role: 'user', content: 'Say hi' }], supportive_variable: 'row-2', custom_id: 's-2', max_tokens: 20 },
      ],
    });
    expect(answer.status).toBe(202);
    const ids = answer.jsonBody.request_ids as string[];
    const jobs = await Promise.all(ids.map((id) => cosmos.store.getJob(id)));
    const gateKey = `127.0.0.1:${new URL(provider.baseUrl).port}/local-llama`;
    expect(jobs[0]).toMatchObject({
      deployment: gateKey,
      // The queue was updated to batch priority above.
      priority: 'batch',
      queue: { name: 'summaries' },
      provider: { type: 'openai_compatible', baseUrl: provider.baseUrl, model: 'local-llama', apiKeySetting: KEY_SETTING },
      supportiveVariable: { row: 1 },
      request: { messages: [{ role: 'system', content: 'One line.' }, { role: 'user', content: 'Summarise: the cat sat.' }], max_tokens: 20 },
    });
    expect(jobs[1]).toMatchObject({ supportiveVariable: 'row-2' });
    expect(jobs[1]!.request).not.toHaveProperty('supportive_variable');
    expect(events.map((e) => e.deployment)).toEqual([gateKey, gateKey]);
    expect((await cosmos.store.getBatch(answer.jsonBody.batch_id as string))?.queue).toEqual(jobs[0]!.queue);
  });

  it('takes the queue from ?queue= (JSONL too), by name or id; the envelope priority wins over the queue\'s', async () => {
    const made = await upsert({ queue_name: 'urgent', id: 'urgent-id', priority: 'interactive' });
    const line = JSON.stringify({ custom_id: 'l-1', method: 'POST', url: '/chat/completions', body: { prompt: 'hi' } });
    const byQuery = await submit(line, '?queue=urgent-id', 'application/jsonl');
    expect(byQuery.answer.status).toBe(202);
    expect(byQuery.events[0]).toMatchObject({ deployment: 'gpt-4o', priority: 'interactive' });
    expect(await cosmos.store.getJob(byQuery.events[0]!.jobId)).toMatchObject({ queue: { id: 'urgent-id', name: 'urgent' }, provider: { type: 'azure_openai', deployment: 'gpt-4o' } });
    const explicit = await submit({ queue: 'urgent', priority: 'batch', requests: [{ prompt: 'x' }] });
    expect(explicit.events[0]!.priority).toBe('batch');
    expect(made.status).toBe(201);
  });

  it('refuses an unknown queue, two different queues, or a charge over the queue\'s limit, writing nothing', async () => {
    const before = await cosmos.countJobs();
    const unknown = await submit({ queue: 'no-such-queue', requests: [{ prompt: 'x' }] });
    expect(unknown.answer).toMatchObject({ status: 400, jsonBody: { error: { code: 'invalid_submission', issues: [{ item: null, field: 'queue' }] } } });
    const both = await submit({ queue: 'summaries', requests: [{ prompt: 'x' }] }, '?queue=urgent');
    expect(both.answer.status).toBe(400);
    await upsert({ queue_name: 'tiny', limit: 100 });
    const big = await submit({ queue: 'tiny', requests: [{ prompt: 'x', max_tokens: 50 }, { prompt: 'y', max_tokens: 500 }] });
    expect(big.answer.status).toBe(400);
    expect(big.answer.jsonBody.error?.issues).toMatchObject([{ item: 1, field: 'max_tokens' }]);
    expect(JSON.stringify(big.answer.jsonBody)).toMatch(/queue \\"tiny\\"'s limit per 60 s of 100/);
    expect(await cosmos.countJobs()).toBe(before);
  });

  it('leaves the default path as it was: no queue, no provider, the app deployment', async () => {
    const { answer, events } = await submit([{ messages: [{ role: 'user', content: 'plain' }] }]);
    const job = await cosmos.store.getJob((answer.jsonBody.request_ids as string[])[0]!);
    expect(events[0]).toEqual({ jobId: job!.id, deployment: 'gpt-4o', charge: job!.charge, priority: 'batch' });
    expect(job).not.toHaveProperty('queue');
    expect(job).not.toHaveProperty('provider');
    expect(job).not.toHaveProperty('supportiveVariable');
  });
});

describe('a job routed to an OpenAI-compatible endpoint', () => {
  it('is sent there once, with the model and the key from the named app setting, and its result exports with its supportive_variable', async () => {
    const { answer } = await submit({ queue: 'summaries', requests: [{ prompt: 'Say hi', supportive_variable: { ticket: 42 }, custom_id: 'compat-1', max_tokens: 16 }] });
    const jobId = (answer.jsonBody.request_ids as string[])[0]!;
    const batchId = answer.jsonBody.batch_id as string;
    const sent = provider.received.length;
    provider.replies.push({ status: 200, body: openAICompletion('hi!', 'local-llama'), headers: { 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-limit-requests': '60' } });
    const outcome = await callModel({ jobId, sendBy: Date.now() + 10_000, attempt: 1 }, context());
    expect(outcome).toMatchObject({ kind: 'completed', usage: { total_tokens: 15 }, limits: { limitRequests: 60, remainingRequests: 59 } });
    expect(provider.received.length - sent).toBe(1);
    const call = provider.received[provider.received.length - 1]!;
    expect(call.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(call.body).toMatchObject({ model: 'local-llama', max_tokens: 16, messages: [{ role: 'user', content: 'Say hi' }] });
    expect(call.body).not.toHaveProperty('supportive_variable');

    if (outcome.kind !== 'completed') throw new Error('expected a completion');
    await saveResult({ jobId, status: 'completed', attempts: 1, result: outcome.completion, usage: outcome.usage }, context());
    const get = (format: string) => new HttpRequest({ method: 'GET', url: `http://localhost/api/batches/${batchId}/results?format=${format}`, params: { batch_id: batchId } });
    const line = JSON.parse(String((await batchResults(get('jsonl'), context())).body).trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ custom_id: 'compat-1', response: { status_code: 200, body: { model: 'local-llama' } }, supportive_variable: { ticket: 42 } });
    const json = (await batchResults(get('json'), context())).jsonBody as { results: Record<string, unknown>[] };
    expect(json.results[0]).toMatchObject({ custom_id: 'compat-1', supportive_variable: { ticket: 42 } });
    expect(String((await batchResults(get('csv'), context())).body)).toContain(',hi!,11,4,,,"{""ticket"":42}",');
  });

  it('fails the job at once when the key setting is unset, without calling', async () => {
    const { answer } = await submit({ queue: 'summaries', requests: [{ prompt: 'x', max_tokens: 5 }] });
    const jobId = (answer.jsonBody.request_ids as string[])[0]!;
    const sent = provider.received.length;
    delete process.env[KEY_SETTING];
    try {
      expect(await callModel({ jobId, sendBy: Date.now() + 10_000, attempt: 1 }, context())).toMatchObject({ kind: 'permanent', error: { code: 'provider_key_missing' } });
    } finally {
      process.env[KEY_SETTING] = PROVIDER_KEY;
    }
    expect(provider.received.length).toBe(sent);
  });

  it("fails a job for another Azure deployment at once when no Azure OpenAI endpoint is set", async () => {
    await upsert({ queue_name: 'elsewhere', providers: [{ type: 'azure_openai', deployment: 'gpt-4o-mini-eu' }] });
    const { answer, events } = await submit({ queue: 'elsewhere', requests: [{ prompt: 'x', max_tokens: 5 }] });
    expect(events[0]!.deployment).toBe('gpt-4o-mini-eu');
    const jobId = (answer.jsonBody.request_ids as string[])[0]!;
    expect(await callModel({ jobId, sendBy: Date.now() + 10_000, attempt: 1 }, context())).toMatchObject({ kind: 'permanent', error: { code: 'provider_unavailable' } });
  });

  it('never logs the key or prompt text', () => {
    expect(logs.join('\n')).not.toContain(PROVIDER_KEY);
    expect(logs.join('\n')).not.toContain('Say hi');
  });
});
