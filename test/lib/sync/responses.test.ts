/** Synchronous outcomes as HTTP answers, and the single-request validation of the synchronous routes. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SUBMISSION_LIMITS, SubmissionError } from '../../../src/lib/jobs/submission.js';
import { completionQueryRequest, parseSyncRequest } from '../../../src/lib/sync/request.js';
import { appResponse, azureRefusal, azureResponse, retryAfterHeaders, statusForJobError } from '../../../src/lib/sync/responses.js';

const limits = DEFAULT_SUBMISSION_LIMITS;

describe('synchronous responses', () => {
  it('rounds retry-after up to whole seconds and keeps the milliseconds', () => {
    expect(retryAfterHeaders(1)).toEqual({ 'retry-after': '1', 'retry-after-ms': '1' });
    expect(retryAfterHeaders(2_000)).toEqual({ 'retry-after': '2', 'retry-after-ms': '2000' });
    expect(retryAfterHeaders(2_000.2)).toEqual({ 'retry-after': '3', 'retry-after-ms': '2001' });
    expect(retryAfterHeaders(-5)).toEqual({ 'retry-after': '0', 'retry-after-ms': '0' });
  });

  it('keeps the upstream status, and names one for failures without a response', () => {
    expect(statusForJobError({ status: 400, code: 'content_filter', message: '' })).toBe(400);
    expect(statusForJobError({ status: 401, code: null, message: '' })).toBe(401);
    expect(statusForJobError({ status: 503, code: null, message: '' })).toBe(503);
    expect(statusForJobError({ status: null, code: 'timeout', message: '' })).toBe(504);
    expect(statusForJobError({ status: null, code: 'connection_error', message: '' })).toBe(502);
    expect(statusForJobError({ status: null, code: 'deferred_too_often', message: '' })).toBe(503);
    expect(statusForJobError({ status: null, code: 'gate_invalid_config', message: '' })).toBe(500);
  });

  it('answers in Azure OpenAI\'s shapes on the compatible route and in the app\'s on the others', () => {
    const completion = { id: 'chatcmpl-1', object: 'chat.completion', usage: { total_tokens: 3 } };
    expect(azureResponse({ kind: 'completed', requestId: 'req_1', completion, usage: null })).toEqual({ status: 200, headers: { 'x-request-id': 'req_1' }, jsonBody: completion });
    expect(azureResponse({ kind: 'rate_limited', requestId: 'req_1', retryAfterMs: 1_500, message: 'later' })).toMatchObject({
      status: 429,
      headers: { 'retry-after': '2', 'retry-after-ms': '1500', 'x-request-id': 'req_1' },
      jsonBody: { error: { code: '429' } },
    });
    expect(azureResponse({ kind: 'failed', requestId: 'req_1', error: { status: 400, code: 'content_filter', message: 'filtered' } })).toMatchObject({
      status: 400,
      jsonBody: { error: { code: 'content_filter', message: 'filtered' } },
    });
    expect(appResponse({ kind: 'rate_limited', requestId: 'req_2', retryAfterMs: 900, message: 'later' })).toMatchObject({
      status: 429,
      headers: { 'retry-after': '1', 'retry-after-ms': '900' },
      jsonBody: { error: { code: 'rate_limited', request_id: 'req_2' } },
    });
    expect(appResponse({ kind: 'timeout', requestId: 'req_3' })).toMatchObject({ status: 504, jsonBody: { error: { message: expect.stringContaining('/api/response/req_3') } } });
    const refusal = azureRefusal(new SubmissionError([{ item: 0, field: 'messages', message: 'must not be empty' }]));
    expect(refusal).toMatchObject({ status: 400, jsonBody: { error: { param: 'messages', type: 'invalid_request_error' } } });
  });
});

describe('synchronous requests', () => {
  it('takes exactly one chat completion request, validated as the producer validates an item', () => {
    expect(parseSyncRequest(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }), limits).request).toEqual({
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });
    for (const body of ['[{"messages":[{"role":"user","content":"a"}]}]', '{"requests":[{"messages":[{"role":"user","content":"a"}]}]}', '{"custom_id":"a","method":"POST","url":"/chat/completions","body":{"messages":[{"role":"user","content":"a"}]}}']) {
      expect(() => parseSyncRequest(body, limits), body).toThrow(/expected one chat completion request/);
    }
    expect(() => parseSyncRequest('{"messages":[],"max_tokens":5}', limits)).toThrow(SubmissionError);
    expect(() => parseSyncRequest('{"messages":[{"role":"user","content":"a"}],"stream":true}', limits)).toThrow(/streaming is not supported/);
  });

  it('builds the completion route\'s request from its query', () => {
    expect(completionQueryRequest('Why?', 'Be brief', '30', limits).request).toEqual({
      messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Why?' }],
      max_tokens: 30,
    });
    expect(() => completionQueryRequest(null, null, null, limits)).toThrow(/query: is required/);
    expect(() => completionQueryRequest('a', null, '0', limits)).toThrow(/max_tokens/);
  });
});
