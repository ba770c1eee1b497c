/**
 * `GET /api/batches/{batch_id}`: counts by status and a done flag.
 * `GET /api/batches/{batch_id}/results?format=jsonl|json|csv&limit=N&continuation=...`: one page of the
 * finished jobs (JSONL in the Batch API output format); `x-continuation` names the next page and
 * `x-batch-done` whether more results will come. Paged, so a 100,000-job batch never sits in memory.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { FINAL_STATUSES } from '../lib/jobs/job.js';
import { CSV_HEADER_LINE, isFinal, toBatchOutput, toCsvRow, toJsonResults } from '../lib/jobs/results.js';
import { services } from '../lib/services.js';
import { InvalidContinuationError } from '../lib/store/jobStore.js';
import { errorResponse, isIssuedId } from './http.js';

export const DEFAULT_PAGE_SIZE = 1_000;
export const MAX_PAGE_SIZE = 5_000;
export const RESULT_FORMATS = ['jsonl', 'json', 'csv'] as const;
type ResultFormat = (typeof RESULT_FORMATS)[number];

export async function batchStatus(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.batch_id ?? '';
  if (!isIssuedId(id)) return errorResponse(404, 'not_found', 'no batch has that id');
  const { store } = await services();
  const batch = await store.getBatch(id);
  if (!batch) return errorResponse(404, 'not_found', `no batch with id "${id}"`);
  const counts = await store.countByStatus(id);
  const finished = FINAL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  return {
    status: 200,
    jsonBody: { batch_id: batch.id, total: batch.total, counts, done: finished === batch.total, created_at: batch.createdAt, metadata: batch.metadata },
  };
}

export async function batchResults(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.batch_id ?? '';
  const format = (request.query.get('format') ?? 'jsonl') as ResultFormat;
  if (!RESULT_FORMATS.includes(format)) return errorResponse(400, 'invalid_format', `format must be one of ${RESULT_FORMATS.join(', ')}`);
  const limitText = request.query.get('limit');
  const limit = limitText === null ? DEFAULT_PAGE_SIZE : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) return errorResponse(400, 'invalid_limit', `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  if (!isIssuedId(id)) return errorResponse(404, 'not_found', 'no batch has that id');
  const { store } = await services();
  const batch = await store.getBatch(id);
  if (!batch) return errorResponse(404, 'not_found', `no batch with id "${id}"`);
  let page;
  try {
    page = await store.listJobs(id, request.query.get('continuation'), limit);
  } catch (error) {
    if (error instanceof InvalidContinuationError) return errorResponse(400, 'invalid_continuation', 'continuation was not handed out by this endpoint');
    throw error;
  }
  const jobs = page.jobs.filter(isFinal);
  const done = (await store.countUnfinished(id)) === 0;
  const headers: Record<string, string> = { 'x-batch-done': String(done), ...(page.continuation ? { 'x-continuation': page.continuation } : {}) };
  switch (format) {
    case 'jsonl':
      return { status: 200, headers: { ...headers, 'content-type': 'application/jsonl' }, body: toBatchOutput(jobs) };
    case 'json':
      return { status: 200, headers, jsonBody: { batch_id: id, done, continuation: page.continuation, results: toJsonResults(jobs) } };
    case 'csv':
      // The header row only on the first page, so pages concatenate into one file.
      return { status: 200, headers: { ...headers, 'content-type': 'text/csv; charset=utf-8' }, body: (request.query.get('continuation') ? '' : CSV_HEADER_LINE) + jobs.map(toCsvRow).join('') };
  }
}

app.http('batchStatus', { methods: ['GET'], route: 'batches/{batch_id}', authLevel: 'function', handler: batchStatus });
app.http('batchResults', { methods: ['GET'], route: 'batches/{batch_id}/results', authLevel: 'function', handler: batchResults });
