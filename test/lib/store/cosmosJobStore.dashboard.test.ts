/**
 * The store's dashboard queries (recent batches, recent failures, open jobs per deployment) against a real
 * in-process Cosmos DB server (@vercel/cosmosdb-server). Its own server and database, so the counts here
 * are exactly what these tests wrote.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batch, Job } from '../../../src/lib/jobs/job.js';
import { CosmosJobStore, createCosmosClient, createCosmosJobStore, ensureCosmosContainers } from '../../../src/lib/store/cosmosJobStore.js';

/** The well-known Cosmos DB emulator key (public, not a secret). */
const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nqAX4ZHl0r6bVaRH4v3u2SqwAtK26ReBiMedBgPgw==';
const DATABASE_ID = 'tokengate-dashboard-test';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: true });
let server: https.Server;
let store: CosmosJobStore;

beforeAll(async () => {
  server = createHttpsServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await ensureCosmosContainers(createCosmosClient({ endpoint, key: EMULATOR_KEY, agent }), DATABASE_ID);
  store = await createCosmosJobStore({ endpoint, databaseId: DATABASE_ID, key: EMULATOR_KEY, agent });
});

afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

function makeJob(batchId: string, n: number, deployment: string, createdAt: string): Job {
  return {
    id: `${batchId}-job-${n}`,
    batchId,
    customId: `request-${n}`,
    kind: 'chat',
    priority: 'batch',
    deployment,
    request: { messages: [{ role: 'user', content: `secret prompt ${n}` }], max_tokens: 16 },
    charge: 30,
    status: 'queued',
    attempts: 0,
    result: null,
    usage: null,
    error: null,
    metadata: null,
    createdAt,
    updatedAt: createdAt,
    completedAt: null,
  };
}

async function seed(batchId: string, count: number, deployment: string, createdAt: string): Promise<Job[]> {
  const jobs = Array.from({ length: count }, (_, n) => makeJob(batchId, n, deployment, createdAt));
  const batch: Batch = { id: batchId, total: count, priority: 'batch', metadata: { owner: 'tests' }, webhook: 'https://hooks.example/secret-token', createdAt };
  await store.createBatch(batch, jobs);
  return jobs;
}

describe('dashboard queries', () => {
  it('lists the newest batches first, sizes and times only (no metadata, no webhook URL)', async () => {
    await seed('b-old', 2, 'gpt-4o', at(0));
    await seed('b-mid', 3, 'gpt-4o', at(10));
    await seed('b-new', 1, 'gpt-4o', at(20));
    await store.claimBatchCompletion('b-mid', at(30));

    expect(await store.recentBatches(2)).toEqual([
      { id: 'b-new', total: 1, priority: 'batch', createdAt: at(20), completedAt: null },
      { id: 'b-mid', total: 3, priority: 'batch', createdAt: at(10), completedAt: at(30) },
    ]);
    expect((await store.recentBatches(10)).map((b) => b.id)).toEqual(['b-new', 'b-mid', 'b-old']);
    expect(JSON.stringify(await store.recentBatches(10))).not.toMatch(/secret-token|owner/);
    await expect(store.recentBatches(0)).rejects.toThrow(RangeError);
  });

  it('lists the most recently failed jobs first, with their errors and without the request', async () => {
    const jobs = await seed('b-fail', 4, 'gpt-4o', at(40));
    const error = (n: number) => ({ status: 500, code: 'InternalServerError', message: `failure ${n}` });
    await store.updateJob(jobs[0]!.id, { status: 'failed', attempts: 2, error: error(0), at: at(50) });
    await store.updateJob(jobs[2]!.id, { status: 'failed', attempts: 6, error: error(2), at: at(70) });
    await store.updateJob(jobs[3]!.id, { status: 'failed', attempts: 1, error: error(3), at: at(60) });
    await store.updateJob(jobs[1]!.id, { status: 'completed', attempts: 1, at: at(80) });

    const failures = await store.recentFailures(2);
    expect(failures).toEqual([
      { id: jobs[2]!.id, batchId: 'b-fail', customId: 'request-2', deployment: 'gpt-4o', attempts: 6, error: error(2), failedAt: at(70) },
      { id: jobs[3]!.id, batchId: 'b-fail', customId: 'request-3', deployment: 'gpt-4o', attempts: 1, error: error(3), failedAt: at(60) },
    ]);
    expect((await store.recentFailures(10)).map((f) => f.id)).toEqual([jobs[2]!.id, jobs[3]!.id, jobs[0]!.id]);
    expect(JSON.stringify(await store.recentFailures(10))).not.toMatch(/secret prompt/);
  });

  it('counts the open jobs of one deployment by status, across batches', async () => {
    const a = await seed('b-open-1', 3, 'dep-a', at(90));
    const b = await seed('b-open-2', 2, 'dep-a', at(91));
    await seed('b-open-3', 4, 'dep-b', at(92));
    await store.updateJob(a[0]!.id, { status: 'waiting', at: at(93) });
    await store.updateJob(a[1]!.id, { status: 'running', at: at(93) });
    await store.updateJob(b[0]!.id, { status: 'running', at: at(93) });
    await store.updateJob(b[1]!.id, { status: 'completed', at: at(94) });

    expect(await store.countOpenJobs('dep-a')).toEqual({ queued: 1, waiting: 1, running: 2 });
    expect(await store.countOpenJobs('dep-b')).toEqual({ queued: 4, waiting: 0, running: 0 });
    expect(await store.countOpenJobs('dep-none')).toEqual({ queued: 0, waiting: 0, running: 0 });
  });
});
