/**
 * Turns an accepted submission into a batch and its queued jobs: explicit completion budgets, the
 * gate's charge for each, and unguessable ids. A request that could never fit the quota is refused
 * here, before anything is written.
 */
import { randomBytes } from 'node:crypto';
import { chargeFor, withExplicitMaxTokens } from '../model/charge.js';
import { ProviderConfig } from '../model/providers.js';
import { QueueRef } from '../queues/queue.js';
import { Batch, Job, JobKind } from './job.js';
import { Submission, SubmissionError, ValidationIssue } from './submission.js';

/** 128 random bits, URL-safe: request ids double as capabilities to read results. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export interface NewJobsOptions {
  /** The gate key: the Azure deployment, or gateKeyFor(provider). */
  readonly deployment: string;
  readonly model: string;
  readonly defaultMaxTokens: number;
  /** Largest charge the deployment's quota (and the queue's limit) can ever admit. */
  readonly maxCharge: number;
  /** What `maxCharge` is, for the refusal: "the deployment's whole quota" unless said otherwise. */
  readonly maxChargeName?: string;
  /** The named queue the submission went to, and the provider it routes to: both recorded on every job. */
  readonly queue?: QueueRef;
  readonly provider?: ProviderConfig;
  /** All the queue's providers in order, when it has several (spillover): recorded on every job. */
  readonly providers?: readonly ProviderConfig[];
  readonly kind: JobKind;
  readonly now: Date;
  /** Fixed ids, so a redelivered message maps to the same batch and jobs (feedback); random otherwise. */
  readonly ids?: { readonly batchId: string; readonly jobIds: readonly string[] };
}

export function newJobs(submission: Submission, options: NewJobsOptions): { batch: Batch; jobs: Job[] } {
  const at = options.now.toISOString();
  if (options.ids && options.ids.jobIds.length !== submission.items.length) throw new RangeError('one job id per item is needed');
  const batchId = options.ids?.batchId ?? newId('batch');
  const issues: ValidationIssue[] = [];
  const jobs = submission.items.map((item, index): Job => {
    const request = withExplicitMaxTokens(item.request, options.defaultMaxTokens);
    const charge = chargeFor(request, options.model);
    if (charge > options.maxCharge) {
      issues.push({
        item: index,
        field: 'max_tokens',
        message: `is charged ${charge} tokens (prompt + max_tokens × choices), more than ${options.maxChargeName ?? "the deployment's whole quota"} of ${options.maxCharge}`,
      });
    }
    return {
      id: options.ids?.jobIds[index] ?? newId('req'),
      batchId,
      customId: item.customId,
      kind: options.kind,
      priority: submission.priority,
      deployment: options.deployment,
      request,
      charge,
      status: 'queued',
      attempts: 0,
      result: null,
      usage: null,
      error: null,
      metadata: submission.metadata,
      // Only when present, so a job of the default path is stored exactly as before.
      ...(item.supportiveVariable !== undefined ? { supportiveVariable: item.supportiveVariable } : {}),
      ...(options.queue ? { queue: options.queue } : {}),
      ...(options.provider ? { provider: options.provider } : {}),
      ...(options.providers ? { providers: options.providers } : {}),
      createdAt: at,
      updatedAt: at,
      completedAt: null,
    };
  });
  if (issues.length > 0) throw new SubmissionError(issues);
  const batch: Batch = {
    id: batchId,
    total: jobs.length,
    priority: submission.priority,
    metadata: submission.metadata,
    webhook: submission.webhook,
    ...(options.queue ? { queue: options.queue } : {}),
    createdAt: at,
  };
  return { batch, jobs };
}
