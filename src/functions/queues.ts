/**
 * The named queues API: `POST /api/queues` (create or update by `queue_name`), `GET /api/queues`,
 * `GET /api/queues/{name}`, `DELETE /api/queues/{name}`. Every answer about one queue carries its
 * `ETag`; `If-Match` (update, delete) and `If-None-Match: *` (create only) make writes conditional,
 * answered 412 when the queue is not at that version. Provider secrets are never part of a queue.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { isQueueName, parseQueueInput, queueBody, QueueValidationError } from '../lib/queues/queue.js';
import { StoredQueue } from '../lib/queues/queueStore.js';
import { deleteQueue, httpEtag, QueueConflictError, upsertQueue } from '../lib/queues/service.js';
import { services } from '../lib/services.js';
import { errorResponse } from './http.js';

/** A queue body is small; anything larger is not a queue. */
export const MAX_QUEUE_BODY_BYTES = 64 * 1024;

function one(stored: StoredQueue, status: number): HttpResponseInit {
  const etag = httpEtag(stored.etag);
  return { status, headers: { etag }, jsonBody: queueBody(stored.queue, etag) };
}

function conflict(error: QueueConflictError): HttpResponseInit {
  return errorResponse(error.status, error.code, error.message);
}

function notFound(name: string): HttpResponseInit {
  return errorResponse(404, 'not_found', `no queue named "${name}"`);
}

export async function queuesUpsert(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > MAX_QUEUE_BODY_BYTES) return errorResponse(413, 'body_too_large', `a queue body is at most ${MAX_QUEUE_BODY_BYTES} bytes`);
  const text = await request.text();
  if (Buffer.byteLength(text, 'utf8') > MAX_QUEUE_BODY_BYTES) return errorResponse(413, 'body_too_large', `a queue body is at most ${MAX_QUEUE_BODY_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    return { status: 400, jsonBody: { error: { code: 'invalid_queue', message: 'the body is not valid JSON', issues: [{ field: '', message: 'the body is not valid JSON' }] } } };
  }
  try {
    const input = parseQueueInput(body);
    const { store } = await services();
    const { created, stored } = await upsertQueue(store, input, {
      ifMatch: request.headers.get('if-match'),
      ifNoneMatch: request.headers.get('if-none-match'),
    });
    context.log(`queue ${stored.queue.name} ${created ? 'created' : 'updated'}`);
    return one(stored, created ? 201 : 200);
  } catch (error) {
    if (error instanceof QueueValidationError) {
      return { status: 400, jsonBody: { error: { code: 'invalid_queue', message: error.message, issues: error.issues } } };
    }
    if (error instanceof QueueConflictError) return conflict(error);
    throw error;
  }
}

export async function queuesList(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const { store } = await services();
  const queues = await store.listQueues();
  return { status: 200, jsonBody: { queues: queues.map((q) => queueBody(q.queue, httpEtag(q.etag))) } };
}

export async function queueGet(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const name = request.params.name ?? '';
  if (!isQueueName(name)) return notFound(name);
  const { store } = await services();
  const stored = await store.getQueue(name);
  return stored ? one(stored, 200) : notFound(name);
}

export async function queueDelete(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const name = request.params.name ?? '';
  if (!isQueueName(name)) return notFound(name);
  const { store } = await services();
  try {
    if (!(await deleteQueue(store, name, request.headers.get('if-match')))) return notFound(name);
  } catch (error) {
    if (error instanceof QueueConflictError) return conflict(error);
    throw error;
  }
  context.log(`queue ${name} deleted`);
  return { status: 204 };
}

app.http('queuesUpsert', { methods: ['POST'], route: 'queues', authLevel: 'function', handler: queuesUpsert });
app.http('queuesList', { methods: ['GET'], route: 'queues', authLevel: 'function', handler: queuesList });
app.http('queueGet', { methods: ['GET'], route: 'queues/{name}', authLevel: 'function', handler: queueGet });
app.http('queueDelete', { methods: ['DELETE'], route: 'queues/{name}', authLevel: 'function', handler: queueDelete });
