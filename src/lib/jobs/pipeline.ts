/** The messages between the job orchestration and its activities: plain JSON, no prompt text. */
import { failoverOrderFor } from '../config.js';
import { AcquireQueue, CallFailure, PRIORITIES, Priority, ProviderLimitsReport, SettleReport } from '../gate/types.js';
import { ProviderRateLimits, spentLimitResetMs } from '../model/outcome.js';
import { appSettings } from '../settings.js';
import { promptPartOf } from '../model/charge.js';
import { Job, JobError, Usage } from './job.js';
import { AttemptOutcome, RetryPolicy } from './retryPolicy.js';

/** The event `producer` sends to Event Hub `jobs` for each job: ids and numbers only, no prompt text. */
export interface DispatchMessage {
  readonly jobId: string;
  readonly deployment: string;
  readonly charge: number;
  readonly priority: Priority;
}

/** What a job's orchestration is started from: the dispatch message, and the prompt's part of the charge. */
export interface JobStart extends DispatchMessage {
  readonly promptTokens?: number;
}

/** A stored job's start: the prompt's part of its charge is worked out from its request (no prompt text leaves here). */
export function jobStartOf(job: Job): JobStart {
  const promptTokens = promptPartOf(job.charge, job.request);
  return { jobId: job.id, deployment: job.deployment, charge: job.charge, priority: job.priority, ...(promptTokens !== undefined ? { promptTokens } : {}) };
}

export interface RunJobInput {
  readonly jobId: string;
  readonly deployment: string;
  readonly charge: number;
  readonly priority: Priority;
  /**
   * The prompt's part of `charge` (the rest is the completion budget): a provisioned gate counts it
   * whole and learns what share of the budget calls use. Absent: the gate guesses from whole charges.
   */
  readonly promptTokens?: number;
  /** Fixed when the job starts, so every replay decides the same way. */
  readonly policy: RetryPolicy;
  /**
   * Synchronous calls only: the latest moment (epoch ms) a call may start. A slot or a retry later than
   * this fails the job at once (`rate_limited`, with the time it could have gone) instead of waiting.
   */
  readonly deadline?: number;
  /**
   * Several deployments of the model (AZURE_OPENAI_DEPLOYMENTS), or the gate keys of a named queue's
   * providers: the gates to try, in order; every one but the last only when its slot starts within
   * `spilloverWaitMs`. Absent: `deployment` alone.
   */
  readonly deployments?: readonly string[];
  readonly spilloverWaitMs?: number;
  /**
   * The job's named queue and its limits as they stood when the job started, passed on every acquire:
   * the gate holds the queue to them inside the deployment's quota. Absent: the default queue.
   */
  readonly queue?: AcquireQueue;
  /**
   * GATE_WAKE_LEAD_MS when the job started: its durable timer fires this long before the granted start
   * and `callModel` waits out the rest in process. Fixed here so every replay sets the same timer;
   * absent (jobs started before the setting existed): 0, the timer fires at the start.
   */
  readonly wakeLeadMs?: number;
}

export interface CallModelInput {
  readonly jobId: string;
  /** Latest moment the call may still be sent for the slot it was granted. */
  readonly sendBy: number;
  /**
   * The slot's granted start: the call is not sent before it (the orchestration woke early by its wake
   * lead). Absent in histories from before the wake lead: sent at once, as then.
   */
  readonly startAt?: number;
  readonly attempt: number;
  /**
   * The gate key that granted the slot, when it is not the job's own (failover, or a queue's spillover to
   * its next provider): the call goes to that deployment or provider.
   */
  readonly deployment?: string;
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
  /** A synchronous call refused for its bound: when a slot (or the deployment's retry-after) would have come. */
  readonly retryAt?: number;
}

/**
 * The orchestration input for a dispatched job, with the retry policy of the settings in force now.
 * `providerKeys`: the gate keys of the providers the job recorded from its queue, in order (the first is
 * the job's own); it spills over along them instead of the app's deployments.
 */
export function runJobInputFor(message: JobStart, policy: RetryPolicy, queue?: AcquireQueue, providerKeys?: readonly string[]): RunJobInput {
  return {
    jobId: message.jobId,
    deployment: message.deployment,
    charge: message.charge,
    priority: message.priority,
    ...(message.promptTokens !== undefined ? { promptTokens: message.promptTokens } : {}),
    policy,
    ...(providerKeys !== undefined ? spilloverInputFor(providerKeys) : failoverInputFor(message.deployment)),
    ...(queue !== undefined ? { queue } : {}),
    wakeLeadMs: appSettings().wakeLeadMs,
  };
}

/**
 * A named queue's providers as the gates its job tries, in order, with the same spillover wait as the
 * app's deployments (DEPLOYMENT_SPILLOVER_WAIT_SECONDS); nothing when there is only one gate to ask.
 */
export function spilloverInputFor(providerKeys: readonly string[]): Pick<RunJobInput, 'deployments' | 'spilloverWaitMs'> {
  // Two providers on one gate key (the same host and model) are one gate: asking it twice gains nothing.
  const order = [...new Set(providerKeys)];
  return order.length < 2 ? {} : { deployments: order, spilloverWaitMs: appSettings().spilloverWaitMs };
}

/**
 * The deployments a job of this gate key may fail over to (AZURE_OPENAI_DEPLOYMENTS), fixed into its
 * input when it starts so every replay tries the same ones; nothing when there is no choice.
 */
export function failoverInputFor(deployment: string): Pick<RunJobInput, 'deployments' | 'spilloverWaitMs'> {
  const settings = appSettings();
  const order = failoverOrderFor(settings, deployment);
  return order === undefined ? {} : { deployments: order, spilloverWaitMs: settings.spilloverWaitMs };
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
  if (o.promptTokens !== undefined && !(typeof o.promptTokens === 'number' && Number.isInteger(o.promptTokens) && o.promptTokens >= 0 && typeof o.charge === 'number' && o.promptTokens <= o.charge)) {
    problems.push('promptTokens must be a whole number from 0 to charge');
  }
  if (!(PRIORITIES as readonly unknown[]).includes(o.priority)) problems.push(`priority must be one of ${PRIORITIES.join(', ')}`);
  positive(policy.maxAttempts, 'policy.maxAttempts');
  positive(policy.baseDelayMs, 'policy.baseDelayMs');
  positive(policy.maxDelayMs, 'policy.maxDelayMs');
  problems.push(...boundAndFailoverProblems(o));
  if (problems.length > 0) throw new PipelineInputError(`invalid runJob input: ${problems.join('; ')}`);
  return o as unknown as RunJobInput;
}

/**
 * What the gate learns from one attempt on the slot granted at `startAt`, which also releases the
 * slot's in-flight lease. A missed slot was never sent: it gives its lease and its charge back.
 * `counted`: the grant's, when the gate counted less than the charge (provisioned).
 */
export function settleReportFor(charge: number, startAt: number, outcome: AttemptOutcome, counted?: number, promptTokens?: number): SettleReport {
  const base = { charged: charge, startAt, ...(counted !== undefined ? { counted } : {}) };
  switch (outcome.kind) {
    case 'missed':
      return { ...base, notSent: true };
    case 'completed': {
      const exhaustedForMs = outcome.limits === undefined ? null : spentLimitResetMs(outcome.limits);
      return {
        ...base,
        ...(outcome.usage ? { usedTokens: outcome.usage.total_tokens, ...(promptTokens !== undefined ? { promptTokens } : {}) } : {}),
        ...utilizationOf(outcome),
        ...sentAtOf(outcome),
        ...providerLimitsOf(outcome.limits),
        ...(exhaustedForMs !== null ? { exhaustedForMs } : {}),
      };
    }
    case 'throttled':
      // The 429's retry-after (or, from an OpenAI-compatible provider, the spent limit's reset) pauses the gate.
      return {
        ...base,
        throttled: { kind: outcome.throttle, retryAfterMs: outcome.retryAfterMs ?? 0 },
        ...utilizationOf(outcome),
        ...sentAtOf(outcome),
        ...providerLimitsOf(outcome.limits),
      };
    case 'transient':
    case 'permanent':
      return base;
  }
}

/** The utilization header of an answer, and when it came if known. */
function utilizationOf(outcome: { readonly utilization: number | null; readonly utilizationAt?: number }): { utilization?: number; utilizationAt?: number } {
  if (outcome.utilization === null) return {};
  return { utilization: outcome.utilization, ...(outcome.utilizationAt !== undefined ? { utilizationAt: outcome.utilizationAt } : {}) };
}

/** When an answered call went out, if known: the gate then holds its charge for its window and its trip from then. */
function sentAtOf(outcome: { readonly sentAt?: number }): { sentAt?: number } {
  return outcome.sentAt === undefined ? {} : { sentAt: outcome.sentAt };
}

/** The per-minute limits an OpenAI-compatible provider's headers stated, for its gate; nothing when none came. */
function providerLimitsOf(limits: ProviderRateLimits | undefined): { providerLimits?: ProviderLimitsReport } {
  if (limits === undefined) return {};
  // A limit of 0 is no quota a gate can keep: it is left out, like a missing header.
  const providerLimits: ProviderLimitsReport = {
    ...(limits.limitTokens !== null && limits.limitTokens > 0 ? { tokensPerMinute: limits.limitTokens } : {}),
    ...(limits.limitRequests !== null && limits.limitRequests > 0 ? { requestsPerMinute: limits.limitRequests } : {}),
  };
  return Object.keys(providerLimits).length === 0 ? {} : { providerLimits };
}

/** The optional fields of a synchronous or failover job's input, checked. */
function boundAndFailoverProblems(o: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const nonNegative = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (o.deadline !== undefined && !nonNegative(o.deadline)) problems.push('deadline must be epoch milliseconds');
  if (o.spilloverWaitMs !== undefined && !nonNegative(o.spilloverWaitMs)) problems.push('spilloverWaitMs must be milliseconds, 0 or more');
  if (o.wakeLeadMs !== undefined && !nonNegative(o.wakeLeadMs)) problems.push('wakeLeadMs must be milliseconds, 0 or more');
  if (o.deployments !== undefined) {
    const list = o.deployments;
    if (!Array.isArray(list) || list.length === 0 || !list.every((d) => typeof d === 'string' && d !== '')) problems.push('deployments must be a non-empty list of deployment names');
  }
  if (o.queue !== undefined) {
    const q = (typeof o.queue === 'object' && o.queue !== null ? o.queue : {}) as Record<string, unknown>;
    const wholeAbove0 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
    if (typeof q.name !== 'string' || q.name === '') problems.push('queue.name must be a non-empty string');
    if (!wholeAbove0(q.windowMs)) problems.push('queue.windowMs must be whole milliseconds above 0');
    if (q.tokensPerWindow !== undefined && !wholeAbove0(q.tokensPerWindow)) problems.push('queue.tokensPerWindow must be a whole number above 0');
    if (q.requestsPerWindow !== undefined && !wholeAbove0(q.requestsPerWindow)) problems.push('queue.requestsPerWindow must be a whole number above 0');
  }
  return problems;
}

/**
 * What a failed call says about the deployment itself, for its circuit breaker: a 5xx, a 401, or no
 * answer (connection failure, timeout). Anything else (a 400, a 429, a missed slot) says nothing.
 */
export function callFailureOf(outcome: AttemptOutcome): CallFailure | undefined {
  if (outcome.kind === 'transient') {
    if (outcome.error.status !== null && outcome.error.status >= 500) return 'server_error';
    if (outcome.error.status === null && (outcome.error.code === 'connection_error' || outcome.error.code === 'timeout')) return 'connection';
    return undefined;
  }
  if (outcome.kind === 'permanent' && outcome.error.status === 401) return 'unauthorized';
  return undefined;
}

/** The settle report with the call's failure kind, when it has one (see `callFailureOf`). */
export function withCallFailure(report: SettleReport, outcome: AttemptOutcome): SettleReport {
  const failure = callFailureOf(outcome);
  return failure === undefined ? report : { ...report, failure };
}
