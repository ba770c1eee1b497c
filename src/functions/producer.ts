/**
 * `POST /api/producer`: validates every request before anything is written, records the batch and its
 * jobs as queued, and sends one event per job to Event Hub `jobs`, which starts their orchestrations.
 * A named queue (envelope `queue`, or `?queue=` for any body, JSONL included) routes the jobs to its
 * providers (the first, spilling over to the others) and gives them its priority when the submission
 * names none.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext, output } from '@azure/functions';
import { newJobs } from '../lib/jobs/newJobs.js';
import { DispatchMessage } from '../lib/jobs/pipeline.js';
import { parseSubmission, Submission, SubmissionError } from '../lib/jobs/submission.js';
import { Queue } from '../lib/queues/queue.js';
import { routeFor } from '../lib/queues/routing.js';
import { resolveQueue } from '../lib/queues/service.js';
import { services } from '../lib/services.js';
import { JobStore } from '../lib/store/jobStore.js';
import { correlated } from '../lib/telemetry/correlation.js';

export const jobsHub = output.eventHub({ eventHubName: 'jobs', connection: 'EventHubConnection' });

const refused = (error: SubmissionError): HttpResponseInit => ({ status: error.status, jsonBody: error.toResponseBody() });

export async function producer(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { settings, store } = await services();
  const { limits } = settings;
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > limits.maxBodyBytes) {
    return refused(new SubmissionError([{ item: null, field: '', message: `body of ${declared} bytes is over the limit of ${limits.maxBodyBytes}` }], 413));
  }
  try {
    const body = Buffer.from(await request.arrayBuffer());
    const parsed = parseSubmission(body, request.headers.get('content-type'), limits);
    const queue = await queueOf(store, parsed, request.query.get('queue'));
    const route = routeFor(queue, { deployment: settings.deployment, model: settings.model, tokensPerMinute: settings.gate.tokensPerMinute });
    const submission: Submission = route.priority !== null && !parsed.priorityGiven ? { ...parsed, priority: route.priority } : parsed;
    const { batch, jobs } = newJobs(submission, {
      deployment: route.deployment,
      model: route.model,
      defaultMaxTokens: settings.defaultMaxTokens,
      maxCharge: route.maxCharge,
      maxChargeName: route.maxChargeName,
      ...(route.queue ? { queue: route.queue } : {}),
      ...(route.provider ? { provider: route.provider } : {}),
      ...(route.providers ? { providers: route.providers } : {}),
      kind: 'chat',
      now: new Date(),
    });
    await store.createBatch(batch, jobs);
    const events: DispatchMessage[] = jobs.map((job) => ({ jobId: job.id, deployment: job.deployment, charge: job.charge, priority: job.priority }));
    context.extraOutputs.set(jobsHub, events);
    context.log(correlated(`producer: ${jobs.length} job(s) queued`, { batchId: batch.id }));
    return {
      status: 202,
      jsonBody: { batch_id: batch.id, request_ids: jobs.map((job) => job.id), detail: `${events.length} event(s) sent successfully` },
    };
  } catch (error) {
    if (error instanceof SubmissionError) return refused(error);
    throw error;
  }
}

/** The queue the submission names (envelope or query; they must agree), or null. Unknown: a 400 on `queue`. */
async function queueOf(store: JobStore, submission: Submission, fromQuery: string | null): Promise<Queue | null> {
  const fromBody = submission.queue ?? null;
  const named = fromQuery === null || fromQuery === '' ? fromBody : fromQuery;
  if (named === null) return null;
  if (fromBody !== null && fromBody !== named) {
    throw new SubmissionError([{ item: null, field: 'queue', message: `names "${fromBody}" while ?queue= names "${fromQuery}": give one` }]);
  }
  const queue = await resolveQueue(store, named);
  if (!queue) throw new SubmissionError([{ item: null, field: 'queue', message: `no queue is named "${named}" or has that id` }]);
  return queue;
}

app.http('producer', { methods: ['POST'], route: 'producer', authLevel: 'function', extraOutputs: [jobsHub], handler: producer });
