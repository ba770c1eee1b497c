/**
 * A batch end to end in one process: POST /api/producer → runJob orchestrations (replayed by the
 * durable library's executor) ⇄ the tokenGate entity (its entity executor) → callModel (openai client
 * against a local server speaking the Azure OpenAI protocol, one 429 injected) → saveResult (Cosmos
 * store on a local Cosmos-protocol server). Checks what the model saw against the quota.
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import { EntityHandler } from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.GATE_TOKENS_PER_MINUTE = '4000';
  process.env.GATE_REQUESTS_PER_MINUTE = '600';
  process.env.GATE_WINDOW_SECONDS = '2';
  process.env.GATE_START_TOLERANCE_MS = '500';
  process.env.JOB_RETRY_BASE_MS = '50';
  process.env.GATE_DEFAULT_MAX_TOKENS = '200';
});

import * as df from 'durable-functions';
import { callModel } from '../../../src/functions/callModel.js';
import { dispatchJobs } from '../../../src/functions/dispatchJobs.js';
import { ACTIVITY_NAMES, ENTITY_NAMES, ORCHESTRATION_NAMES } from '../../../src/functions/names.js';
import { jobsHub, producer } from '../../../src/functions/producer.js';
import { runJob } from '../../../src/functions/runJob.js';
import { saveResult } from '../../../src/functions/saveResult.js';
import { tokenGate } from '../../../src/functions/tokenGate.js';
import { loadSettings } from '../../../src/lib/config.js';
import { GateEntityState } from '../../../src/lib/gate/operations.js';
import { CallModelInput, DispatchMessage, SaveResultInput, runJobInputFor } from '../../../src/lib/jobs/pipeline.js';
import { createModelClient } from '../../../src/lib/model/client.js';
import { azureModelGateway, useServices } from '../../../src/lib/services.js';
import { startClientApi } from '../../../src/local/durable/clientApi.js';
import { ActivityHandler, DurableEngine } from '../../../src/local/durable/engine.js';
import { orchestratorExecutor } from '../../../src/local/durable/orchestrationDriver.js';
import { entityExecutor } from '../../../src/local/durableEntityExecutor.js';
import { busiestInterval } from '../../lib/gate/reference.js';
import { LocalCosmos, startLocalCosmos } from '../../support/localCosmos.js';
import { ScriptedModelServer, startScriptedModelServer } from '../../support/scriptedModelServer.js';

let cosmos: LocalCosmos;
let model: ScriptedModelServer;
const arrivals: { at: number; text: string }[] = [];

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-pipeline');
  model = await startScriptedModelServer();
  const settings = loadSettings({ ...process.env, AZURE_OPENAI_ENDPOINT: model.endpoint, AZURE_OPENAI_API_KEY: 'local-key' });
  const client = createModelClient({ endpoint: model.endpoint, deployment: settings.deployment, apiVersion: settings.openai.apiVersion, apiKey: 'local-key', timeoutMs: 5_000 });
  const gateway = azureModelGateway(client, client);
  useServices({
    settings,
    store: cosmos.store,
    model: {
      complete: (request) => {
        const last = request.messages[request.messages.length - 1];
        arrivals.push({ at: Date.now(), text: typeof last?.content === 'string' ? last.content : '' });
        return gateway.complete(request);
      },
      probe: () => gateway.probe(),
    },
  });
});
afterAll(async () => {
  await cosmos.close();
  await model.close();
});

describe('the job pipeline in one process', () => {
  it('drains a batch through the gate within quota, retries a 429 and saves every result once', async () => {
    const settings = loadSettings(process.env);
    const texts = Array.from({ length: 24 }, (_, i) => `job ${i}: summarize the quarterly figures`);
    const ctx = new InvocationContext({ invocationId: 'p', functionName: 'producer' });
    const answer = await producer(
      new HttpRequest({ method: 'POST', url: 'http://localhost/api/producer', headers: { 'content-type': 'application/json' }, body: { string: JSON.stringify(texts.map((t) => ({ messages: [{ role: 'user', content: t }] }))) } }),
      ctx,
    );
    expect(answer.status).toBe(202);
    const events = ctx.extraOutputs.get(jobsHub) as DispatchMessage[];
    const chargeOf = new Map<string, number>();
    for (const [i, e] of events.entries()) chargeOf.set(texts[i]!, e.charge);

    model.replies.push({ status: 429, body: { error: { code: '429', message: 'Rate limit is exceeded.' } }, headers: { 'retry-after-ms': '300' } });
    const engine = new DurableEngine({
      orchestrations: new Map([[ORCHESTRATION_NAMES.runJob, orchestratorExecutor(runJob)]]),
      activities: new Map<string, ActivityHandler>([
        [ACTIVITY_NAMES.callModel, (input: unknown, c: InvocationContext) => callModel(input as CallModelInput, c)],
        [ACTIVITY_NAMES.saveResult, (input: unknown, c: InvocationContext) => saveResult(input as SaveResultInput, c)],
      ]),
      entities: new Map([[ENTITY_NAMES.tokenGate, entityExecutor(tokenGate as EntityHandler<unknown>)]]),
    });
    // The Event Hub trigger, with a durable client talking to the engine through the extension's HTTP API.
    const api = await startClientApi(engine);
    const durableClient = df.input.durableClient();
    const triggerContext = () => {
      const c = new InvocationContext({ invocationId: 'd', functionName: 'dispatchJobs', options: { extraInputs: [durableClient] } });
      c.extraInputs.set(durableClient, api.clientData);
      return c;
    };
    const half = Math.floor(events.length / 2);
    expect(await dispatchJobs(events.slice(0, half), triggerContext())).toEqual(events.slice(0, half).map(() => 'started'));
    // A redelivered partition (the first half again, then the rest) starts nothing twice.
    expect(await dispatchJobs(events, triggerContext())).toEqual(events.map((_, i) => (i < half ? 'already_started' : 'started')));
    expect(await dispatchJobs([{ jobId: 'req_unknown' }, 'not an object'], triggerContext())).toEqual(['unknown_job', 'unknown_job']);
    // Two deliveries racing past the store check: the second start fails and is recognised as already started.
    expect(engine.startNew(ORCHESTRATION_NAMES.runJob, events[0]!.jobId, runJobInputFor(events[0]!, settings.retry))).toBe(false);

    const statuses = await Promise.all(events.map((e) => engine.waitFor(e.jobId)));
    // Every answered call's settle said when it went out: the gate holds those charges from then, without
    // the start tolerance (settles are signals, so the last may still be on its way: at least one is in).
    const gate = (JSON.parse(engine.readEntityState(ENTITY_NAMES.tokenGate, settings.deployment)!) as GateEntityState).gate;
    const sum = (values: readonly number[] | undefined) => (values ?? []).reduce((a, b) => a + b, 0);
    expect(settings.gate.startToleranceMs).toBeGreaterThan(0);
    expect(sum(gate.sentTokens)).toBeGreaterThan(0);
    expect(sum(gate.sentRequests)).toBeGreaterThan(0);
    engine.stop();
    await api.close();
    expect(engine.faults).toEqual([]);
    expect(statuses.map((s) => s.runtimeStatus)).toEqual(events.map(() => 'Completed'));
    const jobs = await Promise.all(events.map((e) => cosmos.store.getJob(e.jobId)));
    expect(jobs.map((j) => j?.status)).toEqual(events.map(() => 'completed'));
    expect(jobs.filter((j) => j?.attempts === 2)).toHaveLength(1);

    // The model saw every job once, plus the throttled attempt.
    expect(arrivals).toHaveLength(events.length + 1);
    // Within quota by the time calls actually arrived: charges in any window of its length.
    const window = settings.gate.windowMs;
    const sent = arrivals.map((a) => ({ startAt: a.at, tokens: chargeOf.get(a.text)! }));
    const busiest = busiestInterval(sent, window, (g) => g.tokens);
    expect(busiest).toBeLessThanOrEqual(settings.gate.tokensPerMinute);
    // And the work really needed more than one window: the gate made it wait.
    const total = [...chargeOf.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(settings.gate.tokensPerMinute);
    const times = sent.map((g) => g.startAt);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(window);
  }, 60_000);
});
