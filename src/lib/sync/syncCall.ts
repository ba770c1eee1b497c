/**
 * A synchronous call: one chat completion at interactive priority through the same gate as batch
 * work. It is stored as a job like any other and run by the same `runJob` orchestration (instance id =
 * request id), with a deadline: a slot (or an upstream retry-after) later than the settings' bound
 * fails the job at once as `rate_limited`, with the time it could have gone, instead of waiting. The
 * caller awaits the orchestration up to that deadline plus one model call.
 */
import { AppSettings, failoverOrderFor } from '../config.js';
import { JobError, Usage } from '../jobs/job.js';
import { newJobs } from '../jobs/newJobs.js';
import { RunJobInput, RunJobOutput, jobStartOf } from '../jobs/pipeline.js';
import { SubmittedItem } from '../jobs/submission.js';
import { JobStore } from '../store/jobStore.js';

/** The two durable client calls a synchronous call needs (DurableClient has both). */
export interface SyncClient {
  startNew(orchestratorFunctionName: string, options: { instanceId: string; input: unknown }): Promise<string>;
  getStatus(instanceId: string): Promise<{ readonly runtimeStatus?: string; readonly output?: unknown } | undefined>;
}

export interface SyncDeps {
  readonly client: SyncClient;
  readonly store: JobStore;
  readonly settings: AppSettings;
  /** The orchestration to start (names.ts: runJob); passed in so lib stays free of the function names. */
  readonly orchestration: string;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type SyncOutcome =
  | { readonly kind: 'completed'; readonly requestId: string; readonly completion: Readonly<Record<string, unknown>>; readonly usage: Usage | null }
  /** No slot (or the deployment's own retry-after) within the bound: try again after `retryAfterMs`. */
  | { readonly kind: 'rate_limited'; readonly requestId: string; readonly retryAfterMs: number; readonly message: string }
  | { readonly kind: 'failed'; readonly requestId: string; readonly error: JobError }
  /** Still running at the end of the wait (a slow model): the result will be at /api/response/{id}. */
  | { readonly kind: 'timeout'; readonly requestId: string };

/** Time after the deadline the caller waits for the last call to come back and be saved. */
export const SAVE_GRACE_MS = 5_000;
const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

/** Where a synchronous route's job comes from (kept in its metadata). */
export type SyncSource = 'completion' | 'chat' | 'openai';

export async function runSyncCall(deps: SyncDeps, item: SubmittedItem, source: SyncSource): Promise<SyncOutcome> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { settings } = deps;
  const { batch, jobs } = newJobs(
    { items: [item], priority: 'interactive', metadata: { source: `sync:${source}` }, webhook: null },
    {
      deployment: settings.deployment,
      model: settings.model,
      defaultMaxTokens: settings.defaultMaxTokens,
      // With several deployments, the largest of them (the job fails over to one it fits).
      maxCharge: Math.max(...settings.deployments.map((d) => d.gate.tokensPerMinute)),
      kind: 'chat',
      now: new Date(now()),
    },
  );
  const job = jobs[0]!;
  await deps.store.createBatch(batch, jobs);
  const deadline = now() + settings.sync.maxWaitMs;
  const order = failoverOrderFor(settings, job.deployment);
  const input: RunJobInput = {
    ...jobStartOf(job),
    policy: settings.retry,
    ...(order !== undefined ? { deployments: order, spilloverWaitMs: settings.spilloverWaitMs } : {}),
    deadline,
    wakeLeadMs: settings.wakeLeadMs,
  };
  await deps.client.startNew(deps.orchestration, { instanceId: job.id, input });
  await deps.store.updateJob(job.id, { status: 'waiting', at: new Date(now()).toISOString() });

  // The last call may start at the deadline and take the model timeout; saving it takes a moment more.
  const giveUpAt = deadline + settings.openai.timeoutMs + SAVE_GRACE_MS;
  let pause = 20;
  for (;;) {
    const status = await deps.client.getStatus(job.id).catch(() => undefined);
    if (status?.runtimeStatus !== undefined && TERMINAL.has(status.runtimeStatus)) return outcomeOf(deps, job.id, status.runtimeStatus, status.output, now());
    if (now() >= giveUpAt) return { kind: 'timeout', requestId: job.id };
    await sleep(Math.min(pause, Math.max(1, giveUpAt - now())));
    pause = Math.min(500, Math.ceil(pause * 1.5));
  }
}

async function outcomeOf(deps: SyncDeps, requestId: string, runtimeStatus: string, output: unknown, now: number): Promise<SyncOutcome> {
  if (runtimeStatus !== 'Completed') {
    return { kind: 'failed', requestId, error: { status: null, code: 'orchestration_failed', message: `the job's orchestration ended ${runtimeStatus.toLowerCase()}` } };
  }
  const job = await deps.store.getJob(requestId);
  const result = (typeof output === 'object' && output !== null ? output : {}) as Partial<RunJobOutput>;
  if (job?.status === 'completed' && job.result !== null) return { kind: 'completed', requestId, completion: job.result, usage: job.usage };
  const error: JobError = job?.error ?? { status: null, code: 'result_missing', message: 'the job ended without a stored result' };
  if (typeof result.retryAt === 'number') {
    return { kind: 'rate_limited', requestId, retryAfterMs: Math.max(0, Math.ceil(result.retryAt - now)), message: error.message };
  }
  return { kind: 'failed', requestId, error };
}
