/** `GET /api/response/{request_id}`: a job's status and, once final, its `chat.completion` or its error. */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { FINAL_STATUSES } from '../lib/jobs/job.js';
import { services } from '../lib/services.js';
import { errorResponse, isIssuedId } from './http.js';

export async function response(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.request_id ?? '';
  if (!isIssuedId(id)) return errorResponse(404, 'not_found', 'no request has that id');
  const { store } = await services();
  const job = await store.getJob(id);
  if (!job) return errorResponse(404, 'not_found', `no request with id "${id}"`);
  return {
    status: 200,
    jsonBody: {
      request_id: job.id,
      batch_id: job.batchId,
      custom_id: job.customId,
      status: job.status,
      done: FINAL_STATUSES.includes(job.status),
      attempts: job.attempts,
      created_at: job.createdAt,
      updated_at: job.updatedAt,
      completed_at: job.completedAt,
      result: job.result,
      usage: job.usage,
      error: job.error,
      metadata: job.metadata,
    },
  };
}

app.http('response', { methods: ['GET'], route: 'response/{request_id}', authLevel: 'function', handler: response });
