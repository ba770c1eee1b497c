/**
 * Event Hub trigger on `jobs` (cardinality many): starts one `runJob` orchestration per job, with the
 * request id as instance id. Event Hubs delivers at least once; startJobOnce makes redelivery harmless.
 */
import { app, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { DispatchMessage } from '../lib/jobs/pipeline.js';
import { mapWithConcurrency } from '../lib/mapWithConcurrency.js';
import { services } from '../lib/services.js';
import { correlated } from '../lib/telemetry/correlation.js';
import { telemetry } from '../lib/telemetry/metrics.js';
import { isIssuedId } from './http.js';
import { StartResult, startJobOnce } from './startJob.js';

export type DispatchResult = StartResult | 'unknown_job';

/**
 * Starts in flight per batch: each start is a few round trips to the store and the durable extension,
 * so a batch of 100 done one by one would hold its partition for seconds.
 */
export const DISPATCH_CONCURRENCY = 16;

/** How long the batch's events waited in the hub: the host gives their enqueued times. */
function recordLag(context: InvocationContext): void {
  const times = context.triggerMetadata?.enqueuedTimeUtcArray;
  if (!Array.isArray(times)) return;
  const now = Date.now();
  for (const time of times) telemetry.queueLagSince('jobs', time, now);
}

export async function dispatchJobs(messages: unknown[], context: InvocationContext): Promise<DispatchResult[]> {
  const { store, settings } = await services();
  const client = df.getClient(context);
  recordLag(context);
  return mapWithConcurrency(messages, DISPATCH_CONCURRENCY, async (raw): Promise<DispatchResult> => {
    const jobId = (raw as Partial<DispatchMessage> | null | undefined)?.jobId;
    // Only an id of the shape the producer issues is looked up: the store throws on some others ('', '/',
    // '#'), which would fail the whole batch and redeliver it forever, blocking the partition.
    const wellFormed = typeof jobId === 'string' && isIssuedId(jobId);
    const job = wellFormed ? await store.getJob(jobId) : undefined;
    if (!job) {
      // Nothing to run and nothing a retry would fix: log and move on rather than block the partition.
      // A malformed id is described, not logged: it could be anything, prompt text included.
      const requestId = wellFormed ? jobId : `(malformed: ${typeof jobId === 'string' ? `a string of ${jobId.length} characters` : jobId === null ? 'null' : typeof jobId})`;
      context.warn(correlated('dispatchJobs: event for an unknown job dropped', { requestId }));
      return 'unknown_job';
    }
    return startJobOnce(client, store, job, settings.retry);
  });
}

app.eventHub('dispatchJobs', {
  eventHubName: 'jobs',
  connection: 'EventHubConnection',
  consumerGroup: '%EVENTHUB_CONSUMER_GROUP%',
  cardinality: 'many',
  extraInputs: [df.input.durableClient()],
  handler: async (messages, context) => {
    await dispatchJobs(messages as unknown[], context);
  },
});
