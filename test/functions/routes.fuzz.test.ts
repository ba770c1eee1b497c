/**
 * Hostile input to the read routes (issue #8, point 3): `GET /api/response/{id}`, `/api/batches/{id}` and
 * `/api/batches/{id}/results` with ids, continuation tokens, formats and limits of any shape, through the
 * real handlers and a real Cosmos store on the local server. The answer is a 200 for what exists and a
 * 4xx with a JSON error for everything else; never a 5xx (a thrown handler).
 */
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchResults, batchStatus, MAX_PAGE_SIZE, RESULT_FORMATS } from '../../src/functions/batches.js';
import { producer } from '../../src/functions/producer.js';
import { response } from '../../src/functions/response.js';
import { loadSettings } from '../../src/lib/config.js';
import { useServices } from '../../src/lib/services.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { unreachableModel } from '../support/models.js';

let cosmos: LocalCosmos;
let batchId: string;
let requestIds: string[];
let handedOut: string;

const context = () => new InvocationContext({ invocationId: 'fuzz', functionName: 'routes', logHandler: () => undefined });

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-routes-fuzz');
  useServices({ settings: loadSettings({}), store: cosmos.store, model: unreachableModel });
  const body = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ custom_id: `r-${i}`, messages: [{ role: 'user', content: `item ${i}` }], max_tokens: 5 })));
  const res = await producer(new HttpRequest({ method: 'POST', url: 'http://localhost/api/producer', headers: { 'content-type': 'application/json' }, body: { string: body } }), context());
  ({ batch_id: batchId, request_ids: requestIds } = res.jsonBody as { batch_id: string; request_ids: string[] });
  const at = new Date().toISOString();
  for (const id of requestIds) await cosmos.store.updateJob(id, { status: 'completed', attempts: 1, result: { object: 'chat.completion', choices: [] }, at });
  const first = await batchResults(get(`batches/${batchId}/results`, { batch_id: batchId }, { limit: '2' }), context());
  handedOut = String((first.headers as Record<string, string>)['x-continuation']);
});
afterAll(() => cosmos.close());

function get(path: string, params: Record<string, string>, query: Record<string, string> = {}): HttpRequest {
  // The handlers read the id from params (the host decodes the path); the URL only carries the query.
  const url = new URL(`http://localhost/api/${path.split('/').map((part) => encodeURIComponent(Buffer.from(part, 'utf8').toString('utf8'))).join('/')}`);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return new HttpRequest({ method: 'GET', url: url.href, params });
}

/** A 4xx with `{ error: { code, message } }` that survives JSON serialization. */
function refused(res: HttpResponseInit, status?: number): string {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  if (status !== undefined) expect(res.status).toBe(status);
  const body = JSON.parse(JSON.stringify(res.jsonBody)) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
  return body.error!.code as string;
}

/** Ids of every shape: path tricks, characters Cosmos DB refuses, lone surrogates, huge, near-misses of real ids. */
const hostileId = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('/', '\\', '#', '?', '%', '.', ' ', '\u0000', '\ud800', 'a', '_', '-'), maxLength: 8 }),
  fc.constantFrom('', '.', '..', '../..', '../batches', './x', 'a/b', 'a\\b', '#', '?x=1', '%2e%2e', '\ud800', '\u0000', ' ', 'null', 'undefined', '[object Object]', 'x'.repeat(256), 'x'.repeat(100_000), "' OR 1=1 --", 'SELECT * FROM c'),
  fc.integer({ min: 0, max: 4 }).chain((i) => fc.constantFrom(`${requestIds[i]}x`, ` ${requestIds[i]}`, requestIds[i]!.toUpperCase(), requestIds[i]!.slice(0, -1), `${batchId}/`, `${batchId}\u0000`)),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => `req_${Buffer.from(bytes).toString('base64url')}`),
);

describe('the read routes under hostile input', () => {
  it('GET /api/response/{id}: 200 only for a real id, otherwise 404 JSON', async () => {
    await fc.assert(
      fc.asyncProperty(hostileId, async (id) => {
        const res = await response(get(`response/${id}`, { request_id: id }), context());
        if (requestIds.includes(id)) expect(res.status).toBe(200);
        else expect(refused(res, 404)).toBe('not_found');
      }),
      { numRuns: 300 },
    );
    expect((await response(get(`response/${requestIds[0]}`, { request_id: requestIds[0]! }), context())).status).toBe(200);
    // No id at all (the host never routes that, but the handler must not care).
    refused(await response(new HttpRequest({ method: 'GET', url: 'http://localhost/api/response/' }), context()), 404);
  });

  it('GET /api/batches/{id} and /results: 404 JSON for any id that is not a batch', async () => {
    await fc.assert(
      fc.asyncProperty(hostileId, async (id) => {
        const status = await batchStatus(get(`batches/${id}`, { batch_id: id }), context());
        const results = await batchResults(get(`batches/${id}/results`, { batch_id: id }), context());
        if (id === batchId) return;
        expect(refused(status, 404)).toBe('not_found');
        expect(refused(results, 404)).toBe('not_found');
      }),
      { numRuns: 300 },
    );
    // A request id is not a batch id.
    refused(await batchStatus(get(`batches/${requestIds[0]}`, { batch_id: requestIds[0]! }), context()), 404);
  });

  it('results: any format, limit and continuation is a 200 page or a 4xx JSON error, exactly as the rules say', async () => {
    const format = fc.oneof(fc.constantFrom(...RESULT_FORMATS, 'JSONL', 'xml', '', 'json ', 'csv;', '../jsonl'), fc.string({ unit: 'binary', maxLength: 10 }));
    const limit = fc.oneof(
      fc.integer({ min: -10, max: MAX_PAGE_SIZE + 10 }).map(String),
      fc.constantFrom('', ' ', '1.5', '1e3', '0x10', 'NaN', 'Infinity', '-0', '10000000000000000000000', ' 7 ', '5001', '٣'),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    const continuation = fc.oneof(
      fc.constant(handedOut),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.jsonValue({ maxDepth: 2 }).map((value) => Buffer.from(JSON.stringify(value) ?? '', 'utf8').toString('base64url')),
      fc.tuple(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })).map((pair) => Buffer.from(JSON.stringify(pair), 'utf8').toString('base64url')),
      fc.constantFrom('', '=', '====', '%%%', 'W10', 'bnVsbA', Buffer.from('["\ud800","\udfff"]').toString('base64url'), Buffer.from(JSON.stringify(['x'.repeat(10_000), 'y'])).toString('base64url'), 'A'.repeat(100_000)),
    );
    await fc.assert(
      fc.asyncProperty(fc.option(format), fc.option(limit), fc.option(continuation), async (f, l, c) => {
        const query: Record<string, string> = { ...(f === null ? {} : { format: f }), ...(l === null ? {} : { limit: l }), ...(c === null ? {} : { continuation: c }) };
        const res = await batchResults(get(`batches/${batchId}/results`, { batch_id: batchId }, query), context());
        const n = l === null ? 1000 : Number(l);
        if (f !== null && !(RESULT_FORMATS as readonly string[]).includes(f)) expect(refused(res, 400)).toBe('invalid_format');
        else if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) expect(refused(res, 400)).toBe('invalid_limit');
        else if (res.status !== 200) expect(refused(res, 400)).toBe('invalid_continuation');
        else if (c === handedOut) expect(res.headers).toMatchObject({ 'x-batch-done': 'true' });
      }),
      { numRuns: 300 },
    );
  });
});
