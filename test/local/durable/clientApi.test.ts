/**
 * The durable client API the local runtime serves: the durable-functions library's own DurableClient
 * (df.getClient on an InvocationContext carrying the binding data) starts, reads, raises events,
 * signals entities and reads their state through it, unmodified.
 */
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientApi, startClientApi } from '../../../src/local/durable/clientApi.js';
import { DurableEngine } from '../../../src/local/durable/engine.js';
import { orchestratorExecutor } from '../../../src/local/durable/orchestrationDriver.js';
import { entityExecutor } from '../../../src/local/durableEntityExecutor.js';

const waiter = function* (context: df.OrchestrationContext): Generator<df.Task, unknown, unknown> {
  const approval = yield context.df.waitForExternalEvent('approval');
  return { input: context.df.getInput(), approval };
};

const counter = (context: df.EntityContext<unknown>) => {
  const current = Number(context.df.getState(() => 0) ?? 0);
  if (context.df.operationName === 'add') context.df.setState(current + (context.df.getInput<number>() ?? 0));
};

let engine: DurableEngine;
let api: ClientApi;
let client: df.DurableClient;

beforeAll(async () => {
  engine = new DurableEngine({
    orchestrations: new Map([['waiter', orchestratorExecutor(waiter)]]),
    activities: new Map(),
    entities: new Map([['counter', entityExecutor(counter)]]),
  });
  api = await startClientApi(engine);
  const context = new InvocationContext({ functionName: 'test', invocationId: 'i' });
  const binding = df.input.durableClient();
  context.options.extraInputs.push(binding);
  context.extraInputs.set(binding, api.clientData);
  client = df.getClient(context);
});
afterAll(async () => {
  engine.stop();
  await api.close();
});

const until = async (probe: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await probe()); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('the durable client API', () => {
  it('starts an instance once, reports its status, and delivers a raised event to it', async () => {
    expect(await client.startNew('waiter', { instanceId: 'w-1', input: { n: 1 } })).toBe('w-1');
    await expect(client.startNew('waiter', { instanceId: 'w-1', input: { n: 2 } })).rejects.toThrow();
    await until(async () => (await client.getStatus('w-1')).runtimeStatus === df.OrchestrationRuntimeStatus.Running);
    await client.raiseEvent('w-1', 'approval', { ok: true });
    await until(async () => (await client.getStatus('w-1')).runtimeStatus === df.OrchestrationRuntimeStatus.Completed);
    const status = await client.getStatus('w-1');
    expect(status).toMatchObject({ name: 'waiter', instanceId: 'w-1', runtimeStatus: 'Completed', output: { input: { n: 1 }, approval: { ok: true } } });
  });

  it('answers 404 for an unknown instance and for raising an event on it', async () => {
    await expect(client.getStatus('nobody')).rejects.toThrow();
    await expect(client.raiseEvent('nobody', 'approval', {})).rejects.toThrow();
  });

  it('signals an entity and reads its state back', async () => {
    const id = new df.EntityId('counter', 'c-1');
    expect((await client.readEntityState<number>(id)).entityExists).toBe(false);
    await client.signalEntity(id, 'add', 2);
    await client.signalEntity(id, 'add', 3);
    await until(async () => (await client.readEntityState<number>(id)).entityState === 5);
    expect(await client.readEntityState<number>(id)).toMatchObject({ entityExists: true, entityState: 5 });
  });
});
