/**
 * Jobs of a named queue with two OpenAI-compatible providers, each a local server speaking OpenAI's
 * protocol and sending its own `x-ratelimit-*` headers, from submission to settle: routed as the
 * producer routes them, started by `startJobOnce`, run by `runJob` through the durable library's replay
 * executor, called by the real `callModel` activity (job read from the local Cosmos store), and settled
 * on gate entity states run by `runGateOperation` with the options the tokenGate entity gives each key.
 */
import { describe, expect, it, vi, beforeAll, afterAll } from 'vitest';

// appSettings() caches the first settings it reads: set before anything is imported.
vi.hoisted(() => {
  process.env.GATE_MODE = 'standard';
  process.env.GATE_TOKENS_PER_MINUTE = '30000';
  process.env.GATE_WINDOW_SECONDS = '60';
  process.env.DEPLOYMENT_SPILLOVER_WAIT_SECONDS = '2';
  process.env.PROVIDER_SPILLOVER_TEST_KEY = 'sk-spillover-test';
  delete process.env.GATE_REQUESTS_PER_MINUTE;
  delete process.env.AZURE_OPENAI_DEPLOYMENTS;
});

import { DurableClient } from 'durable-functions';
import { InvocationContext } from '@azure/functions';
import { callModel } from '../../src/functions/callModel.js';
import { ACTIVITY_NAMES } from '../../src/functions/names.js';
import { runJob } from '../../src/functions/runJob.js';
import { startJobOnce } from '../../src/functions/startJob.js';
import { entityOptionsFor } from '../../src/functions/tokenGate.js';
import { gateConfigForKey } from '../../src/lib/config.js';
import { GateEntityState, runGateOperation } from '../../src/lib/gate/operations.js';
import { AcquireDecision, GateStatus } from '../../src/lib/gate/types.js';
import { Job } from '../../src/lib/jobs/job.js';
import { newJobs } from '../../src/lib/jobs/newJobs.js';
import { CallModelInput, RunJobInput, RunJobOutput } from '../../src/lib/jobs/pipeline.js';
import { AttemptOutcome } from '../../src/lib/jobs/retryPolicy.js';
import { gateKeyFor } from '../../src/lib/model/providers.js';
import { Queue, parseQueueInput } from '../../src/lib/queues/queue.js';
import { routeFor } from '../../src/lib/queues/routing.js';
import { ModelGateway, useServices } from '../../src/lib/services.js';
import { appSettings } from '../../src/lib/settings.js';
import { OrchestrationInstance, orchestratorExecutor } from '../../src/local/durable/orchestrationDriver.js';
import { runToEnd } from '../support/orchestrationSteps.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { OpenAICompatibleServer, openAICompletion, startOpenAICompatibleServer } from '../support/openAICompatibleServer.js';

let cosmos: LocalCosmos;
let first: OpenAICompatibleServer;
let second: OpenAICompatibleServer;
let queue: Queue;
let firstKey: string;
let secondKey: string;
const appCalls: unknown[] = [];
const context = () => new InvocationContext({ invocationId: 'spill', functionName: 'callModel', logHandler: () => undefined });

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-spillover');
  [first, second] = await Promise.all([startOpenAICompatibleServer(), startOpenAICompatibleServer()]);
  // The app's own deployment must never be called for these jobs.
  const model: ModelGateway = {
    complete: async (request) => (appCalls.push(request), { kind: 'permanent', error: { status: null, code: 'app_deployment_called', message: 'unexpected' } }),
    probe: async () => ({ kind: 'ok' }),
  };
  useServices({ settings: appSettings(), store: cosmos.store, model });
  queue = {
    ...parseQueueInput({
      queue_name: 'spill',
      providers: [
        { type: 'openai_compatible', base_url: first.baseUrl, model: 'llama-first', api_key_setting: 'PROVIDER_SPILLOVER_TEST_KEY' },
        { type: 'openai_compatible', base_url: second.baseUrl, model: 'llama-second', api_key_setting: 'PROVIDER_SPILLOVER_TEST_KEY' },
      ],
      limit: 20_000,
    }),
    id: 'queue_spill',
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
  await cosmos.store.createQueue(queue);
  [firstKey, secondKey] = queue.providers.map(gateKeyFor) as [string, string];
});
afterAll(async () => {
  await Promise.all([cosmos.close(), first.close(), second.close()]);
});

/** Gate entity states by key, run as the tokenGate entity runs them (its configuration and options per key). */
class Gates {
  readonly states = new Map<string, GateEntityState | undefined>();
  readonly asked: { key: string; input: unknown; answer: AcquireDecision }[] = [];
  readonly settled: { key: string; input: Record<string, unknown> }[] = [];
  run(key: string, operation: string, input: unknown, now: number) {
    const settings = appSettings();
    const outcome = runGateOperation(this.states.get(key), () => gateConfigForKey(settings, key), operation, input, now, entityOptionsFor(settings, key));
    this.states.set(key, outcome.state === undefined ? undefined : (JSON.parse(JSON.stringify(outcome.state)) as GateEntityState));
    return outcome.result;
  }
  status(key: string, now: number): GateStatus {
    const result = this.run(key, 'status', undefined, now);
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return result.value as GateStatus;
  }
}


/** A submission to the queue, as the producer routes it, stored; then started as the dispatch trigger starts it. */
async function submit(): Promise<{ job: Job; input: RunJobInput }> {
  const settings = appSettings();
  const route = routeFor(queue, { deployment: settings.deployment, model: settings.model, tokensPerMinute: settings.gate.tokensPerMinute });
  const { batch, jobs } = newJobs(
    { items: [{ customId: null, request: { messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 10 } }], priority: 'batch', metadata: null, webhook: null },
    {
      deployment: route.deployment,
      model: route.model,
      defaultMaxTokens: 10,
      maxCharge: route.maxCharge,
      ...(route.queue ? { queue: route.queue } : {}),
      ...(route.provider ? { provider: route.provider } : {}),
      ...(route.providers ? { providers: route.providers } : {}),
      kind: 'chat',
      now: new Date(),
    },
  );
  await cosmos.store.createBatch(batch, jobs);
  const started: RunJobInput[] = [];
  const client = { startNew: async (_name: string, options: { input: RunJobInput }) => (started.push(options.input), jobs[0]!.id) } as unknown as DurableClient;
  await startJobOnce(client, cosmos.store, jobs[0]!, settings.retry);
  return { job: jobs[0]!, input: started[0]! };
}

interface Trace {
  output: RunJobOutput | undefined;
  calls: CallModelInput[];
  outcomes: AttemptOutcome[];
  end: number;
}

/** runJob to the end on a virtual clock starting now (callModel compares its send-by with the real clock). */
async function drive(gates: Gates, input: RunJobInput): Promise<Trace> {
  const start = Date.now();
  const instance = new OrchestrationInstance(orchestratorExecutor(runJob), 'runJob', input.jobId, input, new Date(start));
  const trace: Trace = { output: undefined, calls: [], outcomes: [], end: start };
  const { output, end } = await runToEnd(
    instance,
    start,
    {
      signal: (key, operation, signalled, now) => {
        gates.run(key, operation, signalled, now);
        gates.settled.push({ key, input: signalled as Record<string, unknown> });
      },
      call: (key, operation, asked, now) => {
        const answer = gates.run(key, operation, asked, now);
        if (answer.ok) gates.asked.push({ key, input: asked, answer: answer.value as AcquireDecision });
        return answer;
      },
      activity: async (name, activityInput) => {
        if (name === ACTIVITY_NAMES.callModel) {
          const call = activityInput as CallModelInput;
          trace.calls.push(call);
          const outcome = await callModel(call, context());
          trace.outcomes.push(outcome);
          return outcome;
        }
        if (name === ACTIVITY_NAMES.saveResult) return { batchId: null, notify: false };
        throw new Error(`unexpected activity ${name}`);
      },
    },
    1_000,
  );
  return { ...trace, output: output as RunJobOutput, end };
}

const limitHeaders = (tokens: number, requests: number, remainingTokens: number, resetTokens: string) => ({
  'x-ratelimit-limit-tokens': String(tokens),
  'x-ratelimit-limit-requests': String(requests),
  'x-ratelimit-remaining-tokens': String(remainingTokens),
  'x-ratelimit-remaining-requests': String(requests - 1),
  'x-ratelimit-reset-tokens': resetTokens,
  'x-ratelimit-reset-requests': '100ms',
});

describe("a queue's OpenAI-compatible providers", () => {
  it('start the job with every provider\'s gate to try, in order, and the queue\'s limits', async () => {
    const { job, input } = await submit();
    expect(job).toMatchObject({ deployment: firstKey, provider: queue.providers[0], providers: queue.providers });
    expect(input).toMatchObject({ deployment: firstKey, deployments: [firstKey, secondKey], spilloverWaitMs: 2_000, queue: { name: 'spill', tokensPerWindow: 20_000 } });
    // Only an OpenAI-compatible provider's gate follows its headers; the app's deployment never does.
    expect(entityOptionsFor(appSettings(), firstKey).adoptProviderLimits).toBe(true);
    expect(entityOptionsFor(appSettings(), appSettings().deployment).adoptProviderLimits).toBeUndefined();
  });

  it("run on the first provider, whose gate then keeps the limits its headers state", async () => {
    const gates = new Gates();
    const before = gates.status(firstKey, Date.now());
    expect(before).toMatchObject({ tokensPerWindow: 30_000 });
    const received = { first: first.received.length, second: second.received.length };
    first.replies.push({ status: 200, body: openAICompletion('hi', 'llama-first'), headers: limitHeaders(150_000, 600, 149_985, '6ms') });

    const { input } = await submit();
    const t = await drive(gates, input);
    expect(t.output).toMatchObject({ status: 'completed', attempts: 1 });
    expect(t.calls[0]).not.toHaveProperty('deployment');
    expect(first.received.length - received.first).toBe(1);
    expect(first.received.at(-1)!.body).toMatchObject({ model: 'llama-first' });
    expect(first.received.at(-1)!.headers.authorization).toBe('Bearer sk-spillover-test');
    expect(second.received.length).toBe(received.second);
    expect(appCalls).toHaveLength(0);

    expect(gates.settled).toEqual([{ key: firstKey, input: expect.objectContaining({ usedTokens: 15, providerLimits: { tokensPerMinute: 150_000, requestsPerMinute: 600 } }) }]);
    expect(gates.status(firstKey, t.end)).toMatchObject({ mode: 'standard', tokensPerWindow: 150_000, requestsPerRequestWindow: 100, minIntervalMs: 100, inFlight: 0, pausedUntil: null });
  });

  it('spill over to the second provider while the first has spent its limit, until that limit resets', async () => {
    const gates = new Gates();
    const received = { first: first.received.length, second: second.received.length };
    first.replies.push({ status: 200, body: openAICompletion('hi', 'llama-first'), headers: limitHeaders(150_000, 600, 0, '30s') });
    second.replies.push({ status: 200, body: openAICompletion('hi', 'llama-second'), headers: limitHeaders(50_000, 300, 49_985, '6ms') });

    const spent = await drive(gates, (await submit()).input);
    expect(spent.output).toMatchObject({ status: 'completed' });
    const paused = gates.status(firstKey, spent.end).pausedUntil;
    expect(paused).toBeGreaterThanOrEqual(spent.end + 30_000 - 1);

    const { job, input } = await submit();
    const t = await drive(gates, input);
    expect(gates.asked.slice(-2).map((a) => [a.key, a.answer.kind === 'retry' ? a.answer.reason : a.answer.kind])).toEqual([
      [firstKey, 'wait_exceeds_bound'],
      [secondKey, 'granted'],
    ]);
    expect(gates.asked.at(-2)!.input).toMatchObject({ maxWaitMs: 2_000 });
    // The call went to the provider whose gate granted it, and that gate was told how it went.
    expect(t.calls).toEqual([{ jobId: job.id, startAt: expect.any(Number), sendBy: expect.any(Number), attempt: 1, deployment: secondKey }]);
    expect(t.output).toMatchObject({ status: 'completed', attempts: 1 });
    expect(first.received.length - received.first).toBe(1);
    expect(second.received.length - received.second).toBe(1);
    expect(second.received.at(-1)!.body).toMatchObject({ model: 'llama-second' });
    expect(gates.settled.at(-1)!.key).toBe(secondKey);
    expect(gates.status(secondKey, t.end)).toMatchObject({ tokensPerWindow: 50_000, requestsPerRequestWindow: 50, inFlight: 0 });
    // The refused ask reserved nothing at the first provider.
    expect(gates.status(firstKey, t.end)).toMatchObject({ reservedTokens: 0, inFlight: 0, pausedUntil: paused });
  });

  it('spill over when the first provider\'s window is full, and never call a provider whose gate did not grant', async () => {
    const gates = new Gates();
    const received = { first: first.received.length, second: second.received.length };
    // The first provider's whole quota is taken for this window: the job's slot there is a window away.
    expect(gates.run(firstKey, 'acquire', { tokens: 30_000, priority: 'batch' }, Date.now())).toMatchObject({ ok: true, value: { kind: 'granted' } });

    const { job, input } = await submit();
    const t = await drive(gates, input);
    expect(gates.asked.at(-2)!.answer).toMatchObject({ kind: 'retry', reason: 'wait_exceeds_bound' });
    expect(t.calls[0]).toMatchObject({ deployment: secondKey });
    expect(t.output).toMatchObject({ status: 'completed' });
    expect(first.received.length).toBe(received.first);
    expect(second.received.length - received.second).toBe(1);

    // A slot from a gate none of the job's providers is kept under cannot be sent anywhere.
    const stray = await callModel({ jobId: job.id, sendBy: Date.now() + 10_000, attempt: 2, deployment: 'elsewhere.example/model' }, context());
    expect(stray).toMatchObject({ kind: 'permanent', error: { code: 'provider_unavailable' } });
    expect(first.received.length).toBe(received.first);
    expect(second.received.length - received.second).toBe(1);
  });
});
