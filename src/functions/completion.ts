/**
 * `GET /api/completion?query=...` (optional `system`, `max_tokens`): one question answered at
 * interactive priority through the same gate as batch work. 200 with the `chat.completion`; 429 with
 * an honest `retry-after` when no slot comes within SYNC_MAX_WAIT_SECONDS; 400 for a bad request.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { SubmissionError } from '../lib/jobs/submission.js';
import { services } from '../lib/services.js';
import { completionQueryRequest } from '../lib/sync/request.js';
import { appRefusal, appResponse } from '../lib/sync/responses.js';
import { runSyncCall } from '../lib/sync/syncCall.js';
import { ORCHESTRATION_NAMES } from './names.js';

export async function completion(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { settings, store } = await services();
  try {
    const item = completionQueryRequest(request.query.get('query'), request.query.get('system'), request.query.get('max_tokens'), settings.limits);
    const outcome = await runSyncCall({ client: df.getClient(context), store, settings, orchestration: ORCHESTRATION_NAMES.runJob }, item, 'completion');
    context.log(`completion ${outcome.requestId}: ${outcome.kind}`);
    return appResponse(outcome);
  } catch (error) {
    if (error instanceof SubmissionError) return appRefusal(error);
    throw error;
  }
}

app.http('completion', { methods: ['GET'], route: 'completion', authLevel: 'function', extraInputs: [df.input.durableClient()], handler: completion });
