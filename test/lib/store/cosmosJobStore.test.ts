/**
 * CosmosJobStore against a real in-process Cosmos DB server (@vercel/cosmosdb-server, HTTPS, self-signed).
 * Every test uses its own batch and job ids, so tests share one server and one database.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Item, ItemDefinition, ItemResponse, Items, RequestOptions } from '@azure/cosmos';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Batch, JOB_STATUSES, Job, JobStatus } from '../../../src/lib/jobs/job.js';
import {
  BATCHES_CONTAINER,
  CosmosJobStore,
  InvalidContinuationError,
  JOBS_CONTAINER,
  JobUpdateConflictError,
  JobWriteError,
  createCosmosClient,
  createCosmosJobStore,
  ensureCosmosContainers,
} from '../../../src/lib/store/cosmosJobStore.js';

/** The well-known Cosmos DB emulator key (public, not a secret). */
const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nqAX4ZHl0r6bVaRH4v3u2SqwAtK26ReBiMedBgPgw==';
const DATABASE_ID = 'tokengate-test';
const T0 = '2030-01-01T00:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: true });
let server: https.Server;
let endpoint: string;
let store: CosmosJobStore;

/** A second, independent store (its own client): another process writing the same jobs. */
const otherStore = () => createCosmosJobStore({ endpoint, databaseId: DATABASE_ID, key: EMULATOR_KEY, agent });

beforeAll(async () => {
  server = createHttpsServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await ensureCosmosContainers(createCosmosClient({ endpoint, key: EMULATOR_KEY, agent }), DATABASE_ID);
  store = await createCosmosJobStore({ endpoint, databaseId: DATABASE_ID, key: EMULATOR_KEY, agent });
});

afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

afterEach(() => {
  vi.restoreAllMocks();
});

let nextBatch = 0;
function newBatchId(): string {
  nextBatch += 1;
  return `batch-${nextBatch}-${Math.random().toString(36).slice(2, 8)}`;
}

function makeJob(batchId: string, n: number, createdAt = T0): Job {
  return {
    id: `${batchId}-job-${String(n).padStart(4, '0')}`,
    batchId,
    customId: `request-${n}`,
    kind: 'chat',
    priority: 'batch',
    deployment: 'gpt-4o',
    request: { messages: [{ role: 'user', content: `question ${n}` }], max_tokens: 16, temperature: 0 },
    charge: 30,
    status: 'queued',
    attempts: 0,
    result: null,
    usage: null,
    error: null,
    metadata: { n },
    createdAt,
    updatedAt: createdAt,
    completedAt: null,
  };
}

function makeBatch(id: string, total: number): Batch {
  return { id, total, priority: 'batch', metadata: { owner: 'tests' }, webhook: null, createdAt: T0 };
}

async function seed(count: number, createdAt: (n: number) => string = () => T0): Promise<{ batch: Batch; jobs: Job[] }> {
  const batchId = newBatchId();
  const jobs = Array.from({ length: count }, (_, n) => makeJob(batchId, n, createdAt(n)));
  const batch = makeBatch(batchId, count);
  await store.createBatch(batch, jobs);
  return { batch, jobs };
}

const zeroCounts = (): Record<JobStatus, number> =>
  Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;

function expectNoSystemFields(document: object): void {
  expect(Object.keys(document).filter((field) => field.startsWith('_'))).toEqual([]);
}

const COMPLETION = { id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' } }] };
const USAGE = { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 };

describe('createBatch', () => {
  it('stores the batch and every job as given, readable by id without Cosmos system fields', async () => {
    const { batch, jobs } = await seed(3);
    const storedBatch = await store.getBatch(batch.id);
    expect(storedBatch).toEqual(batch);
    expectNoSystemFields(storedBatch!);
    for (const job of jobs) {
      const stored = await store.getJob(job.id);
      expect(stored).toEqual(job);
      expectNoSystemFields(stored!);
    }
  });

  it('is idempotent: a retry with the same ids fails nothing and does not reset a job that moved on', async () => {
    const { batch, jobs } = await seed(4);
    const moved = await store.updateJob(jobs[1]!.id, { status: 'running', attempts: 1, at: at(5) });
    expect(moved?.status).toBe('running');

    await expect(store.createBatch(batch, jobs)).resolves.toBeUndefined();
    await expect(store.createBatch(batch, jobs)).resolves.toBeUndefined();

    expect(await store.getJob(jobs[1]!.id)).toEqual(moved);
    expect(await store.getJob(jobs[0]!.id)).toEqual(jobs[0]);
    expect(await store.getBatch(batch.id)).toEqual(batch);
    expect(await store.countByStatus(batch.id)).toEqual({ ...zeroCounts(), queued: 3, running: 1 });
  });

  it('writes the batch document last: after jobs failed to be written there is no batch, and a retry completes the set', async () => {
    const batchId = newBatchId();
    const jobs = Array.from({ length: 6 }, (_, n) => makeJob(batchId, n));
    const batch = makeBatch(batchId, jobs.length);
    const original = Items.prototype.create;
    const failing = new Set([jobs[2]!.id, jobs[4]!.id]);
    vi.spyOn(Items.prototype, 'create').mockImplementation(function <T extends ItemDefinition>(
      this: Items,
      body: T,
      options?: RequestOptions,
    ): Promise<ItemResponse<T>> {
      if (typeof body.id === 'string' && failing.has(body.id)) {
        return Promise.reject(Object.assign(new Error('service unavailable'), { code: 503 }));
      }
      return original.call(this, body, options) as Promise<ItemResponse<T>>;
    });

    const failure = await store.createBatch(batch, jobs).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(JobWriteError);
    expect(failure).toMatchObject({ jobId: jobs[2]!.id, statusCode: 503 });
    expect(await store.getBatch(batchId)).toBeUndefined();
    expect(await store.countByStatus(batchId)).toEqual({ ...zeroCounts(), queued: 4 });
    await store.updateJob(jobs[0]!.id, { status: 'waiting', at: at(1) });

    vi.restoreAllMocks();
    await store.createBatch(batch, jobs);
    expect(await store.getBatch(batchId)).toEqual(batch);
    expect(await store.countByStatus(batchId)).toEqual({ ...zeroCounts(), queued: 5, waiting: 1 });
  });

  it('writes jobs with point creates, never bulk (bulk polls once a second), at most 100 in flight', async () => {
    const bulk = vi.spyOn(Items.prototype, 'executeBulkOperations');
    const original = Items.prototype.create;
    let inFlight = 0;
    let most = 0;
    vi.spyOn(Items.prototype, 'create').mockImplementation(async function (this: Items, body: ItemDefinition, options?: RequestOptions) {
      inFlight += 1;
      most = Math.max(most, inFlight);
      try {
        return (await original.call(this, body, options)) as ItemResponse<ItemDefinition>;
      } finally {
        inFlight -= 1;
      }
    } as typeof original);
    const { batch, jobs } = await seed(250);
    expect(bulk).not.toHaveBeenCalled();
    expect(most).toBe(100);
    expect(await store.countByStatus(batch.id)).toEqual({ ...zeroCounts(), queued: 250 });
    expect(await store.getJob(jobs[0]!.id)).toEqual(jobs[0]);
    expect(await store.getJob(jobs[249]!.id)).toEqual(jobs[249]);
    expect(await store.getBatch(batch.id)).toEqual(batch);
  });

  it('after a crash midway through a large batch, a retry completes the set and moves no job back', async () => {
    const batchId = newBatchId();
    const jobs = Array.from({ length: 1100 }, (_, n) => makeJob(batchId, n));
    const batch = makeBatch(batchId, jobs.length);
    const original = Items.prototype.create;
    let calls = 0;
    const create = vi.spyOn(Items.prototype, 'create').mockImplementation(function (this: Items, body: ItemDefinition, options?: RequestOptions) {
      calls += 1;
      if (calls > 700) return Promise.reject(new Error('the process died'));
      return original.call(this, body, options);
    } as typeof original);

    await expect(store.createBatch(batch, jobs)).rejects.toMatchObject({ name: 'JobWriteError', statusCode: undefined });
    expect(await store.getBatch(batchId)).toBeUndefined();
    expect(await store.countByStatus(batchId)).toEqual({ ...zeroCounts(), queued: 700 });
    // The first jobs were written before the crash; one of them has moved on since.
    await store.updateJob(jobs[0]!.id, { status: 'running', attempts: 1, at: at(1) });

    create.mockRestore();
    await store.createBatch(batch, jobs);
    expect(await store.getBatch(batchId)).toEqual(batch);
    expect(await store.countByStatus(batchId)).toEqual({ ...zeroCounts(), queued: 1099, running: 1 });
    expect(await store.getJob(jobs[1099]!.id)).toEqual(jobs[1099]);
  });

  it('records a batch without jobs', async () => {
    const batch = makeBatch(newBatchId(), 0);
    await store.createBatch(batch, []);
    expect(await store.getBatch(batch.id)).toEqual(batch);
  });
});

describe('updateJob', () => {
  it('moves forward through every state and records attempts, result, usage and the times', async () => {
    const { jobs } = await seed(1);
    const id = jobs[0]!.id;
    const waiting = await store.updateJob(id, { status: 'waiting', at: at(1) });
    expect(waiting).toMatchObject({ status: 'waiting', updatedAt: at(1), completedAt: null, attempts: 0 });
    const running = await store.updateJob(id, { status: 'running', attempts: 1, at: at(2) });
    expect(running).toMatchObject({ status: 'running', updatedAt: at(2), attempts: 1 });
    const completed = await store.updateJob(id, { status: 'completed', result: COMPLETION, usage: USAGE, at: at(3) });
    expect(completed).toEqual({
      ...jobs[0],
      status: 'completed',
      attempts: 1,
      result: COMPLETION,
      usage: USAGE,
      updatedAt: at(3),
      completedAt: at(3),
    });
    expectNoSystemFields(completed!);
    expect(await store.getJob(id)).toEqual(completed);
  });

  it('may skip states (queued → running → failed) and records the error', async () => {
    const { jobs } = await seed(1);
    const id = jobs[0]!.id;
    await store.updateJob(id, { status: 'running', attempts: 3, at: at(1) });
    const error = { status: 400, code: 'content_filter', message: 'filtered' };
    const failed = await store.updateJob(id, { status: 'failed', error, at: at(2) });
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, error, completedAt: at(2), result: null });
  });

  it('ignores moves backwards, out of a final state, and to the same status, returning the job as stored', async () => {
    const { jobs } = await seed(3);
    const [a, b, c] = jobs.map((job) => job.id) as [string, string, string];

    const completed = await store.updateJob(a, { status: 'completed', result: COMPLETION, at: at(1) });
    expect(await store.updateJob(a, { status: 'running', attempts: 9, at: at(2) })).toEqual(completed);
    expect(await store.updateJob(a, { status: 'failed', error: { status: null, code: null, message: 'late' }, at: at(3) })).toEqual(completed);
    expect(await store.getJob(a)).toEqual(completed);

    const failed = await store.updateJob(b, { status: 'failed', error: { status: 500, code: null, message: 'boom' }, at: at(1) });
    expect(await store.updateJob(b, { status: 'completed', result: COMPLETION, at: at(2) })).toEqual(failed);
    expect(await store.updateJob(b, { status: 'failed', at: at(3) })).toEqual(failed);
    expect(await store.getJob(b)).toEqual(failed);

    const running = await store.updateJob(c, { status: 'running', attempts: 1, at: at(1) });
    expect(await store.updateJob(c, { status: 'running', attempts: 2, at: at(2) })).toEqual(running);
    expect(await store.updateJob(c, { status: 'waiting', at: at(3) })).toEqual(running);
    expect(await store.updateJob(c, { status: 'queued', at: at(4) })).toEqual(running);
    expect(await store.getJob(c)).toEqual(running);
  });

  it('answers undefined for an unknown id and creates nothing', async () => {
    expect(await store.updateJob('no-such-job', { status: 'running', at: at(1) })).toBeUndefined();
    expect(await store.getJob('no-such-job')).toBeUndefined();
  });

  /** Lets `interfere` write once, right after the store's first read of `jobId`: its etag is then stale. */
  function interfereAfterFirstRead(jobId: string, interfere: () => Promise<unknown>) {
    const originalRead = Item.prototype.read;
    let done = false;
    vi.spyOn(Item.prototype, 'read').mockImplementation(async function <T extends ItemDefinition>(this: Item, options?: RequestOptions): Promise<ItemResponse<T>> {
      const response = (await originalRead.call(this, options)) as ItemResponse<T>;
      if (!done && this.id === jobId) {
        done = true;
        await interfere();
      }
      return response;
    });
    return vi.spyOn(Item.prototype, 'replace');
  }

  const rejectedWith412 = (results: readonly { type: string; value: unknown }[]) =>
    results.filter((result) => result.type === 'rejected' && (result.value as { code?: unknown }).code === 412).length;

  it('on a stale etag (412) reads again and applies its move on top of the other write', async () => {
    const { jobs } = await seed(1);
    const id = jobs[0]!.id;
    const other = await otherStore();
    const replace = interfereAfterFirstRead(id, () => other.updateJob(id, { status: 'running', attempts: 2, at: at(1) }));

    const completed = await store.updateJob(id, { status: 'completed', result: COMPLETION, usage: USAGE, at: at(2) });

    expect(rejectedWith412(replace.mock.settledResults)).toBe(1);
    expect(completed).toMatchObject({ status: 'completed', attempts: 2, result: COMPLETION, usage: USAGE, completedAt: at(2) });
    expect(await store.getJob(id)).toEqual(completed);
  });

  it('on a stale etag (412) decides again: a move the other write made backward is dropped', async () => {
    const { jobs } = await seed(1);
    const id = jobs[0]!.id;
    const other = await otherStore();
    const replace = interfereAfterFirstRead(id, () => other.updateJob(id, { status: 'completed', result: COMPLETION, at: at(1) }));

    const answer = await store.updateJob(id, { status: 'running', attempts: 1, at: at(2) });

    expect(rejectedWith412(replace.mock.settledResults)).toBe(1);
    expect(answer).toMatchObject({ status: 'completed', attempts: 0, result: COMPLETION, updatedAt: at(1) });
    expect(await store.getJob(id)).toEqual(answer);
  });

  it('gives up after a bounded number of 412s with JobUpdateConflictError', async () => {
    const { jobs } = await seed(1);
    const id = jobs[0]!.id;
    const replace = vi
      .spyOn(Item.prototype, 'replace')
      .mockRejectedValue(Object.assign(new Error('precondition failed'), { code: 412 }));

    await expect(store.updateJob(id, { status: 'running', at: at(1) })).rejects.toBeInstanceOf(JobUpdateConflictError);
    expect(replace).toHaveBeenCalledTimes(5);
    vi.restoreAllMocks();
    expect(await store.getJob(id)).toEqual(jobs[0]);
  });

  it('under racing writers ends in the furthest state, never loses a final write, and answers each caller consistently', async () => {
    const { jobs } = await seed(10);
    const other = await otherStore();
    const replace = vi.spyOn(Item.prototype, 'replace');

    await Promise.all(
      jobs.map(async (job) => {
        const answers = await Promise.all([
          store.updateJob(job.id, { status: 'waiting', at: at(1) }),
          other.updateJob(job.id, { status: 'running', attempts: 1, at: at(2) }),
          store.updateJob(job.id, { status: 'completed', result: COMPLETION, usage: USAGE, at: at(3) }),
          other.updateJob(job.id, { status: 'waiting', at: at(4) }),
          store.updateJob(job.id, { status: 'running', attempts: 2, at: at(5) }),
        ]);
        const stored = await store.getJob(job.id);
        expect(stored).toMatchObject({ status: 'completed', result: COMPLETION, usage: USAGE, completedAt: at(3), updatedAt: at(3) });
        expect([0, 1, 2]).toContain(stored!.attempts);
        for (const answer of answers) {
          expect(answer?.id).toBe(job.id);
          expectNoSystemFields(answer!);
        }
        // The completed write was applied (it can always move forward), so its caller saw it.
        expect(answers[2]).toEqual(stored);
      }),
    );
    // The race really went through the optimistic-concurrency path.
    expect(rejectedWith412(replace.mock.settledResults)).toBeGreaterThan(0);
  });

  it('under racing writers of the same status lets exactly one win; the others get the winner back', async () => {
    const { jobs } = await seed(1);
    const id = jobs[0]!.id;
    const other = await otherStore();
    const answers = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((attempts) =>
        (attempts % 2 ? store : other).updateJob(id, { status: 'running', attempts, at: at(attempts) }),
      ),
    );
    const stored = await store.getJob(id);
    expect(stored?.status).toBe('running');
    for (const answer of answers) expect(answer).toEqual(stored);
  });
});

describe('countByStatus', () => {
  it('counts every status of one batch only', async () => {
    const { batch, jobs } = await seed(9);
    await seed(4); // another batch, not counted
    await store.updateJob(jobs[0]!.id, { status: 'waiting', at: at(1) });
    await store.updateJob(jobs[1]!.id, { status: 'running', at: at(1) });
    await store.updateJob(jobs[2]!.id, { status: 'running', at: at(1) });
    await store.updateJob(jobs[3]!.id, { status: 'completed', result: COMPLETION, at: at(1) });
    await store.updateJob(jobs[4]!.id, { status: 'completed', result: COMPLETION, at: at(1) });
    await store.updateJob(jobs[5]!.id, { status: 'completed', result: COMPLETION, at: at(1) });
    await store.updateJob(jobs[6]!.id, { status: 'failed', error: { status: 500, code: null, message: 'x' }, at: at(1) });
    expect(await store.countByStatus(batch.id)).toEqual({ queued: 2, waiting: 1, running: 2, completed: 3, failed: 1 });
    expect(await store.countUnfinished(batch.id)).toBe(5);
  });

  it('claims a batch\'s completion once, whoever races for it', async () => {
    const { batch } = await seed(1);
    const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimBatchCompletion(batch.id, at(2))));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect((await store.getBatch(batch.id))?.completedAt).toBe(at(2));
    expect(await store.claimBatchCompletion(batch.id, at(3))).toBe(false);
    expect(await store.claimBatchCompletion('no-such-batch', at(3))).toBe(false);
  });

  it('counts final-job reports atomically on the batch, however many arrive at once', async () => {
    const { batch } = await seed(2);
    const reports = await Promise.all(Array.from({ length: 25 }, () => store.reportFinalJob(batch.id)));
    expect(reports.map((b) => b?.finalReports).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(await store.getBatch(batch.id)).toMatchObject({ id: batch.id, total: 2, finalReports: 25 });
    expect(await store.reportFinalJob('no-such-batch')).toBeUndefined();
  });

  it('answers all zeros for an unknown batch', async () => {
    expect(await store.countByStatus('no-such-batch')).toEqual(zeroCounts());
    expect(await store.countUnfinished('no-such-batch')).toBe(0);
  });
});

describe('listJobs', () => {
  async function listAll(batchId: string, pageSize: number): Promise<{ pages: Job[][]; continuations: (string | null)[] }> {
    const pages: Job[][] = [];
    const continuations: (string | null)[] = [];
    let continuation: string | null = null;
    do {
      const page = await store.listJobs(batchId, continuation, pageSize);
      pages.push([...page.jobs]);
      continuations.push(page.continuation);
      continuation = page.continuation;
    } while (continuation !== null && pages.length < 100);
    return { pages, continuations };
  }

  it('pages through a batch ordered by createdAt then id, across several pages', async () => {
    // Three creation times, inserted out of order, several jobs sharing each time.
    const { batch, jobs } = await seed(23, (n) => at([2, 0, 1][n % 3]!));
    await seed(5); // another batch, never listed
    const expected = [...jobs].sort((x, y) => x.createdAt.localeCompare(y.createdAt) || (x.id < y.id ? -1 : 1));

    const { pages, continuations } = await listAll(batch.id, 5);

    expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
    expect(continuations.slice(0, -1).every((token) => typeof token === 'string')).toBe(true);
    expect(continuations.at(-1)).toBeNull();
    expect(pages.flat()).toEqual(expected);
    pages.flat().forEach(expectNoSystemFields);
  });

  it('ends without an empty page when the batch fills the last page exactly', async () => {
    const { batch } = await seed(10);
    const { pages } = await listAll(batch.id, 5);
    expect(pages.map((page) => page.length)).toEqual([5, 5]);
  });

  it('shows the jobs as they are now', async () => {
    const { batch, jobs } = await seed(3);
    const completed = await store.updateJob(jobs[1]!.id, { status: 'completed', result: COMPLETION, at: at(1) });
    const page = await store.listJobs(batch.id, null, 10);
    expect(page).toEqual({ jobs: [jobs[0], completed, jobs[2]], continuation: null });
  });

  it('answers an empty last page for an unknown batch', async () => {
    expect(await store.listJobs('no-such-batch', null, 10)).toEqual({ jobs: [], continuation: null });
  });

  it('refuses a continuation it did not hand out, and a page size below 1', async () => {
    const { batch } = await seed(1);
    await expect(store.listJobs(batch.id, 'not a token', 5)).rejects.toBeInstanceOf(InvalidContinuationError);
    await expect(store.listJobs(batch.id, Buffer.from('{"a":1}').toString('base64url'), 5)).rejects.toBeInstanceOf(
      InvalidContinuationError,
    );
    await expect(store.listJobs(batch.id, null, 0)).rejects.toBeInstanceOf(RangeError);
  });
});

describe('reads, ping and setup', () => {
  it('answers undefined for unknown batch and job ids', async () => {
    expect(await store.getBatch('no-such-batch')).toBeUndefined();
    expect(await store.getJob('no-such-job')).toBeUndefined();
  });

  it('pings the database, and fails when the database does not exist', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    const missing = await createCosmosJobStore({ endpoint, databaseId: 'no-such-database', key: EMULATOR_KEY, agent });
    await expect(missing.ping()).rejects.toMatchObject({ code: 404 });
  });

  it('ensureCosmosContainers is idempotent and creates both containers partitioned by /id', async () => {
    const client = createCosmosClient({ endpoint, key: EMULATOR_KEY, agent });
    const database = await ensureCosmosContainers(client, DATABASE_ID);
    for (const id of [JOBS_CONTAINER, BATCHES_CONTAINER]) {
      const { resource } = await database.container(id).read();
      expect(resource?.partitionKey?.paths).toEqual(['/id']);
    }
  });
});
