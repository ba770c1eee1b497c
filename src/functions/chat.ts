/**
 * `POST /api/chat` with one chat completion request (`{ messages, ... }`, validated as the producer
 * validates an item): answered at interactive priority through the same gate as batch work. 200 with
 * the `chat.completion`; 429 with an honest `retry-after` when no slot comes within
 * SYNC_MAX_WAIT_SECONDS; 400 (413) for a bad (too large) request.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { SubmissionError } from '../lib/jobs/submission.js';
import { services } from '../lib/services.js';
import { parseSyncRequest } from '../lib/sync/request.js';
import { appRefusal, appResponse } from '../lib/sync/responses.js';
import { runSyncCall } from '../lib/sync/syncCall.js';
import { ORCHESTRATION_NAMES } from './names.js';

export async function chat(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { settings, store } = await services();
  try {
    const declared = Number(request.headers.get('content-length') ?? Number.NaN);
    if (declared > settings.limits.maxBodyBytes) {
      throw new SubmissionError([{ item: null, field: '', message: `body of ${declared} bytes is over the limit of ${settings.limits.maxBodyBytes}` }], 413);
    }
    const item = parseSyncRequest(Buffer.from(await request.arrayBuffer()), settings.limits);
    const outcome = await runSyncCall({ client: df.getClient(context), store, settings, orchestration: ORCHESTRATION_NAMES.runJob }, item, 'chat');
    context.log(`chat ${outcome.requestId}: ${outcome.kind}`);
    return appResponse(outcome);
  } catch (error) {
    if (error instanceof SubmissionError) return appRefusal(error);
    throw error;
  }
}

app.http('chat', { methods: ['POST'], route: 'chat', authLevel: 'function', extraInputs: [df.input.durableClient()], handler: chat });
