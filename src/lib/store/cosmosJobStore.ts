/**
 * The JobStore on Azure Cosmos DB (NoSQL API): two containers, `jobs` and `batches`, both partitioned by `/id`
 * (named queues are a third, `queues`: ../queues/cosmosQueueStore.ts, which this store delegates to).
 *
 * Every job lives in its own logical partition, so point reads and writes (the hot path: one orchestration
 * per job) are cheapest possible, and the per-batch queries (counts, listing) fan out across partitions —
 * they run rarely (status pages, results) and are served from the index.
 */
import type * as http from 'node:http';
import {
  Container,
  CosmosClient,
  CosmosClientOptions,
  Database,
  IndexingPolicy,
  SqlParameter,
} from '@azure/cosmos';
import { DefaultAzureCredential, TokenCredential } from '@azure/identity';
import { Batch, FINAL_STATUSES, JOB_STATUSES, Job, JobStatus, StatusCounts, canMove } from '../jobs/job.js';
import { CosmosQueueStore, ensureQueuesContainer } from '../queues/cosmosQueueStore.js';
import { Queue } from '../queues/queue.js';
import { StoredQueue } from '../queues/queueStore.js';
import { BatchSummary, FailedJobSummary, InvalidContinuationError, JobPage, JobStore, JobUpdate, OPEN_STATUSES, OpenJobCounts } from './jobStore.js';
import { mapWithConcurrency } from '../mapWithConcurrency.js';
import { statusCodeOf } from './cosmosErrors.js';

export { InvalidContinuationError };

export const JOBS_CONTAINER = 'jobs';
export const BATCHES_CONTAINER = 'batches';
export const PARTITION_KEY_PATH = '/id';

/**
 * What `listJobs` needs in real Cosmos DB: an ORDER BY over several properties is refused without a matching
 * composite index. The infrastructure must create the `jobs` container with this policy (ensureCosmosContainers
 * uses it for local runs; the local server ignores indexing policies).
 */
export const JOBS_INDEXING_POLICY: IndexingPolicy = {
  indexingMode: 'consistent',
  automatic: true,
  includedPaths: [{ path: '/*' }],
  // The request/result bodies are never filtered on: keep them out of the index (cheaper writes).
  excludedPaths: [{ path: '/request/*' }, { path: '/result/*' }, { path: '/"_etag"/?' }],
  compositeIndexes: [
    [
      { path: '/batchId', order: 'ascending' },
      { path: '/createdAt', order: 'ascending' },
      { path: '/id', order: 'ascending' },
    ],
  ],
};

/**
 * Jobs are written as point creates, this many in flight. Not `executeBulkOperations`: it polls for
 * completion once a second (the SDK's BulkHelper sleeps 1000 ms between checks), which made a 160-job
 * submission answer after 1.2 s instead of 0.1 s and a 20,000-job one spend 20 s polling. Point creates
 * cost the same RUs per job; the SDK retries a throttled one (429) after the server's retry-after.
 */
const CREATE_CONCURRENCY = 100;
/** Read–replace rounds before updateJob gives up on a job others keep writing (one writer per job is normal). */
const MAX_UPDATE_ATTEMPTS = 5;
const SYSTEM_FIELDS: ReadonlySet<string> = new Set(['_rid', '_self', '_etag', '_attachments', '_ts']);

const HTTP_NOT_FOUND = 404;
const HTTP_CONFLICT = 409;
const HTTP_PRECONDITION_FAILED = 412;

/** updateJob lost the optimistic-concurrency race MAX_UPDATE_ATTEMPTS times in a row. Retryable. */
export class JobUpdateConflictError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId}: update lost ${MAX_UPDATE_ATTEMPTS} concurrent-write races in a row`);
    this.name = 'JobUpdateConflictError';
  }
}

/** Writing a job failed for a reason other than "already there" (createBatch may be retried as a whole). */
export class JobWriteError extends Error {
  constructor(
    readonly jobId: string,
    readonly statusCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`job ${jobId}: create failed with status ${statusCode ?? 'unknown'}`, options);
    this.name = 'JobWriteError';
  }
}

export class CosmosJobStore implements JobStore {
  private readonly jobs: Container;
  private readonly batches: Container;

  /** Named queues live in their own container (`queues`) of the same database. */
  private readonly queueStore: CosmosQueueStore;

  constructor(private readonly database: Database) {
    this.jobs = database.container(JOBS_CONTAINER);
    this.batches = database.container(BATCHES_CONTAINER);
    this.queueStore = new CosmosQueueStore(database);
  }

  getQueue(name: string): Promise<StoredQueue | undefined> {
    return this.queueStore.getQueue(name);
  }

  findQueueById(id: string): Promise<StoredQueue | undefined> {
    return this.queueStore.findQueueById(id);
  }

  listQueues(): Promise<readonly StoredQueue[]> {
    return this.queueStore.listQueues();
  }

  createQueue(queue: Queue): Promise<StoredQueue> {
    return this.queueStore.createQueue(queue);
  }

  replaceQueue(queue: Queue, etag: string): Promise<StoredQueue> {
    return this.queueStore.replaceQueue(queue, etag);
  }

  deleteQueue(name: string, etag: string | null): Promise<boolean> {
    return this.queueStore.deleteQueue(name, etag);
  }

  /**
   * Jobs first, the batch document last: a batch that can be read always has all its jobs, and a process
   * that dies midway leaves only jobs without a batch, which the retried call completes. Every write is a
   * create, and "already exists" (409) counts as done, so a retry never overwrites a job that moved on.
   * Jobs of a batch that is never retried stay orphaned (nothing points to them; harmless).
   */
  async createBatch(batch: Batch, jobs: readonly Job[]): Promise<void> {
    // Every create runs to its end before a failure is reported: none is left running behind it.
    const failures = await mapWithConcurrency(jobs, CREATE_CONCURRENCY, async (job) => {
      try {
        await this.jobs.items.create<Job>(job);
        return null;
      } catch (error) {
        const status = statusCodeOf(error);
        return status === HTTP_CONFLICT ? null : new JobWriteError(job.id, status, { cause: error });
      }
    });
    const failure = failures.find((f) => f !== null);
    if (failure) throw failure;
    try {
      await this.batches.items.create<Batch>(batch);
    } catch (error) {
      if (statusCodeOf(error) !== HTTP_CONFLICT) throw error;
    }
  }

  async getBatch(id: string): Promise<Batch | undefined> {
    return readItem<Batch>(this.batches, id).then((read) => read && withoutSystemFields(read.resource));
  }

  async getJob(id: string): Promise<Job | undefined> {
    return readItem<Job>(this.jobs, id).then((read) => read && withoutSystemFields(read.resource));
  }

  /**
   * A server-side increment (patch `incr`): every finishing job writes the same batch document, and a
   * read–replace would lose most of those races to 412s.
   */
  async reportFinalJob(batchId: string): Promise<Batch | undefined> {
    try {
      const { resource } = await this.batches.item(batchId, batchId).patch<Batch>([{ op: 'incr', path: '/finalReports', value: 1 }]);
      return resource ? withoutSystemFields(resource) : undefined;
    } catch (error) {
      if (statusCodeOf(error) === HTTP_NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** A 412 means another finishing job got there first, or wrote in between: read again and decide again. */
  async claimBatchCompletion(batchId: string, at: string): Promise<boolean> {
    const outcome = await this.readDecideReplace<Batch, boolean>(this.batches, batchId, (current) =>
      current.completedAt ? { keep: false } : { replace: { ...current, completedAt: at }, result: () => true },
    );
    return outcome ?? false;
  }

  /**
   * Read, decide with canMove, replace if the etag is still the one read; on 412 (someone wrote in between)
   * read again and decide again, so a concurrent move forward is never overwritten by an older one.
   */
  async updateJob(id: string, update: JobUpdate): Promise<Job | undefined> {
    return this.readDecideReplace<Job, Job>(this.jobs, id, (current) => {
      if (!canMove(current.status, update.status)) return { keep: current };
      const next: Job = {
        ...current,
        status: update.status,
        attempts: update.attempts ?? current.attempts,
        result: update.result ?? current.result,
        usage: update.usage ?? current.usage,
        error: update.error ?? current.error,
        updatedAt: update.at,
        completedAt: FINAL_STATUSES.includes(update.status) ? update.at : current.completedAt,
      };
      return { replace: next, result: (stored) => stored ?? next };
    });
  }

  /**
   * Optimistic concurrency: read the document, let `decide` keep it or replace it, replace only if its
   * etag is unchanged, and on 412 start over (bounded). Undefined when the document does not exist.
   */
  private async readDecideReplace<T extends Job | Batch, R>(
    container: Container,
    id: string,
    decide: (current: T) => { keep: R } | { replace: T; result: (stored: T | undefined) => R },
  ): Promise<R | undefined> {
    for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
      const read = await readItem<T>(container, id);
      if (!read) return undefined;
      const decision = decide(withoutSystemFields(read.resource));
      if ('keep' in decision) return decision.keep;
      try {
        const { resource } = await container.item(id, id).replace<T>(decision.replace, { accessCondition: { type: 'IfMatch', condition: read.etag } });
        return decision.result(resource ? withoutSystemFields(resource) : undefined);
      } catch (error) {
        const status = statusCodeOf(error);
        if (status === HTTP_PRECONDITION_FAILED) continue;
        if (status === HTTP_NOT_FOUND) return undefined;
        throw error;
      }
    }
    throw new JobUpdateConflictError(id);
  }

  /**
   * One `SELECT VALUE COUNT(1)` per status, in parallel. Real Cosmos answers each from the index (equality
   * on batchId and status) for a few RUs per physical partition, and returns one number; `SELECT c.status`
   * would load every job of the batch and page through them, costing RUs and round trips per job. GROUP BY
   * would be a single query, but the local server does not run it.
   */
  async countByStatus(batchId: string): Promise<StatusCounts> {
    const counts = await Promise.all(JOB_STATUSES.map(async (status) => [status, await this.countJobs(batchId, [status])] as const));
    return Object.fromEntries(counts) as Record<JobStatus, number>;
  }

  /** One COUNT over the open statuses: what every finishing job asks, so it must be cheap. */
  countUnfinished(batchId: string): Promise<number> {
    return this.countJobs(batchId, JOB_STATUSES.filter((status) => !FINAL_STATUSES.includes(status)));
  }

  /** Jobs of a batch in any of `statuses`; a cross-partition COUNT comes back as one partial count per partition. */
  private async countJobs(batchId: string, statuses: readonly JobStatus[]): Promise<number> {
    const { resources } = await this.jobs.items
      .query<number>({
        query: 'SELECT VALUE COUNT(1) FROM c WHERE c.batchId = @batchId AND ARRAY_CONTAINS(@statuses, c.status)',
        parameters: [
          { name: '@batchId', value: batchId },
          { name: '@statuses', value: [...statuses] },
        ],
      })
      .fetchAll();
    return resources.reduce((sum, n) => sum + n, 0);
  }

  /**
   * Keyset paging: the continuation is the (createdAt, id) of the last job returned, and each page is
   * `SELECT TOP pageSize+1 … WHERE (createdAt, id) > last ORDER BY batchId, createdAt, id` (the extra row only
   * tells whether another page exists). Not the SDK's own continuation tokens: for a cross-partition ORDER BY
   * those need `enableQueryControl` + `forceQueryPlan` (SDK ≥ 4.9), which the local server cannot run, so
   * that path could never be tested here; keyset tokens are small, stable across SDK versions and partition
   * splits, and go through the same code locally and in Azure.
   */
  async listJobs(batchId: string, continuation: string | null, pageSize: number): Promise<JobPage> {
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer: ${pageSize}`);
    const after = continuation === null ? null : decodeContinuation(continuation);
    const parameters: SqlParameter[] = [
      { name: '@batchId', value: batchId },
      { name: '@top', value: pageSize + 1 },
    ];
    let where = 'c.batchId = @batchId';
    if (after) {
      where += ' AND (c.createdAt > @createdAt OR (c.createdAt = @createdAt AND c.id > @id))';
      parameters.push({ name: '@createdAt', value: after.createdAt }, { name: '@id', value: after.id });
    }
    const { resources } = await this.jobs.items
      .query<Job>(
        { query: `SELECT TOP @top * FROM c WHERE ${where} ORDER BY c.batchId ASC, c.createdAt ASC, c.id ASC`, parameters },
        { maxItemCount: pageSize + 1 },
      )
      .fetchAll();
    const jobs = resources.slice(0, pageSize).map(withoutSystemFields);
    const last = jobs[jobs.length - 1];
    return {
      jobs,
      continuation: resources.length > pageSize && last ? encodeContinuation(last) : null,
    };
  }

  async ping(): Promise<void> {
    await this.database.read();
  }

  /** A projection, so metadata and webhook URLs (which may carry tokens) never leave the store here. */
  async recentBatches(limit: number): Promise<readonly BatchSummary[]> {
    const { resources } = await this.batches.items
      .query<BatchSummary & { completedAt?: string | null }>({
        query: 'SELECT TOP @top c.id, c.total, c.priority, c.createdAt, c.completedAt FROM c ORDER BY c.createdAt DESC',
        parameters: [{ name: '@top', value: positiveLimit(limit) }],
      })
      .fetchAll();
    return resources.map((b) => ({ id: b.id, total: b.total, priority: b.priority, createdAt: b.createdAt, completedAt: b.completedAt ?? null }));
  }

  /** A projection without `request` and `result`: prompt and completion text never leave the store here. */
  async recentFailures(limit: number): Promise<readonly FailedJobSummary[]> {
    const { resources } = await this.jobs.items
      .query<Omit<FailedJobSummary, 'failedAt'> & { completedAt: string | null }>({
        query:
          "SELECT TOP @top c.id, c.batchId, c.customId, c.deployment, c.attempts, c.error, c.completedAt FROM c WHERE c.status = 'failed' ORDER BY c.completedAt DESC",
        parameters: [{ name: '@top', value: positiveLimit(limit) }],
      })
      .fetchAll();
    return resources.map(({ completedAt, ...job }) => ({
      id: job.id,
      batchId: job.batchId,
      customId: job.customId ?? null,
      deployment: job.deployment,
      attempts: job.attempts,
      error: job.error ?? null,
      failedAt: completedAt ?? null,
    }));
  }

  /** One COUNT per open status (equality on status and deployment: served from the index), in parallel. */
  async countOpenJobs(deployment: string): Promise<OpenJobCounts> {
    const counts = await Promise.all(
      OPEN_STATUSES.map(async (status) => {
        const { resources } = await this.jobs.items
          .query<number>({
            query: 'SELECT VALUE COUNT(1) FROM c WHERE c.status = @status AND c.deployment = @deployment',
            parameters: [
              { name: '@status', value: status },
              { name: '@deployment', value: deployment },
            ],
          })
          .fetchAll();
        return [status, resources.reduce((sum, n) => sum + n, 0)] as const;
      }),
    );
    return Object.fromEntries(counts) as Record<(typeof OPEN_STATUSES)[number], number>;
  }
}

function positiveLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer: ${limit}`);
  return limit;
}

export interface CosmosJobStoreOptions {
  readonly endpoint: string;
  readonly databaseId: string;
  /** Account key: only for emulators and the local server. Without it the client signs in with Entra ID. */
  readonly key?: string | null;
  /** Entra ID credential; DefaultAzureCredential when absent. */
  readonly credential?: TokenCredential;
  /** The user-assigned managed identity DefaultAzureCredential should use. */
  readonly managedIdentityClientId?: string | null;
  /** HTTP(S) agent, e.g. one accepting the local server's self-signed certificate. */
  readonly agent?: http.Agent;
  /** The SDK's HTTP client, e.g. the local server's in-process transport; the SDK's default when absent. */
  readonly httpClient?: CosmosClientOptions['httpClient'];
  /** The SDK's connection policy, e.g. no endpoint discovery for a single-region local server. */
  readonly connectionPolicy?: CosmosClientOptions['connectionPolicy'];
}

/**
 * A CosmosClient with identity auth by default. The SDK's own retries stay on: it retries 429 (throttled)
 * after the server's retry-after, up to 9 times / 30 s by default. That is right for the store — unlike the
 * model calls, whose 429s the gate must see, store throttling is nobody else's business.
 */
export function createCosmosClient(options: Omit<CosmosJobStoreOptions, 'databaseId'>): CosmosClient {
  const clientOptions: CosmosClientOptions = { endpoint: options.endpoint, userAgentSuffix: 'tokengate' };
  if (options.key) {
    clientOptions.key = options.key;
  } else {
    clientOptions.aadCredentials =
      options.credential ??
      new DefaultAzureCredential(
        options.managedIdentityClientId ? { managedIdentityClientId: options.managedIdentityClientId } : {},
      );
  }
  if (options.agent) clientOptions.agent = options.agent;
  if (options.httpClient) clientOptions.httpClient = options.httpClient;
  if (options.connectionPolicy) clientOptions.connectionPolicy = options.connectionPolicy;
  return new CosmosClient(clientOptions);
}

/** The store over an existing database and containers (in Azure the infrastructure creates them). */
export async function createCosmosJobStore(options: CosmosJobStoreOptions): Promise<CosmosJobStore> {
  return new CosmosJobStore(createCosmosClient(options).database(options.databaseId));
}

/** Creates the database and its containers (jobs, batches, queues) when missing: for local runs and tests. */
export async function ensureCosmosContainers(client: CosmosClient, databaseId: string): Promise<Database> {
  const { database } = await client.databases.createIfNotExists({ id: databaseId });
  await database.containers.createIfNotExists({
    id: JOBS_CONTAINER,
    partitionKey: { paths: [PARTITION_KEY_PATH] },
    indexingPolicy: JOBS_INDEXING_POLICY,
  });
  await database.containers.createIfNotExists({ id: BATCHES_CONTAINER, partitionKey: { paths: [PARTITION_KEY_PATH] } });
  await ensureQueuesContainer(database);
  return database;
}

interface ReadResult<T> {
  readonly resource: T;
  readonly etag: string;
}

/** Point read; undefined when the item does not exist (the SDK answers 404 either as a result or a throw). */
async function readItem<T extends Job | Batch>(container: Container, id: string): Promise<ReadResult<T> | undefined> {
  try {
    const response = await container.item(id, id).read<T>();
    if (response.statusCode === HTTP_NOT_FOUND || !response.resource) return undefined;
    return { resource: response.resource, etag: response.etag ?? response.resource._etag };
  } catch (error) {
    if (statusCodeOf(error) === HTTP_NOT_FOUND) return undefined;
    throw error;
  }
}

function withoutSystemFields<T extends Job | Batch>(document: T): T {
  return Object.fromEntries(Object.entries(document).filter(([field]) => !SYSTEM_FIELDS.has(field))) as T;
}

interface Position {
  readonly createdAt: string;
  readonly id: string;
}

function encodeContinuation(job: Job): string {
  return Buffer.from(JSON.stringify([job.createdAt, job.id]), 'utf8').toString('base64url');
}

function decodeContinuation(token: string): Position {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidContinuationError();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') {
    throw new InvalidContinuationError();
  }
  return { createdAt: parsed[0], id: parsed[1] };
}
