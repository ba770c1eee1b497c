/**
 * Activity `saveResult`: the job's final status, result or error, written once. The store only moves
 * a job forward, so a retried activity writes nothing twice. A feedback job's analysis goes to queue
 * `feedback-out`. When the job finishes its batch, exactly
 * one of the finishing jobs claims the batch's completion and reports that it should notify.
 */
import { InvocationContext, output } from '@azure/functions';
import * as df from 'durable-functions';
import { feedbackAnalysisMessage } from '../lib/jobs/feedback.js';
import { SaveResultInput, SaveResultOutput } from '../lib/jobs/pipeline.js';
import { services } from '../lib/services.js';
import { correlated } from '../lib/telemetry/correlation.js';
import { telemetry } from '../lib/telemetry/metrics.js';
import { ACTIVITY_NAMES } from './names.js';

/** Feedback analyses go out on this queue; the host sends them once the activity returns. */
export const feedbackOut = output.serviceBusQueue({ queueName: 'feedback-out', connection: 'ServiceBusConnection' });

export async function saveResult(input: SaveResultInput, context: InvocationContext): Promise<SaveResultOutput> {
  const { store } = await services();
  const at = new Date().toISOString();
  const saved =
    input.status === 'completed'
      ? await store.updateJob(input.jobId, { status: 'completed', attempts: input.attempts, result: input.result, ...(input.usage ? { usage: input.usage } : {}), at })
      : await store.updateJob(input.jobId, { status: 'failed', attempts: input.attempts, error: input.error, at });
  if (!saved) {
    context.warn(correlated('saveResult: job is not in the store: result not saved', { requestId: input.jobId }));
    return { batchId: null, notify: false };
  }
  telemetry.jobFinished(saved.deployment, saved.priority, input.status);
  if (input.status === 'completed' && input.usage) telemetry.tokensUsed(saved.deployment, input.usage.total_tokens);
  context.log(correlated(`saveResult: job ${input.status}`, { requestId: saved.id, batchId: saved.batchId }));
  if (saved.kind === 'feedback') context.extraOutputs.set(feedbackOut, feedbackAnalysisMessage(saved));
  // The report counts every run of this activity, a retried one too, so it never undercounts: below the
  // total the batch cannot be complete, and the COUNT (a query over the batch) runs only near its end.
  const batch = await store.reportFinalJob(saved.batchId);
  if (!batch || batch.completedAt) return { batchId: saved.batchId, notify: false };
  if ((batch.finalReports ?? 0) < batch.total) return { batchId: batch.id, notify: false };
  if ((await store.countUnfinished(batch.id)) > 0) return { batchId: batch.id, notify: false };
  const claimed = await store.claimBatchCompletion(batch.id, at);
  if (claimed) context.log(correlated(`saveResult: all ${batch.total} job(s) of the batch final`, { batchId: batch.id }));
  return { batchId: batch.id, notify: claimed && batch.webhook !== null };
}

df.app.activity(ACTIVITY_NAMES.saveResult, {
  extraOutputs: [feedbackOut],
  handler: (input: unknown, context) => saveResult(input as SaveResultInput, context),
});
