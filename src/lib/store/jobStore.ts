/** Where jobs and batches live. One Azure implementation (Cosmos DB); the local runtime brings its own. */
import { Batch, Job, JobError, JobStatus, StatusCounts, Usage } from '../jobs/job.js';
import { QueueStore } from '../queues/queueStore.js';

/** A continuation passed to listJobs that this store did not hand out. */
export class InvalidContinuationError extends Error {
  override readonly name = 'InvalidContinuationError';
  constructor() {
    super('invalid continuation');
  }
}

export interface JobUpdate {
  readonly status: JobStatus;
  readonly attempts?: number;
  readonly result?: Readonly<Record<string, unknown>>;
  readonly usage?: Usage;
  readonly error?: JobError;
  /** ISO time of the change. */
  readonly at: string;
}

export interface JobPage {
  readonly jobs: readonly Job[];
  /** Pass back to get the next page; null on the last. */
  readonly continuation: string | null;
}

/** A batch as the dashboard lists it: sizes and times only (no metadata, no webhook URL). */
export interface BatchSummary {
  readonly id: string;
  readonly total: number;
  readonly priority: Batch['priority'];
  readonly createdAt: string;
  readonly completedAt: string | null;
}

/** A failed job as the dashboard lists it: ids and the error, never the request. */
export interface FailedJobSummary {
  readonly id: string;
  readonly batchId: string;
  readonly customId: string | null;
  readonly deployment: string;
  readonly attempts: number;
  readonly error: JobError | null;
  readonly failedAt: string | null;
}

/** The statuses of jobs not yet final: what still waits in the app's own pipeline. */
export const OPEN_STATUSES = ['queued', 'waiting', 'running'] as const satisfies readonly JobStatus[];
export type OpenJobCounts = Readonly<Record<(typeof OPEN_STATUSES)[number], number>>;

/** Jobs and batches; named queues are stored with them (QueueStore). */
export interface JobStore extends QueueStore {
  /** Records a batch and its jobs as queued. Idempotent: writing the same ids again changes nothing. */
  createBatch(batch: Batch, jobs: readonly Job[]): Promise<void>;
  getBatch(id: string): Promise<Batch | undefined>;
  getJob(id: string): Promise<Job | undefined>;
  /**
   * Moves a job forward. A move to the status it already has, or backwards, or out of a final status
   * changes nothing and returns the job as stored (so retried writes are harmless). Unknown id: undefined.
   */
  updateJob(id: string, update: JobUpdate): Promise<Job | undefined>;
  countByStatus(batchId: string): Promise<StatusCounts>;
  /** Jobs of the batch not yet completed or failed. */
  countUnfinished(batchId: string): Promise<number>;
  /**
   * One job of the batch is final: adds one to the batch's `finalReports`, atomically, and returns the
   * batch as it is after that. Unknown batch: undefined. Calling it again for the same job counts again.
   */
  reportFinalJob(batchId: string): Promise<Batch | undefined>;
  listJobs(batchId: string, continuation: string | null, pageSize: number): Promise<JobPage>;
  /**
   * Marks the batch complete. True only for the one caller that set it: of several jobs finishing the
   * batch at once, exactly one goes on to notify. Unknown batch: false.
   */
  claimBatchCompletion(batchId: string, at: string): Promise<boolean>;
  /** Cheap round trip for health checks. */
  ping(): Promise<void>;
  /** The `limit` newest batches, newest first (dashboard). */
  recentBatches(limit: number): Promise<readonly BatchSummary[]>;
  /** The `limit` most recently failed jobs, newest first (dashboard). */
  recentFailures(limit: number): Promise<readonly FailedJobSummary[]>;
  /** Jobs of a deployment not yet final, by status, across all batches (dashboard queue depth). */
  countOpenJobs(deployment: string): Promise<OpenJobCounts>;
}
