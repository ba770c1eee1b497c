/** The messages between the job orchestration and its activities: plain JSON, no prompt text. */
import { PRIORITIES, Priority, SettleReport } from '../gate/types.js';
import { JobError, Usage } from './job.js';
import { AttemptOutcome, RetryPolicy } from './retryPolicy.js';

/** The event `producer` sends to Event Hub `jobs` for each job: ids and numbers only, no prompt text. */
export interface DispatchMessage {
  readonly jobId: string;
  readonly deployment: string;
  readonly charge: number;
  readonly priority: Priority;
}

export interface RunJobInput {
  readonly jobId: string;
  readonly deployment: string;
  readonly charge: number;
  readonly priority: Priority;
  /** Fixed when the job starts, so every replay decides the same way. */
  readonly policy: RetryPolicy;
}

export interface CallModelInput {
  readonly jobId: string;
  /** Latest moment the call may still be sent for the slot it was granted. */
  readonly sendBy: number;
  readonly attempt: number;
}

export type SaveResultInput =
  | {
      readonly jobId: string;
      readonly status: 'completed';
      readonly attempts: number;
      readonly result: Readonly<Record<string, unknown>>;
      readonly usage: Usage | null;
    }
  | { readonly jobId: string; readonly status: 'failed'; readonly attempts: number; readonly error: JobError };

export interface SaveResultOutput {
  readonly batchId: string | null;
  /** This job finished its batch, which has a webhook: the orchestration sends the notification. */
  readonly notify: boolean;
}

/** Webhook deliveries tried before giving up, with doubling waits from the first. */
export const WEBHOOK_ATTEMPTS = 6;
export const WEBHOOK_FIRST_RETRY_MS = 2_000;

export interface RunJobOutput {
  readonly jobId: string;
  readonly status: 'completed' | 'failed';
  readonly attempts: number;
}

/** The orchestration input for a dispatched job, with the retry policy of the settings in force now. */
export function runJobInputFor(message: DispatchMessage, policy: RetryPolicy): RunJobInput {
  return { jobId: message.jobId, deployment: message.deployment, charge: message.charge, priority: message.priority, policy };
}

export class PipelineInputError extends Error {
  override readonly name = 'PipelineInputError';
}

export function parseRunJobInput(input: unknown): RunJobInput {
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const policy = (typeof o.policy === 'object' && o.policy !== null ? o.policy : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const positive = (v: unknown, name: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) problems.push(`${name} must be a number above 0`);
  };
  if (typeof o.jobId !== 'string' || o.jobId === '') problems.push('jobId must be a non-empty string');
  if (typeof o.deployment !== 'string' || o.deployment === '') problems.push('deployment must be a non-empty string');
  positive(o.charge, 'charge');
  if (!(PRIORITIES as readonly unknown[]).includes(o.priority)) problems.push(`priority must be one of ${PRIORITIES.join(', ')}`);
  positive(policy.maxAttempts, 'policy.maxAttempts');
  positive(policy.baseDelayMs, 'policy.baseDelayMs');
  positive(policy.maxDelayMs, 'policy.maxDelayMs');
  if (problems.length > 0) throw new PipelineInputError(`invalid runJob input: ${problems.join('; ')}`);
  return o as unknown as RunJobInput;
}

/**
 * What the gate learns from one attempt on the slot granted at `startAt`, which also releases the
 * slot's in-flight lease. A missed slot was never sent: it only gives its lease back.
 */
export function settleReportFor(charge: number, startAt: number, outcome: AttemptOutcome): SettleReport {
  const base = { charged: charge, startAt };
  switch (outcome.kind) {
    case 'missed':
      return base;
    case 'completed':
      return {
        ...base,
        ...(outcome.usage ? { usedTokens: outcome.usage.total_tokens } : {}),
        ...(outcome.utilization !== null ? { utilization: outcome.utilization } : {}),
      };
    case 'throttled':
      return {
        ...base,
        throttled: { kind: outcome.throttle, retryAfterMs: outcome.retryAfterMs ?? 0 },
        ...(outcome.utilization !== null ? { utilization: outcome.utilization } : {}),
      };
    case 'transient':
    case 'permanent':
      return base;
  }
}

