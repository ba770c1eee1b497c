/**
 * A job is one chat completion carried through the gate; a batch is what one submission created.
 * Status only ever moves forward: queued → waiting → running → completed | failed.
 */
import { Priority } from '../gate/types.js';
import { ChargeableRequest } from '../model/charge.js';
import type { ProviderConfig } from '../model/providers.js';
import type { QueueRef } from '../queues/queue.js';

export const JOB_STATUSES = ['queued', 'waiting', 'running', 'completed', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed'];

const RANK: Record<JobStatus, number> = { queued: 0, waiting: 1, running: 2, completed: 3, failed: 3 };

/** A move is allowed only forward, and never out of a final state; staying put is a no-op, not a move. */
export function canMove(from: JobStatus, to: JobStatus): boolean {
  return !FINAL_STATUSES.includes(from) && RANK[to] > RANK[from];
}

export const JOB_KINDS = ['chat', 'feedback'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** A chat completion request as sent to Azure OpenAI (fields beyond these pass through untouched). */
export interface ChatCompletionRequest extends ChargeableRequest {
  readonly temperature?: number;
  readonly top_p?: number;
  readonly [field: string]: unknown;
}

export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

export interface JobError {
  /** Upstream HTTP status, or null when no response came (connection, timeout). */
  readonly status: number | null;
  readonly code: string | null;
  readonly message: string;
}

export type Metadata = Readonly<Record<string, string | number | boolean | null>>;

/** Any JSON value: what a caller's `supportive_variable` may be. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface Job {
  /** The request id: unguessable, also the orchestration instance id. */
  readonly id: string;
  readonly batchId: string;
  /** The caller's own id (Batch API `custom_id`), kept for results. */
  readonly customId: string | null;
  readonly kind: JobKind;
  readonly priority: Priority;
  /** What its gate is keyed by: the Azure deployment, or for another provider gateKeyFor(provider). */
  readonly deployment: string;
  /** The request as it will be sent: always with an explicit completion budget. */
  readonly request: ChatCompletionRequest;
  /** Tokens the gate charges for it. */
  readonly charge: number;
  readonly status: JobStatus;
  readonly attempts: number;
  /** The `chat.completion` object Azure returned. */
  readonly result: Readonly<Record<string, unknown>> | null;
  readonly usage: Usage | null;
  readonly error: JobError | null;
  readonly metadata: Metadata | null;
  /** The caller's own value for this item (`supportive_variable`), returned with its result; absent when none. */
  readonly supportiveVariable?: JsonValue;
  /** The named queue it was submitted to; absent for the default path. */
  readonly queue?: QueueRef;
  /**
   * Where it is sent: a copy of its queue's first provider, taken at submission (no secret, only the name
   * of the setting holding it), so editing or deleting the queue never changes a job already accepted.
   * Absent: the app's own deployment.
   */
  readonly provider?: ProviderConfig;
  /**
   * Its queue's providers in order (the first is `provider`), copied at submission when the queue has
   * several: the job spills over to the next whose gate has room, and is sent to the one that granted.
   * Absent: `provider` alone.
   */
  readonly providers?: readonly ProviderConfig[];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly completedAt: string | null;
}

export interface Batch {
  readonly id: string;
  readonly total: number;
  readonly priority: Priority;
  readonly metadata: Metadata | null;
  /** Called once when every job is final (HMAC-signed). */
  readonly webhook: string | null;
  /** The named queue it was submitted to; absent for the default path. */
  readonly queue?: QueueRef;
  readonly createdAt: string;
  /** When the completion was claimed for notification: set once, by exactly one finishing job. */
  readonly completedAt?: string | null;
  /**
   * How many times a job of the batch reported itself final: at least the number of final jobs (a
   * retried report counts again), so below `total` the batch cannot be complete and nobody need count.
   */
  readonly finalReports?: number;
}

export type StatusCounts = Readonly<Record<JobStatus, number>>;
