/**
 * `POST /api/openai/deployments/{deployment}/chat/completions?api-version=...`: Azure OpenAI's chat
 * completions route, so the official `openai` client (`new AzureOpenAI({ endpoint: '<app>/api', ... })`)
 * works against TokenGate unchanged. Each call runs at interactive priority through the same gate as
 * batch work and answers exactly what Azure would: the `chat.completion` (with `usage`), or Azure's
 * error shape with its status (429 with `retry-after` / `retry-after-ms` when no slot comes within
 * SYNC_MAX_WAIT_SECONDS), so the client raises the same error class.
 *
 * The `api-key` / `Authorization: Bearer` header the client sends is ignored: in Azure the function key
 * (`x-functions-key`, which the client can send through `defaultHeaders`) is the auth. The deployment in
 * the path must be one the app serves; with AZURE_OPENAI_DEPLOYMENTS any of them names the whole list,
 * which serves the call from its first deployment with room.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { SubmissionError } from '../lib/jobs/submission.js';
import { services } from '../lib/services.js';
import { parseSyncRequest } from '../lib/sync/request.js';
import { azureDeploymentNotFound, azureRefusal, azureResponse } from '../lib/sync/responses.js';
import { runSyncCall } from '../lib/sync/syncCall.js';
import { ORCHESTRATION_NAMES } from './names.js';

export async function openaiChatCompletions(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { settings, store } = await services();
  const deployment = request.params.deployment ?? '';
  if (!settings.deployments.some((d) => d.name === deployment)) return azureDeploymentNotFound(deployment);
  try {
    const declared = Number(request.headers.get('content-length') ?? Number.NaN);
    if (declared > settings.limits.maxBodyBytes) {
      throw new SubmissionError([{ item: null, field: '', message: `body of ${declared} bytes is over the limit of ${settings.limits.maxBodyBytes}` }], 413);
    }
    const item = parseSyncRequest(Buffer.from(await request.arrayBuffer()), settings.limits);
    const outcome = await runSyncCall({ client: df.getClient(context), store, settings, orchestration: ORCHESTRATION_NAMES.runJob }, item, 'openai');
    context.log(`openai chat completion ${outcome.requestId}: ${outcome.kind}`);
    return azureResponse(outcome);
  } catch (error) {
    if (error instanceof SubmissionError) return azureRefusal(error);
    throw error;
  }
}

app.http('openaiChatCompletions', {
  methods: ['POST'],
  route: 'openai/deployments/{deployment}/chat/completions',
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: openaiChatCompletions,
});
