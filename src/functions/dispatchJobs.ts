/**
 * Event Hub trigger on `jobs` (cardinality many): starts one `runJob` orchestration per job, with the
 * request id as instance id. Event Hubs delivers at least once; startJobOnce makes redelivery harmless.
 */
import { app, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { DispatchMessage } from '../lib/jobs/pipeline.js';
import { mapWithConcurrency } from '../lib/mapWithConcurrency.js';
import { services } from '../lib/services.js';
import { StartResult, startJobOnce } from './startJob.js';

export type DispatchResult = StartResult | 'unknown_job';

/**
 * Starts in flight per batch: each start is a few round trips to the store and the durable extension,
 * so a batch of 100 done one by one would hold its partition for seconds.
 */
export const DISPATCH_CONCURRENCY = 16;

export async function dispatchJobs(messages: unknown[], context: InvocationContext): Promise<DispatchResult[]> {
  const { store, settings } = await services();
  const client = df.getClient(context);
  return mapWithConcurrency(messages, DISPATCH_CONCURRENCY, async (raw): Promise<DispatchResult> => {
    const message = raw as DispatchMessage;
    const job = typeof message?.jobId === 'string' ? await store.getJob(message.jobId) : undefined;
    if (!job) {
      // Nothing to run and nothing a retry would fix: log and move on rather than block the partition.
      context.warn(`dispatchJobs: event for unknown job ${String(message?.jobId)} dropped`);
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
