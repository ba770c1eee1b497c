/**
 * Starts a job's orchestration exactly once, whatever the delivery count: a job no longer queued was
 * already started, and a start that fails because the instance exists is recognised by reading that
 * instance back. Shared by the Event Hub and Service Bus triggers.
 */
import { DurableClient } from 'durable-functions';
import { AcquireQueue } from '../lib/gate/types.js';
import { Job } from '../lib/jobs/job.js';
import { jobStartOf, runJobInputFor } from '../lib/jobs/pipeline.js';
import { gateKeyFor } from '../lib/model/providers.js';
import { RetryPolicy } from '../lib/jobs/retryPolicy.js';
import { JobStore } from '../lib/store/jobStore.js';
import { ORCHESTRATION_NAMES } from './names.js';

export type StartResult = 'started' | 'already_started';

export async function startJobOnce(
  client: DurableClient,
  store: JobStore,
  job: Job,
  policy: RetryPolicy,
  log: (message: string) => void = (message) => console.warn(message),
): Promise<StartResult> {
  if (job.status !== 'queued') return 'already_started';
  const queue = await queueLimitsOf(store, job, log);
  try {
    await client.startNew(ORCHESTRATION_NAMES.runJob, {
      instanceId: job.id,
      input: runJobInputFor(jobStartOf(job), policy, queue, job.providers?.map(gateKeyFor)),
    });
  } catch (error) {
    const existing = await client.getStatus(job.id).catch(() => undefined);
    if (!existing) throw error;
    return 'already_started';
  }
  await store.updateJob(job.id, { status: 'waiting', at: new Date().toISOString() });
  return 'started';
}

/**
 * The job's queue and its limits as they stand now, for the gate. A queue deleted since submission (or
 * replaced by another of the same name) has no limits to keep: the job goes on as default-queue work.
 * A store failure throws, so the trigger delivers the job again.
 */
async function queueLimitsOf(store: JobStore, job: Job, log: (message: string) => void): Promise<AcquireQueue | undefined> {
  if (job.queue === undefined) return undefined;
  const stored = await store.getQueue(job.queue.name);
  if (stored === undefined || stored.queue.id !== job.queue.id) {
    log(`job ${job.id}: queue ${job.queue.name} (${job.queue.id}) no longer exists; running it without queue limits`);
    return undefined;
  }
  const { limits } = stored.queue;
  return {
    name: stored.queue.name,
    windowMs: limits.windowSeconds * 1000,
    ...(limits.tokens !== null ? { tokensPerWindow: limits.tokens } : {}),
    ...(limits.requests !== null ? { requestsPerWindow: limits.requests } : {}),
  };
}
