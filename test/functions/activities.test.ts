/**
 * The job activities with real adapters on local servers: the Cosmos job store on a Cosmos-protocol
 * server, the model through the openai client against a server speaking the Azure OpenAI protocol.
 */
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { callModel } from '../../src/functions/callModel.js';
import { notifyBatch } from '../../src/functions/notifyBatch.js';
import { saveResult } from '../../src/functions/saveResult.js';
import { loadSettings } from '../../src/lib/config.js';
import { newJobs } from '../../src/lib/jobs/newJobs.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../../src/lib/jobs/webhook.js';
import { createModelClient } from '../../src/lib/model/client.js';
import { ModelGateway, azureModelGateway, services, useServices } from '../../src/lib/services.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { ScriptedModelServer, completionFor, startScriptedModelServer } from '../support/scriptedModelServer.js';

let cosmos: LocalCosmos;
let model: ScriptedModelServer;
const logs: string[] = [];
const context = () => new InvocationContext({ invocationId: 'a', functionName: 'activity', logHandler: (_level, ...args) => logs.push(args.join(' ')) });
const SECRET = 'PROMPT-TEXT-91c2';
const SIGNING_SECRET = 'test-signing-secret';

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-activities');
  model = await startScriptedModelServer();
  const settings = loadSettings({ AZURE_OPENAI_ENDPOINT: model.endpoint, AZURE_OPENAI_API_KEY: 'local-test-key', MODEL_TIMEOUT_SECONDS: '5', WEBHOOK_SIGNING_SECRET: SIGNING_SECRET, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  const client = createModelClient({ endpoint: model.endpoint, deployment: settings.deployment, apiVersion: settings.openai.apiVersion, apiKey: 'local-test-key', timeoutMs: 5_000 });
  useServices({ settings, store: cosmos.store, model: azureModelGateway(client, client) });
});
afterAll(async () => {
  await cosmos.close();
  await model.close();
});

async function queuedBatch(size: number, webhook: string | null = null) {
  const item = { customId: null, request: { messages: [{ role: 'user', content: `Say hi ${SECRET}` }], max_tokens: 30 } };
  const { batch, jobs } = newJobs(
    { items: Array.from({ length: size }, () => item), priority: 'batch', metadata: { team: 'qa' }, webhook },
    { deployment: 'gpt-4o', model: 'gpt-4o', defaultMaxTokens: 100, maxCharge: 100_000, kind: 'chat', now: new Date() },
  );
  await cosmos.store.createBatch(batch, jobs);
  return { batch, jobs };
}

async function queuedJob() {
  return (await queuedBatch(1)).jobs[0]!;
}

describe('callModel', () => {
  it('marks the job running, sends the stored request once and returns the completion with usage and headers', async () => {
    const job = await queuedJob();
    model.replies.push({ status: 200, body: completionFor('hi'), headers: { 'azure-openai-deployment-utilization': '41.5%', 'x-ratelimit-remaining-tokens': '900' } });
    const sent = model.received.length;
    const before = Date.now();
    const outcome = await callModel({ jobId: job.id, sendBy: Date.now() + 10_000, attempt: 1 }, context());
    const after = Date.now();
    expect(outcome).toMatchObject({ kind: 'completed', usage: { total_tokens: 25 }, utilization: 0.415, headers: { remainingTokens: 900 } });
    // When the header was read, so the gate drains it from the answer rather than from its settle.
    const at = (outcome as { utilizationAt?: number }).utilizationAt;
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    // And when the request went out, no later than the answer: the gate holds the charge from then.
    const sentAt = (outcome as { sentAt?: number }).sentAt;
    expect(sentAt).toBeGreaterThanOrEqual(before);
    expect(sentAt).toBeLessThanOrEqual(at!);
    expect(model.received.length - sent).toBe(1);
    expect(model.received[model.received.length - 1]).toMatchObject({ max_tokens: 30, messages: [{ role: 'user' }] });
    expect(await cosmos.store.getJob(job.id)).toMatchObject({ status: 'running', attempts: 1 });
  });

  it('does not call the model when the slot has passed', async () => {
    const job = await queuedJob();
    const sent = model.received.length;
    expect(await callModel({ jobId: job.id, sendBy: Date.now() - 1, attempt: 1 }, context())).toEqual({ kind: 'missed' });
    expect(model.received.length).toBe(sent);
    expect((await cosmos.store.getJob(job.id))?.status).toBe('queued');
  });

  it('woken before its slot (the wake lead): waits in process, and the request reaches the model no earlier than the start', async () => {
    const job = await queuedJob();
    const sent = model.received.length;
    const startAt = Date.now() + 150;
    const outcome = await callModel({ jobId: job.id, startAt, sendBy: startAt + 1_000, attempt: 1 }, context());
    expect(outcome).toMatchObject({ kind: 'completed' });
    expect(model.received.length - sent).toBe(1);
    expect(model.receivedAt[model.receivedAt.length - 1]).toBeGreaterThanOrEqual(startAt);
    // Sent no earlier than its start and no later than its send-by: a time the gate takes.
    expect((outcome as { sentAt?: number }).sentAt).toBeGreaterThanOrEqual(startAt);
    expect((outcome as { sentAt?: number }).sentAt).toBeLessThanOrEqual(startAt + 1_000);
  });

  it('an input from before the wake lead (no startAt) sends at once, as then', async () => {
    const job = await queuedJob();
    const sent = model.received.length;
    const before = Date.now();
    expect(await callModel({ jobId: job.id, sendBy: before + 10_000, attempt: 1 }, context())).toMatchObject({ kind: 'completed' });
    expect(model.received.length - sent).toBe(1);
    // Far sooner than any wake lead: nothing waited.
    expect(model.receivedAt[model.receivedAt.length - 1]! - before).toBeLessThan(1_000);
  });

  it('a send-by that passes after its checks (an event-loop stall): the client\'s fetch refuses, missed, nothing reaches the model', async () => {
    const job = await queuedJob();
    const installed = await services();
    // The real gateway, behind a synchronous stall at the moment callModel hands the call to it.
    let handed = 0;
    const stalling: ModelGateway = {
      complete: (request, options) => {
        handed += 1;
        const until = (options?.sendBy ?? Date.now()) + 20;
        while (Date.now() <= until) {
          // busy: the event loop is blocked, as in a stall
        }
        return installed.model.complete(request, options);
      },
      probe: () => installed.model.probe(),
    };
    useServices({ ...installed, model: stalling });
    try {
      const sent = model.received.length;
      const outcome = await callModel({ jobId: job.id, sendBy: Date.now() + 500, attempt: 1 }, context());
      expect(outcome).toEqual({ kind: 'missed' });
      // Past callModel's own checks: the guard in the client's fetch is what stopped it.
      expect(handed).toBe(1);
      expect(model.received.length).toBe(sent);
      expect(logs[logs.length - 1]).toMatch(/missed/);
    } finally {
      useServices(installed);
    }
  });

  it('classifies a throttled call and a content-filter refusal by status, without retrying inside the SDK', async () => {
    const job = await queuedJob();
    const sent = model.received.length;
    model.replies.push({ status: 429, body: { error: { code: '429', message: 'Rate limit is exceeded.' } }, headers: { 'retry-after-ms': '1500', 'retry-after': '2' } });
    expect(await callModel({ jobId: job.id, sendBy: Date.now() + 10_000, attempt: 1 }, context())).toMatchObject({ kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 1500 });
    model.replies.push({ status: 400, body: { error: { code: 'content_filter', message: 'The response was filtered.' } } });
    expect(await callModel({ jobId: job.id, sendBy: Date.now() + 10_000, attempt: 2 }, context())).toMatchObject({
      kind: 'permanent',
      error: { status: 400, code: 'content_filter' },
    });
    expect(model.received.length - sent).toBe(2);
  });

  it('never logs prompt text', () => {
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('\n')).not.toContain(SECRET);
  });
});

describe('saveResult', () => {
  it('writes the final state once: a retried or late write changes nothing', async () => {
    const job = await queuedJob();
    const result = completionFor('done');
    expect(await saveResult({ jobId: job.id, status: 'completed', attempts: 2, result, usage: result.usage }, context())).toEqual({ batchId: job.batchId, notify: false });
    const saved = await cosmos.store.getJob(job.id);
    expect(saved).toMatchObject({ status: 'completed', attempts: 2, result, usage: result.usage });
    expect(saved?.completedAt).not.toBeNull();
    await saveResult({ jobId: job.id, status: 'failed', attempts: 3, error: { status: 500, code: null, message: 'late' } }, context());
    expect(await cosmos.store.getJob(job.id)).toEqual(saved);
  });

  it('lets exactly one of the jobs finishing a batch claim its completion, and only then notify', async () => {
    const { batch, jobs } = await queuedBatch(4, 'http://127.0.0.1:9/hook');
    const result = completionFor('x');
    const first = await saveResult({ jobId: jobs[0]!.id, status: 'completed', attempts: 1, result, usage: null }, context());
    expect(first).toEqual({ batchId: batch.id, notify: false });
    // The last three finish together.
    const rest = await Promise.all(jobs.slice(1).map((j) => saveResult({ jobId: j.id, status: 'completed', attempts: 1, result, usage: null }, context())));
    expect(rest.filter((r) => r.notify)).toHaveLength(1);
    expect((await cosmos.store.getBatch(batch.id))?.completedAt).toBeTruthy();
  });

  it('counts only near the end of a batch, and a retried save of a final job never completes it early', async () => {
    const { batch, jobs } = await queuedBatch(3, 'http://127.0.0.1:9/hook');
    const result = completionFor('x');
    const save = (i: number) => saveResult({ jobId: jobs[i]!.id, status: 'completed', attempts: 1, result, usage: null }, context());
    expect((await save(0)).notify).toBe(false);
    // The activity ran again for the same job (a worker died after writing): the report counts twice.
    expect((await save(0)).notify).toBe(false);
    expect((await save(1)).notify).toBe(false); // three reports for a total of three, but one job is open
    expect((await cosmos.store.getBatch(batch.id))?.finalReports).toBe(3);
    expect((await cosmos.store.getBatch(batch.id))?.completedAt ?? null).toBeNull();
    expect((await save(2)).notify).toBe(true);
    expect((await save(2)).notify).toBe(false);
  });
});

describe('notifyBatch', () => {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  let answer = 204;
  let receiver: http.Server;
  let url = '';
  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  async function finishedBatch() {
    const { batch, jobs } = await queuedBatch(2, url);
    const at = new Date().toISOString();
    await cosmos.store.updateJob(jobs[0]!.id, { status: 'completed', attempts: 1, result: completionFor('a'), at });
    await cosmos.store.updateJob(jobs[1]!.id, { status: 'failed', attempts: 1, error: { status: 400, code: 'content_filter', message: 'f' }, at });
    return batch;
  }

  it('posts the batch-completed event, HMAC-signed over timestamp and body', async () => {
    const batch = await finishedBatch();
    answer = 204;
    expect(await notifyBatch({ batchId: batch.id }, context())).toEqual({ kind: 'delivered', status: 204 });
    const last = received[received.length - 1]!;
    const timestamp = Number(last.headers[TIMESTAMP_HEADER]);
    expect(verifyWebhook(SIGNING_SECRET, timestamp, last.body, String(last.headers[SIGNATURE_HEADER]), Date.now())).toBe(true);
    expect(verifyWebhook('wrong-secret', timestamp, last.body, String(last.headers[SIGNATURE_HEADER]), Date.now())).toBe(false);
    expect(JSON.parse(last.body)).toMatchObject({ type: 'batch.completed', batch_id: batch.id, total: 2, counts: { completed: 1, failed: 1 }, metadata: { team: 'qa' } });
    expect(last.body).not.toContain(SECRET);
  });

  it('classifies the receiver: 5xx worth another try, 4xx final, no answer transient', async () => {
    const batch = await finishedBatch();
    answer = 503;
    expect(await notifyBatch({ batchId: batch.id }, context())).toMatchObject({ kind: 'transient', status: 503 });
    answer = 410;
    expect(await notifyBatch({ batchId: batch.id }, context())).toMatchObject({ kind: 'permanent', status: 410 });
    const { batch: unreachable } = await queuedBatch(1, 'http://127.0.0.1:9/closed');
    const [job] = (await cosmos.store.listJobs(unreachable.id, null, 10)).jobs;
    await cosmos.store.updateJob(job!.id, { status: 'completed', attempts: 1, result: completionFor('a'), at: new Date().toISOString() });
    expect(await notifyBatch({ batchId: unreachable.id }, context())).toMatchObject({ kind: 'transient', status: null });
  });

  it('never notifies an unfinished batch', async () => {
    const { batch } = await queuedBatch(1, url);
    expect(await notifyBatch({ batchId: batch.id }, context())).toMatchObject({ kind: 'permanent', status: null });
  });
});
