/**
 * Loading the app through the emulated `@azure/functions-core`: every function registers, with the
 * bindings Azure will see (routes, auth levels, triggers, hubs, queues, identity-based connections).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as df from 'durable-functions';
import { OrchestrationInstance, OrchestratorExecutor } from '../../../src/local/durable/orchestrationDriver.js';
import { DurableEntityExecutor, EntityExecutor } from '../../../src/local/durableEntityExecutor.js';
import { RegisteredFunction, installFunctionsCore } from '../../../src/local/host/functionsCore.js';

const root = join(__dirname, '..', '..', '..');
let registry: ReadonlyMap<string, RegisteredFunction>;

beforeAll(async () => {
  registry = installFunctionsCore();
  const files = readdirSync(join(root, 'src', 'functions')).filter((f) => f.endsWith('.ts'));
  for (const file of files) await import(join(root, 'src', 'functions', file));
});

const binding = (fn: string, type: string) => Object.values(registry.get(fn)?.bindings ?? {}).find((b) => b.type === type);

describe('the app as the Functions host sees it', () => {
  it('registers every function, each with one trigger', () => {
    expect([...registry.keys()].sort()).toEqual(
      ['batchResults', 'batchStatus', 'callModel', 'chat', 'completion', 'dashboard', 'dashboardData', 'dispatchJobs', 'health', 'notifyBatch', 'openaiChatCompletions', 'processFeedback', 'producer', 'ptuMonitor', 'queueDelete', 'queueGet', 'queuesList', 'queuesUpsert', 'response', 'runJob', 'saveResult', 'tokenGate'].sort(),
    );
  });

  it('serves the HTTP routes with function keys, health excepted', () => {
    const routes = Object.fromEntries(
      [...registry.values()]
        .filter((f) => f.trigger.type === 'httpTrigger')
        .map((f) => [f.name, { route: f.trigger.route, methods: f.trigger.methods, authLevel: f.trigger.authLevel }]),
    );
    expect(routes).toEqual({
      producer: { route: 'producer', methods: ['POST'], authLevel: 'function' },
      response: { route: 'response/{request_id}', methods: ['GET'], authLevel: 'function' },
      batchStatus: { route: 'batches/{batch_id}', methods: ['GET'], authLevel: 'function' },
      batchResults: { route: 'batches/{batch_id}/results', methods: ['GET'], authLevel: 'function' },
      health: { route: 'health', methods: ['GET'], authLevel: 'anonymous' },
      queuesUpsert: { route: 'queues', methods: ['POST'], authLevel: 'function' },
      queuesList: { route: 'queues', methods: ['GET'], authLevel: 'function' },
      queueGet: { route: 'queues/{name}', methods: ['GET'], authLevel: 'function' },
      queueDelete: { route: 'queues/{name}', methods: ['DELETE'], authLevel: 'function' },
      dashboard: { route: 'dashboard', methods: ['GET'], authLevel: 'function' },
      dashboardData: { route: 'dashboard/data', methods: ['GET'], authLevel: 'function' },
      completion: { route: 'completion', methods: ['GET'], authLevel: 'function' },
      chat: { route: 'chat', methods: ['POST'], authLevel: 'function' },
      openaiChatCompletions: { route: 'openai/deployments/{deployment}/chat/completions', methods: ['POST'], authLevel: 'function' },
    });
  });

  it('wires Event Hubs, Service Bus and durable bindings as intended', () => {
    expect(binding('producer', 'eventHub')).toMatchObject({ direction: 'out', eventHubName: 'jobs', connection: 'EventHubConnection' });
    expect(registry.get('dispatchJobs')?.trigger).toMatchObject({ type: 'eventHubTrigger', eventHubName: 'jobs', cardinality: 'many', connection: 'EventHubConnection' });
    expect(binding('dispatchJobs', 'durableClient')).toMatchObject({ direction: 'in' });
    expect(registry.get('processFeedback')?.trigger).toMatchObject({ type: 'serviceBusTrigger', queueName: 'feedback-in', connection: 'ServiceBusConnection' });
    expect(binding('processFeedback', 'durableClient')).toMatchObject({ direction: 'in' });
    expect(binding('dashboardData', 'durableClient')).toMatchObject({ direction: 'in' });
    for (const sync of ['completion', 'chat', 'openaiChatCompletions']) expect(binding(sync, 'durableClient'), sync).toMatchObject({ direction: 'in' });
    expect(binding('saveResult', 'serviceBus')).toMatchObject({ direction: 'out', queueName: 'feedback-out', connection: 'ServiceBusConnection' });
    expect(registry.get('runJob')?.trigger.type).toBe('orchestrationTrigger');
    expect(registry.get('tokenGate')?.trigger.type).toBe('entityTrigger');
    for (const activity of ['callModel', 'saveResult', 'notifyBatch']) expect(registry.get(activity)?.trigger.type).toBe('activityTrigger');
  });

  it('names only identity-based connections that local.settings.sample.json configures', () => {
    const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
    const connections = new Set(
      [...registry.values()].flatMap((f) => Object.values(f.bindings).map((b) => b.connection).filter((c): c is string => typeof c === 'string')),
    );
    expect([...connections].sort()).toEqual(['EventHubConnection', 'ServiceBusConnection']);
    for (const c of connections) expect(Object.keys(sample.Values)).toContain(`${c}__fullyQualifiedNamespace`);
  });

  it('hands over handlers the local durable engine runs as the worker would', async () => {
    const runJob = registry.get('runJob')!.handler as OrchestratorExecutor;
    const input = { jobId: 'req_1', deployment: 'gpt-4o', charge: 100, priority: 'batch', policy: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 } };
    const step = await new OrchestrationInstance(runJob, 'runJob', 'req_1', input, new Date()).step(new Date());
    expect(step.scheduled).toMatchObject([{ type: 'entityCall', entity: '@tokengate@gpt-4o', operation: 'acquire', input: { tokens: 100, priority: 'batch' } }]);
    const gate = new DurableEntityExecutor(registry.get('tokenGate')!.handler as EntityExecutor, new df.EntityId('tokenGate', 'gpt-4o'));
    const [status] = await gate.execute([{ name: 'status' }]);
    expect(status).toMatchObject({ ok: true, value: { mode: 'standard', windowTokens: 0 } });
  });
});
