/**
 * Service Bus trigger on `feedback-in`: each feedback form becomes one feedback-analysis job run by the
 * same `runJob` orchestration; `saveResult` sends the analysis to `feedback-out`. The job id comes from
 * the message id, so a redelivered message analyses nothing twice. A message that cannot be parsed
 * fails at once and every time: Service Bus moves it to the dead-letter queue after the queue's max
 * delivery count (the Node programming model cannot dead-letter explicitly), and the others go on.
 */
import { app, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { FeedbackFormError, feedbackJobId, feedbackRequest, parseFeedbackForm } from '../lib/jobs/feedback.js';
import { newJobs } from '../lib/jobs/newJobs.js';
import { services } from '../lib/services.js';
import { telemetry } from '../lib/telemetry/metrics.js';
import { StartResult, startJobOnce } from './startJob.js';

export async function processFeedback(message: unknown, context: InvocationContext): Promise<StartResult> {
  const messageId = String(context.triggerMetadata?.messageId ?? context.invocationId);
  telemetry.queueLagSince('feedback-in', context.triggerMetadata?.enqueuedTimeUtc, Date.now());
  let form;
  try {
    form = parseFeedbackForm(message);
  } catch (error) {
    if (error instanceof FeedbackFormError) context.error(`feedback message ${messageId} cannot be analysed (${error.message}); it goes to the dead-letter queue`);
    throw error;
  }
  const { settings, store } = await services();
  const jobId = feedbackJobId(messageId);
  const { batch, jobs } = newJobs(
    {
      items: [{ customId: form.id, request: feedbackRequest(form) }],
      priority: 'batch',
      metadata: { source: 'feedback-in', message_id: messageId, channel: form.channel, customer: form.customer },
      webhook: null,
    },
    {
      deployment: settings.deployment,
      model: settings.model,
      defaultMaxTokens: settings.defaultMaxTokens,
      maxCharge: settings.gate.tokensPerMinute,
      kind: 'feedback',
      now: new Date(),
      ids: { batchId: `${jobId}_batch`, jobIds: [jobId] },
    },
  );
  await store.createBatch(batch, jobs);
  const stored = (await store.getJob(jobId)) ?? jobs[0]!;
  return startJobOnce(df.getClient(context), store, stored, settings.retry);
}

app.serviceBusQueue('processFeedback', {
  queueName: 'feedback-in',
  connection: 'ServiceBusConnection',
  extraInputs: [df.input.durableClient()],
  handler: async (message, context) => {
    await processFeedback(message, context);
  },
});
