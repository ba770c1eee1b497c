/**
 * dispatchJobs with a real DurableClient (df.getClient) talking to the local engine through the durable
 * extension's HTTP API, and the Cosmos store on a local server: redelivery and races start nothing twice,
 * and a start that truly fails is not swallowed.
 */
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dispatchJobs } from '../../src/functions/dispatchJobs.js';
import { ORCHESTRATION_NAMES } from '../../src/functions/names.js';
import { loadSettings } from '../../src/lib/config.js';
import { newJobs } from '../../src/lib/jobs/newJobs.js';
import { DispatchMessage, runJobInputFor } from '../../src/lib/jobs/pipeline.js';
import { useServices } from '../../src/lib/services.js';
import { ClientApi, startClientApi } from '../../src/local/durable/clientApi.js';
import { DurableEngine } from '../../src/local/durable/engine.js';
import { OrchestratorExecutor, orchestratorExecutor } from '../../src/local/durable/orchestrationDriver.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { unreachableModel } from '../support/models.js';

const settings = loadSettings({});
let cosmos: LocalCosmos;

/** Stands in for runJob: holds its instance open so the job stays queued. */
const parked: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3_600_000));
};

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-dispatch');
  useServices({ settings, store: cosmos.store, model: unreachableModel });
});
afterAll(() => cosmos.close());

async function queuedMessage(): Promise<DispatchMessage> {
  const { batch, jobs } = newJobs(
    { items: [{ customId: null, request: { messages: [{ role: 'user', content: 'hi' }] } }], priority: 'batch', metadata: null, webhook: null },
    { deployment: 'gpt-4o', model: 'gpt-4o', defaultMaxTokens: 10, maxCharge: 100_000, kind: 'chat', now: new Date() },
  );
  await cosmos.store.createBatch(batch, jobs);
  const job = jobs[0]!;
  return { jobId: job.id, deployment: job.deployment, charge: job.charge, priority: job.priority };
}

async function withEngine(orchestrations: Map<string, OrchestratorExecutor>, run: (engine: DurableEngine, context: () => InvocationContext) => Promise<void>) {
  const engine = new DurableEngine({ orchestrations, activities: new Map(), entities: new Map() });
  const api: ClientApi = await startClientApi(engine);
  const input = df.input.durableClient();
  try {
    await run(engine, () => {
      const c = new InvocationContext({ invocationId: 'd', functionName: 'dispatchJobs', options: { extraInputs: [input] } });
      c.extraInputs.set(input, api.clientData);
      return c;
    });
  } finally {
    engine.stop();
    await api.close();
  }
}

describe('dispatchJobs', () => {
  it('starts one orchestration per job with the request id as instance id and marks it waiting', async () => {
    const message = await queuedMessage();
    await withEngine(new Map([[ORCHESTRATION_NAMES.runJob, orchestratorExecutor(parked)]]), async (engine, context) => {
      expect(await dispatchJobs([message], context())).toEqual(['started']);
      expect(engine.getStatus(message.jobId)).toMatchObject({ name: 'runJob', runtimeStatus: 'Running' });
      expect((await cosmos.store.getJob(message.jobId))?.status).toBe('waiting');
      expect(await dispatchJobs([message], context())).toEqual(['already_started']);
    });
  });

  it("passes the prompt's part of the charge to the orchestration, worked out from the stored request", async () => {
    const message = await queuedMessage();
    const inputs: unknown[] = [];
    const recording: OrchestrationHandler = function* (context: OrchestrationContext) {
      inputs.push(context.df.getInput());
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3_600_000));
    };
    await withEngine(new Map([[ORCHESTRATION_NAMES.runJob, orchestratorExecutor(recording)]]), async (_engine, context) => {
      expect(await dispatchJobs([message], context())).toEqual(['started']);
      await vi.waitFor(() => expect(inputs.length).toBeGreaterThan(0));
    });
    // defaultMaxTokens 10: the charge is the prompt plus a budget of 10.
    expect(inputs[0]).toMatchObject({ jobId: message.jobId, charge: message.charge, promptTokens: message.charge - 10 });
  });

  it('recognises an instance a concurrent delivery already started', async () => {
    const message = await queuedMessage();
    await withEngine(new Map([[ORCHESTRATION_NAMES.runJob, orchestratorExecutor(parked)]]), async (engine, context) => {
      expect(engine.startNew(ORCHESTRATION_NAMES.runJob, message.jobId, runJobInputFor(message, settings.retry))).toBe(true);
      // The store still says queued: only the failed start and the instance read tell the truth.
      expect(await dispatchJobs([message], context())).toEqual(['already_started']);
    });
  });

  it('lets a start that really failed propagate, so the event is delivered again', async () => {
    const message = await queuedMessage();
    await withEngine(new Map(), async (_engine, context) => {
      await expect(dispatchJobs([message], context())).rejects.toThrow();
      expect((await cosmos.store.getJob(message.jobId))?.status).toBe('queued');
    });
  });
});
