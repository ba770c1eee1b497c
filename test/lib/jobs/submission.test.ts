import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRIORITIES } from '../../../src/lib/gate/types.js';
import {
  DEFAULT_SUBMISSION_LIMITS,
  MAX_REPORTED_ISSUES,
  MESSAGE_ROLES,
  Submission,
  SubmissionError,
  SubmissionLimits,
  ValidationIssue,
  firstInvalidUtf8,
  parseSubmission,
} from '../../../src/lib/jobs/submission.js';

const LIMITS = DEFAULT_SUBMISSION_LIMITS;
const JSON_TYPE = 'application/json';
const JSONL_TYPE = 'application/jsonl';

const request = (text = 'Hello', extra: Record<string, unknown> = {}) => ({
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: text },
  ],
  max_tokens: 100,
  ...extra,
});

const batchLine = (customId: string, body: unknown = request(), extra: Record<string, unknown> = {}) => ({
  custom_id: customId,
  method: 'POST',
  url: '/chat/completions',
  body,
  ...extra,
});

const jsonl = (...lines: unknown[]) => lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');

function parse(body: unknown, contentType: string | null = JSON_TYPE, limits: SubmissionLimits = LIMITS): Submission {
  return parseSubmission(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), contentType, limits);
}

function fail(body: unknown, contentType: string | null = JSON_TYPE, limits: SubmissionLimits = LIMITS): SubmissionError {
  try {
    parse(body, contentType, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(SubmissionError);
    return error as SubmissionError;
  }
  throw new Error('expected a SubmissionError');
}

/** The issues as `item:field` strings, for compact assertions. */
const where = (error: SubmissionError) => error.issues.map((i) => `${i.item}:${i.field}`);

describe('parseSubmission: accepted shapes', () => {
  it('takes one chat completion request', () => {
    const sub = parse(request('Hi', { seed: 7, tools: [{ type: 'function', function: { name: 'f' } }], response_format: { type: 'json_object' } }));
    expect(sub.priority).toBe('batch');
    expect(sub.metadata).toBeNull();
    expect(sub.webhook).toBeNull();
    expect(sub.items).toHaveLength(1);
    expect(sub.items[0]!.customId).toBeNull();
    // Unknown fields pass through untouched.
    expect(sub.items[0]!.request).toEqual(
      request('Hi', { seed: 7, tools: [{ type: 'function', function: { name: 'f' } }], response_format: { type: 'json_object' } }),
    );
  });

  it('drops model (the deployment decides) and lifts custom_id out of the request', () => {
    const sub = parse([{ ...request('a'), model: 'gpt-4o', custom_id: 'x-1' }, request('b')]);
    expect(sub.items.map((i) => i.customId)).toEqual(['x-1', null]);
    expect(sub.items[0]!.request).toEqual(request('a'));
    expect('model' in sub.items[0]!.request).toBe(false);
    expect('custom_id' in sub.items[0]!.request).toBe(false);
  });

  it('takes a JSON array of requests, in order', () => {
    const sub = parse([request('one'), request('two'), request('three')]);
    expect(sub.items.map((i) => i.request.messages[1]!.content)).toEqual(['one', 'two', 'three']);
    expect(sub.priority).toBe('batch');
  });

  it('takes an envelope with priority, metadata and webhook', () => {
    const sub = parse({
      requests: [request('a'), request('b')],
      priority: 'interactive',
      metadata: { project: 'x', run: 3, dry: false, note: null },
      webhook: 'https://example.com/hooks/done?k=1',
    });
    expect(sub.items).toHaveLength(2);
    expect(sub.priority).toBe('interactive');
    expect(sub.metadata).toEqual({ project: 'x', run: 3, dry: false, note: null });
    expect(sub.webhook).toBe('https://example.com/hooks/done?k=1');
  });

  it('defaults an envelope to batch priority and no metadata or webhook', () => {
    const sub = parse({ requests: [request()], priority: null, metadata: null, webhook: null });
    expect(sub).toMatchObject({ priority: 'batch', metadata: null, webhook: null });
  });

  it('allows http webhooks only for localhost and 127.0.0.1', () => {
    expect(parse({ requests: [request()], webhook: 'http://localhost:7071/api/hook' }).webhook).toBe('http://localhost:7071/api/hook');
    expect(parse({ requests: [request()], webhook: 'http://127.0.0.1:8080/x' }).webhook).toBe('http://127.0.0.1:8080/x');
  });

  it('takes a Batch API JSONL file, with CRLF, blank lines and both url spellings', () => {
    const body = [
      JSON.stringify(batchLine('task-1', request('a'))),
      '',
      '   ',
      JSON.stringify({ ...batchLine('task-2', { ...request('b'), model: 'my-deployment' }), url: '/v1/chat/completions' }),
      '',
    ].join('\r\n');
    const sub = parse(body, JSONL_TYPE);
    expect(sub.items).toEqual([
      { customId: 'task-1', request: request('a') },
      { customId: 'task-2', request: request('b') },
    ]);
    expect(sub.priority).toBe('batch');
  });

  it('recognises the JSONL media types case-insensitively and with parameters', () => {
    const body = jsonl(batchLine('a'), batchLine('b'));
    for (const type of ['application/x-ndjson', 'Application/JSONL; charset=utf-8', 'application/jsonlines', 'application/x-jsonlines']) {
      expect(parse(body, type).items.map((i) => i.customId)).toEqual(['a', 'b']);
    }
  });

  it('takes Batch API lines inside a JSON array too', () => {
    const sub = parse([batchLine('a', request('x')), request('y')]);
    expect(sub.items).toEqual([
      { customId: 'a', request: request('x') },
      { customId: null, request: request('y') },
    ]);
  });

  it('takes a UTF-8 Buffer, with or without a BOM', () => {
    const text = JSON.stringify(request('héllo wörld ✓ 🎉'));
    expect(parse(Buffer.from(text, 'utf8')).items[0]!.request.messages[1]!.content).toBe('héllo wörld ✓ 🎉');
    expect(parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])).items).toHaveLength(1);
    expect(parse(`\uFEFF${text}`).items).toHaveLength(1);
  });

  it('treats any other or missing content type as JSON', () => {
    expect(parse(request(), null).items).toHaveLength(1);
    expect(parse(request(), 'text/plain').items).toHaveLength(1);
  });

  it('accepts every message form the API does', () => {
    const sub = parse({
      messages: [
        { role: 'developer', content: 'Rules.' },
        {
          role: 'user',
          name: 'ann',
          content: [
            { type: 'text', text: 'What is in this image?' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
            { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'assistant', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'g', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '42' },
        { role: 'assistant', content: 'Done.' },
      ],
      max_completion_tokens: LIMITS.maxCompletionTokens,
      n: 128,
      best_of: 1,
      temperature: 2,
      top_p: 0,
      stream: false,
    });
    expect(sub.items[0]!.request.messages).toHaveLength(6);
    expect(sub.items[0]!.request.stream).toBe(false);
  });

  it('accepts null for the optional numeric fields', () => {
    const sub = parse(request('x', { max_tokens: null, max_completion_tokens: null, n: null, best_of: null, temperature: null, top_p: null, stream: null }));
    expect(sub.items[0]!.request.max_tokens).toBeNull();
  });

  it('accepts limits exactly at their bounds', () => {
    const limits = { ...LIMITS, maxItems: 3, maxMessagesPerRequest: 2, maxContentChars: 5 };
    const ok = { messages: [{ role: 'user', content: '12345' }, { role: 'user', content: [{ type: 'text', text: '12' }, { type: 'text', text: '345' }] }] };
    expect(parse([ok, ok, ok], JSON_TYPE, limits).items).toHaveLength(3);
    const body = JSON.stringify(request());
    expect(parse(body, JSON_TYPE, { ...LIMITS, maxBodyBytes: Buffer.byteLength(body) }).items).toHaveLength(1);
  });

  it('keeps a "__proto__" key as plain data and pollutes nothing', () => {
    const sub = parse(`{"requests":[{"messages":[{"role":"user","content":"x"}],"__proto__":{"polluted":1}}],"metadata":{"__proto__":"m"}}`);
    expect(Object.prototype.hasOwnProperty.call(sub.items[0]!.request, '__proto__')).toBe(true);
    expect(Object.prototype.hasOwnProperty.call(sub.metadata, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses deeply nested input with the path, without recursing', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(where(fail(`{"messages":[{"role":"user","content":"x"}],"tools":${deep}}`))).toEqual(['0:tools[0][0][0][0][0][0][0]…']);
    expect(where(fail(deep))).toEqual(['0:']);
    expect(where(fail(`{"messages":[{"role":"user","content":${deep}}]}`))).toEqual(['0:messages[0].content[0][0][0][0][0]…']);
  });
});

describe('parseSubmission: request validation names the item and the field', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['messages not an array', { messages: 'hi' }, 'messages'],
    ['messages empty', { messages: [] }, 'messages'],
    ['a message that is not an object', { messages: ['hi'] }, 'messages[0]'],
    ['an unknown role', { messages: [{ role: 'user', content: 'a' }, { role: 'robot', content: 'b' }] }, 'messages[1].role'],
    ['a missing role', { messages: [{ content: 'a' }] }, 'messages[0].role'],
    ['the legacy function role', { messages: [{ role: 'function', name: 'f', content: 'a' }] }, 'messages[0].role'],
    ['numeric content', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    ['object content', { messages: [{ role: 'user', content: { text: 'a' } }] }, 'messages[0].content'],
    ['null content for a user', { messages: [{ role: 'user', content: null }] }, 'messages[0].content'],
    ['missing content for a system message', { messages: [{ role: 'system' }] }, 'messages[0].content'],
    ['null content for an assistant without tool_calls', { messages: [{ role: 'assistant', content: null }] }, 'messages[0].content'],
    ['null content for an assistant with empty tool_calls', { messages: [{ role: 'assistant', content: null, tool_calls: [] }] }, 'messages[0].content'],
    ['an empty parts array', { messages: [{ role: 'user', content: [] }] }, 'messages[0].content'],
    ['a part that is not an object', { messages: [{ role: 'user', content: ['a'] }] }, 'messages[0].content[0]'],
    ['a part without type', { messages: [{ role: 'user', content: [{ text: 'a' }] }] }, 'messages[0].content[0].type'],
    ['a text part without text', { messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text' }] }] }, 'messages[0].content[1].text'],
    ['a text part with numeric text', { messages: [{ role: 'user', content: [{ type: 'text', text: 3 }] }] }, 'messages[0].content[0].text'],
    ['an image part without image_url', { messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'messages[0].content[0].image_url'],
    ['an image part without a url', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { detail: 'low' } }] }] }, 'messages[0].content[0].image_url.url'],
    ['an image part with a string image_url', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'https://x' }] }] }, 'messages[0].content[0].image_url'],
    ['a tool message without tool_call_id', { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'tool', content: '1' }] }, 'messages[2].tool_call_id'],
    ['a numeric name', { messages: [{ role: 'user', name: 5, content: 'a' }] }, 'messages[0].name'],
    ['tool_calls that is not an array', { messages: [{ role: 'assistant', content: 'a', tool_calls: {} }] }, 'messages[0].tool_calls'],
    ['max_tokens 0', { max_tokens: 0 }, 'max_tokens'],
    ['fractional max_tokens', { max_tokens: 1.5 }, 'max_tokens'],
    ['max_tokens as a string', { max_tokens: '100' }, 'max_tokens'],
    ['max_tokens above the limit', { max_tokens: LIMITS.maxCompletionTokens + 1 }, 'max_tokens'],
    ['max_completion_tokens 0', { max_completion_tokens: 0 }, 'max_completion_tokens'],
    ['negative max_completion_tokens', { max_completion_tokens: -5 }, 'max_completion_tokens'],
    ['n 0', { n: 0 }, 'n'],
    ['n 129', { n: 129 }, 'n'],
    ['best_of 200', { best_of: 200 }, 'best_of'],
    ['fractional best_of', { best_of: 2.5 }, 'best_of'],
    ['temperature below 0', { temperature: -0.1 }, 'temperature'],
    ['temperature above 2', { temperature: 2.01 }, 'temperature'],
    ['temperature as a string', { temperature: '1' }, 'temperature'],
    ['top_p above 1', { top_p: 1.5 }, 'top_p'],
    ['stream true', { stream: true }, 'stream'],
    ['stream not a boolean', { stream: 'yes' }, 'stream'],
  ];

  it.each(cases)('rejects %s', (_name, change, field) => {
    const bad = { ...request(), ...change };
    const error = fail(bad);
    expect(error.status).toBe(400);
    expect(where(error)).toEqual([`0:${field}`]);
    // The same request as the third of an array is reported as item 2, and in an envelope too.
    expect(where(fail([request(), request(), bad]))).toEqual([`2:${field}`]);
    expect(where(fail({ requests: [request(), request(), bad] }))).toEqual([`2:${field}`]);
    // In a JSONL file the path starts at the line's body.
    expect(where(fail(jsonl(batchLine('a'), batchLine('b', bad)), JSONL_TYPE))).toEqual([`1:body.${field}`]);
  });

  it('rejects an item without messages', () => {
    const error = fail([request(), { max_tokens: 10 }]);
    expect(where(error)).toEqual(['1:messages']);
    expect(error.issues[0]!.message).toMatch(/is required/);
    expect(where(fail(jsonl(batchLine('a', { max_tokens: 10 })), JSONL_TYPE))).toEqual(['0:body.messages']);
  });

  it('explains the problem in the message', () => {
    expect(fail(request('x', { max_tokens: 0 })).issues[0]!.message).toMatch(/whole number from 1 to 128,000; got 0/);
    expect(fail(request('x', { stream: true })).issues[0]!.message).toMatch(/not supported for queued jobs/);
    expect(fail({ messages: [{ role: 'robot', content: 'a' }] }).issues[0]!.message).toMatch(/system, developer, user, assistant, tool; got "robot"/);
    expect(fail({ messages: [{ role: 'user', content: null }] }).issues[0]!.message).toMatch(/assistant message with tool_calls/);
  });

  it('limits the number of messages', () => {
    const limits = { ...LIMITS, maxMessagesPerRequest: 2 };
    const error = fail({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }, { role: 'user', content: 'c' }] }, JSON_TYPE, limits);
    expect(where(error)).toEqual(['0:messages']);
    expect(error.issues[0]!.message).toMatch(/3 messages; the limit is 2/);
  });

  it('limits the text of one message, string or parts summed', () => {
    const limits = { ...LIMITS, maxContentChars: 5 };
    expect(where(fail({ messages: [{ role: 'user', content: '123456' }] }, JSON_TYPE, limits))).toEqual(['0:messages[0].content']);
    const parts = { messages: [{ role: 'user', content: 'ok' }, { role: 'user', content: [{ type: 'text', text: '123' }, { type: 'text', text: '456' }] }] };
    const error = fail(parts, JSON_TYPE, limits);
    expect(where(error)).toEqual(['0:messages[1].content']);
    expect(error.issues[0]!.message).toMatch(/6 characters long; the limit is 5/);
  });

  it('reports every problem of a request, not only the first', () => {
    const error = fail({ messages: [{ role: 'bot', content: 1 }, { role: 'tool', content: 'x' }], max_tokens: 0, temperature: 9, stream: true });
    expect(where(error)).toEqual(['0:messages[0].role', '0:messages[0].content', '0:messages[1].tool_call_id', '0:max_tokens', '0:temperature', '0:stream']);
  });

  it('reports several bad items together, in order, and accepts nothing', () => {
    const error = fail([
      request('fine'),
      { messages: [] },
      request('fine'),
      request('x', { n: 0 }),
      { messages: [{ role: 'user', content: 'a' }, { role: 'user', content: [{ type: 'text' }] }] },
      'not a request',
    ]);
    expect(where(error)).toEqual(['1:messages', '3:n', '4:messages[1].content[0].text', '5:']);
    expect(error.omittedIssues).toBe(0);
    expect(error.message).toMatch(/^invalid submission: item 1 messages: must not be empty \(and 3 more issues\)$/);
  });

  it('caps the issue list and counts the rest', () => {
    const error = fail(Array.from({ length: 250 }, () => ({ messages: [] })));
    expect(error.issues).toHaveLength(MAX_REPORTED_ISSUES);
    expect(error.omittedIssues).toBe(150);
    expect(error.issues[99]).toEqual({ item: 99, field: 'messages', message: 'must not be empty' });
    expect(error.message).toMatch(/and 249 more issues/);
    expect(error.toResponseBody()).toEqual({
      error: { code: 'invalid_submission', message: error.message, issues: error.issues, omitted_issues: 150 },
    });
  });
});

describe('parseSubmission: the body and the envelope', () => {
  const envelopeIssue = (body: unknown): ValidationIssue => {
    const error = fail(body);
    expect(error.issues).toHaveLength(1);
    return error.issues[0]!;
  };

  it('rejects an empty or blank body', () => {
    for (const body of ['', '  \n\t ', '\uFEFF']) expect(envelopeIssue(body)).toEqual({ item: null, field: '', message: 'the body is empty' });
    expect(where(fail('\n\n', JSONL_TYPE))).toEqual(['null:']);
  });

  it('rejects malformed JSON, with the position when the parser gives one', () => {
    const trailing = envelopeIssue('{"messages":[]}\n  x');
    expect(trailing.item).toBeNull();
    expect(trailing.message).toMatch(/^the body is not valid JSON at line 2, column 3: /);
    expect(envelopeIssue('{"messages": [').message).toMatch(/^the body is not valid JSON: /);
    expect(envelopeIssue('[1,2,,]').message).toMatch(/not valid JSON/);
  });

  it('hints at the content type when a JSONL file is sent as JSON', () => {
    expect(envelopeIssue(jsonl(batchLine('a'), batchLine('b'))).message).toMatch(/send Content-Type: application\/jsonl/);
    expect(envelopeIssue('{"a":').message).not.toMatch(/jsonl/);
  });

  it('rejects the wrong top-level type', () => {
    for (const body of ['42', '"text"', 'null', 'true']) {
      const issue = envelopeIssue(body);
      expect(issue).toMatchObject({ item: null, field: '' });
      expect(issue.message).toMatch(/expected a chat completion request, an array of them, or \{ requests: \[\.\.\.\] \}/);
    }
    expect(envelopeIssue({ text: 'hi' }).message).toMatch(/expected a chat completion request \(with messages or prompt\)/);
    expect(envelopeIssue({ messages: [], requests: [] }).message).toMatch(/both messages and requests/);
  });

  it('rejects an empty array and an empty requests list', () => {
    expect(envelopeIssue([])).toEqual({ item: null, field: '', message: 'no requests: give at least one' });
    expect(envelopeIssue({ requests: [] })).toEqual({ item: null, field: 'requests', message: 'no requests: give at least one' });
    expect(envelopeIssue({ requests: request() })).toMatchObject({ item: null, field: 'requests' });
  });

  it('rejects more items than the limit, in every shape', () => {
    const limits = { ...LIMITS, maxItems: 2 };
    const three = [request(), request(), request()];
    for (const error of [
      fail(three, JSON_TYPE, limits),
      fail({ requests: three }, JSON_TYPE, limits),
      fail(jsonl(batchLine('a'), '', batchLine('b'), batchLine('c')), JSONL_TYPE, limits),
    ]) {
      expect(error.status).toBe(400);
      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]!.message).toBe('3 requests; the limit is 2 per submission');
    }
    expect(parse(jsonl(batchLine('a'), '', '', batchLine('b')), JSONL_TYPE, limits).items).toHaveLength(2);
  });

  it('answers 413 for a body over maxBodyBytes, counting UTF-8 bytes', () => {
    const body = JSON.stringify(request('ééééé')); // each é is 2 bytes
    const bytes = Buffer.byteLength(body);
    expect(bytes).toBe(body.length + 5);
    for (const input of [body, Buffer.from(body)]) {
      const error = fail(input, JSON_TYPE, { ...LIMITS, maxBodyBytes: bytes - 1 });
      expect(error.status).toBe(413);
      expect(error.issues).toEqual([{ item: null, field: '', message: `the body is ${bytes} bytes; the limit is ${bytes - 1}` }]);
      expect(error.toResponseBody().error.code).toBe('body_too_large');
    }
    const huge = fail('x'.repeat(2000), JSON_TYPE, { ...LIMITS, maxBodyBytes: 1000 });
    expect(huge.status).toBe(413);
  });

  it('rejects a Buffer that is not valid UTF-8, naming the first bad byte', () => {
    const good = Buffer.from('{"messages":[{"role":"user","content":"ab');
    const bad = Buffer.concat([good, Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
    const error = fail(bad);
    expect(error.status).toBe(400);
    expect(error.issues).toEqual([{ item: null, field: '', message: `the body is not valid UTF-8 (first bad byte at offset ${good.length})` }]);
    expect(fail(Buffer.from([0xff]), JSONL_TYPE).issues[0]!.message).toMatch(/not valid UTF-8/);
  });

  it('finds the first invalid UTF-8 sequence', () => {
    expect(firstInvalidUtf8(Buffer.from('plain ascii, é, ✓, 🎉'))).toBeNull();
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0x80]))).toBe(1); // lone continuation byte
    expect(firstInvalidUtf8(Uint8Array.from([0xc0, 0xaf]))).toBe(0); // overlong "/"
    expect(firstInvalidUtf8(Uint8Array.from([0xe0, 0x80, 0xaf]))).toBe(0); // overlong 3-byte
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // encoded surrogate
    expect(firstInvalidUtf8(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0x62, 0xe2, 0x9c]))).toBe(2); // truncated
    expect(firstInvalidUtf8(Uint8Array.from([0xf0, 0x9f, 0x8e, 0x89]))).toBeNull(); // 🎉
  });

  it('agrees with TextDecoder on random bytes', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        let valid = true;
        try {
          decoder.decode(bytes);
        } catch {
          valid = false;
        }
        expect(firstInvalidUtf8(bytes) === null).toBe(valid);
      }),
      { numRuns: 2000 },
    );
  });

  it('validates the envelope fields, all at once', () => {
    const error = fail({
      requests: [request()],
      priority: 'urgent',
      metadata: { ok: 1, nested: { a: 1 }, list: [1], ['k'.repeat(65)]: 'x', long: 'v'.repeat(513) },
      webhook: 'http://example.com/hook',
      priorty: 'batch',
    });
    expect(where(error)).toEqual([
      'null:priorty',
      'null:priority',
      'null:metadata.nested',
      'null:metadata.list',
      `null:metadata["${'k'.repeat(64)}…"]`,
      'null:metadata.long',
      'null:webhook',
    ]);
    expect(error.issues[2]!.message).toMatch(/metadata is flat/);
  });

  it('rejects metadata that is not an object or has too many keys', () => {
    expect(envelopeIssue({ requests: [request()], metadata: [1] })).toMatchObject({ item: null, field: 'metadata' });
    expect(envelopeIssue({ requests: [request()], metadata: 'x' })).toMatchObject({ item: null, field: 'metadata' });
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    expect(envelopeIssue({ requests: [request()], metadata: many }).message).toBe('has 17 keys; the limit is 16');
  });

  it('rejects webhooks that are not https (or local http), malformed, or carry credentials', () => {
    for (const webhook of ['http://example.com/x', 'ftp://example.com/x', 'not a url', '/relative', 'https://user:pw@example.com/x', 42, 'https://x/'.padEnd(3000, 'a')]) {
      expect(envelopeIssue({ requests: [request()], webhook })).toMatchObject({ item: null, field: 'webhook' });
    }
    expect(envelopeIssue({ requests: [request()], webhook: 'http://localhost.evil.com/x' }).message).toMatch(/must use https/);
  });

  it('reports envelope problems together with item problems', () => {
    const error = fail({ requests: [request(), { messages: [] }], priority: 'now' });
    expect(where(error)).toEqual(['null:priority', '1:messages']);
  });
});

describe('parseSubmission: Batch API JSONL', () => {
  it('requires unique custom_ids, naming both lines', () => {
    const error = fail(jsonl(batchLine('a'), batchLine('b'), '', batchLine('a'), batchLine('b')), JSONL_TYPE);
    expect(where(error)).toEqual(['3:custom_id', '4:custom_id']);
    expect(error.issues[0]!.message).toBe('duplicate custom_id "a", already used by line 1');
    expect(error.issues[1]!.message).toBe('duplicate custom_id "b", already used by line 2');
  });

  it('requires unique custom_ids in JSON bodies too', () => {
    const error = fail([{ ...request(), custom_id: 'x' }, batchLine('x')]);
    expect(where(error)).toEqual(['1:custom_id']);
    expect(error.issues[0]!.message).toBe('duplicate custom_id "x", already used by item 0');
  });

  it('names a malformed line by its 0-based line index, counting blank lines', () => {
    const error = fail(jsonl(batchLine('a'), '', '{"custom_id": "b", ', batchLine('c'), 'nope'), JSONL_TYPE);
    expect(where(error)).toEqual(['2:', '4:']);
    expect(error.issues[0]!.message).toMatch(/^line 3(, column \d+)? is not valid JSON: /);
    expect(error.issues[1]!.message).toMatch(/^line 5(, column \d+)? is not valid JSON: /);
  });

  it('gives the column when the parser reports a position', () => {
    const error = fail(jsonl(batchLine('a'), '{"custom_id":"b"} extra'), JSONL_TYPE);
    expect(error.issues[0]).toMatchObject({ item: 1, field: '' });
    expect(error.issues[0]!.message).toMatch(/^line 2, column 19 is not valid JSON/);
  });

  it('checks custom_id, method, url, body and unknown fields of each line', () => {
    const error = fail(
      jsonl(
        { method: 'POST', url: '/chat/completions', body: request() },
        batchLine('b', request(), { method: 'GET' }),
        batchLine('c', request(), { url: '/embeddings' }),
        batchLine('d', 'text'),
        batchLine('e', request(), { extra: 1 }),
        batchLine('', request()),
        batchLine('f', request(), { custom_id: 7 }),
        '[1,2]',
        request(),
      ),
      JSONL_TYPE,
    );
    expect(where(error)).toEqual([
      '0:custom_id',
      '1:method',
      '2:url',
      '3:body',
      '4:extra',
      '5:custom_id',
      '6:custom_id',
      '7:',
      '8:body',
    ]);
    expect(error.issues[8]!.message).toMatch(/with the request in body/);
    expect(error.issues[0]!.message).toBe('is required');
    expect(error.issues[1]!.message).toBe('must be "POST"; got "GET"');
  });

  it('limits the length of custom_id', () => {
    const error = fail(jsonl(batchLine('x'.repeat(513))), JSONL_TYPE);
    expect(where(error)).toEqual(['0:custom_id']);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: any input either parses to a valid Submission or throws SubmissionError.

function expectValidSubmission(sub: Submission, limits: SubmissionLimits): void {
  expect(sub.items.length).toBeGreaterThanOrEqual(1);
  expect(sub.items.length).toBeLessThanOrEqual(limits.maxItems);
  expect(PRIORITIES).toContain(sub.priority);
  if (sub.metadata !== null) {
    for (const v of Object.values(sub.metadata)) expect(v === null || ['string', 'number', 'boolean'].includes(typeof v)).toBe(true);
  }
  if (sub.webhook !== null) expect(sub.webhook).toMatch(/^(https:\/\/|http:\/\/(localhost|127\.0\.0\.1)[:/])/);
  const ids = sub.items.map((i) => i.customId).filter((id): id is string => id !== null);
  expect(new Set(ids).size).toBe(ids.length);
  for (const { request: r } of sub.items) {
    expect('model' in r).toBe(false);
    expect('custom_id' in r).toBe(false);
    expect(r.stream === true).toBe(false);
    expect(Array.isArray(r.messages)).toBe(true);
    expect(r.messages.length).toBeGreaterThanOrEqual(1);
    expect(r.messages.length).toBeLessThanOrEqual(limits.maxMessagesPerRequest);
    for (const m of r.messages) {
      expect(MESSAGE_ROLES as readonly string[]).toContain(m.role);
      if (m.content === null || m.content === undefined) expect(m.role).toBe('assistant');
      else expect(typeof m.content === 'string' || Array.isArray(m.content)).toBe(true);
    }
    for (const key of ['max_tokens', 'max_completion_tokens'] as const) {
      const v = r[key];
      if (v !== undefined && v !== null) expect(Number.isInteger(v) && v >= 1 && v <= limits.maxCompletionTokens).toBe(true);
    }
  }
}

function expectParsesOrRejects(body: string | Buffer, contentType: string | null, limits: SubmissionLimits = LIMITS): void {
  let sub: Submission;
  try {
    sub = parseSubmission(body, contentType, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(SubmissionError);
    const e = error as SubmissionError;
    expect([400, 413]).toContain(e.status);
    expect(e.issues.length).toBeGreaterThanOrEqual(1);
    expect(e.issues.length).toBeLessThanOrEqual(MAX_REPORTED_ISSUES);
    for (const issue of e.issues) {
      expect(typeof issue.field).toBe('string');
      expect(typeof issue.message).toBe('string');
      expect(issue.item === null || (Number.isInteger(issue.item) && issue.item >= 0)).toBe(true);
    }
    return;
  }
  expectValidSubmission(sub, limits);
}

const contentTypes = fc.constantFrom<string | null>(null, JSON_TYPE, JSONL_TYPE, 'application/x-ndjson', 'text/plain');
const small = { ...LIMITS, maxItems: 5, maxMessagesPerRequest: 4, maxContentChars: 20, maxCompletionTokens: 1000, maxBodyBytes: 4000 };

/** Mostly right, sometimes wrong: picks a valid value 4 times in 5. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 4, arbitrary: good as fc.Arbitrary<T | U> }, { weight: 1, arbitrary: bad as fc.Arbitrary<T | U> });
const toolCall = { id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } };

/** Requests that are often valid and often wrong in one field, to reach both outcomes. */
const messageArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      role: mostly(fc.constantFrom('system', 'developer', 'user', 'assistant'), fc.constantFrom('robot', '', 5, null, 'tool')),
      content: mostly(
        fc.oneof(
          fc.string({ maxLength: 30 }),
          fc.array(
            fc.oneof(
              fc.record({ type: fc.constant('text'), text: fc.string({ maxLength: 10 }) }),
              fc.record({ type: fc.constant('image_url'), image_url: fc.record({ url: fc.webUrl() }) }),
            ),
            { minLength: 1, maxLength: 3 },
          ),
        ),
        fc.oneof(fc.constant(null), fc.integer(), fc.constant([]), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 })),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ role: fc.constant('assistant'), content: fc.constant(null), tool_calls: mostly(fc.constant([toolCall]), fc.jsonValue({ maxDepth: 1 })) }) },
  { weight: 1, arbitrary: fc.record({ role: fc.constant('tool'), content: fc.string({ maxLength: 5 }), tool_call_id: mostly(fc.constant('call_1'), fc.oneof(fc.constant(''), fc.integer())) }, { requiredKeys: ['role', 'content'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const requestArb = fc.record(
  {
    messages: mostly(fc.array(messageArb, { minLength: 1, maxLength: 4 }), fc.oneof(fc.constant([]), fc.array(messageArb, { minLength: 5, maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }))),
    max_tokens: mostly(fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(null)), fc.oneof(fc.integer({ min: -2, max: 0 }), fc.integer({ min: 1001, max: 2000 }), fc.double(), fc.string({ maxLength: 3 }))),
    max_completion_tokens: mostly(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -1, max: 0 })),
    n: mostly(fc.integer({ min: 1, max: 128 }), fc.integer({ min: -1, max: 0 })),
    temperature: mostly(fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constant(null)), fc.double({ min: 2.001, max: 3, noNaN: true })),
    top_p: mostly(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(1.5)),
    stream: mostly(fc.constant(false), fc.oneof(fc.constant(true), fc.constant('x'))),
    model: fc.string({ maxLength: 5 }),
    custom_id: mostly(fc.string({ minLength: 1, maxLength: 3 }), fc.oneof(fc.integer(), fc.constant(''))),
    seed: fc.integer(),
    tools: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ['messages'] },
);
const envelopeArb = fc.record(
  {
    requests: fc.array(requestArb, { maxLength: 6 }),
    priority: fc.oneof(fc.constantFrom(...PRIORITIES), fc.string({ maxLength: 5 })),
    metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean(), fc.constant(null))), fc.jsonValue({ maxDepth: 2 })),
    webhook: fc.oneof(fc.webUrl(), fc.constantFrom('http://localhost:1/x', 'http://127.0.0.1/y', 'http://example.com/z', 'nope')),
  },
  { requiredKeys: ['requests'] },
);
const batchLineArb = fc.record(
  {
    custom_id: fc.oneof(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer()),
    method: fc.constantFrom('POST', 'GET'),
    url: fc.constantFrom(...['/chat/completions', '/v1/chat/completions', '/embeddings']),
    body: fc.oneof(requestArb, fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: ['custom_id', 'method', 'url', 'body'] },
);

describe('parseSubmission: never throws anything but SubmissionError', () => {
  const RUNS = { numRuns: 1000 };

  it('for random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), contentTypes, (value, type) => expectParsesOrRejects(JSON.stringify(value), type, small)), RUNS);
  });

  it('for anything fast-check can make, through JSON.stringify', () => {
    fc.assert(
      fc.property(fc.anything(), contentTypes, (value, type) => expectParsesOrRejects(JSON.stringify(value) ?? 'undefined', type, small)),
      RUNS,
    );
  });

  it('for random strings and bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), contentTypes, (text, type) => expectParsesOrRejects(text, type, small)), RUNS);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), contentTypes, (bytes, type) => expectParsesOrRejects(Buffer.from(bytes), type, small)), RUNS);
  });

  it('for request-like values: single, arrays, envelopes', () => {
    const shaped = fc.oneof(requestArb, fc.array(fc.oneof(requestArb, batchLineArb), { maxLength: 7 }), envelopeArb);
    let accepted = 0;
    fc.assert(
      fc.property(shaped, (value) => {
        const body = JSON.stringify(value);
        expectParsesOrRejects(body, JSON_TYPE, small);
        try {
          parseSubmission(body, JSON_TYPE, small);
          accepted += 1;
        } catch {
          // counted only
        }
      }),
      { numRuns: 2000 },
    );
    // The generator reaches the accepting path too, so the validity checks above are exercised.
    expect(accepted).toBeGreaterThan(0);
  });

  it('for JSONL files of lines that are often right and sometimes not', () => {
    const line = fc.oneof({ weight: 5, arbitrary: batchLineArb.map((l) => JSON.stringify(l)) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => expectParsesOrRejects(lines.join(eol), JSONL_TYPE, small)),
      RUNS,
    );
  });
});

describe('parseSubmission: the shorthand items, supportive_variable and queue (named queues)', () => {
  it('turns { prompt, system_prompt } into messages, keeping the other request fields', () => {
    const sub = parse({ requests: [{ prompt: 'Summarise this', system_prompt: 'Be brief.', max_tokens: 40, custom_id: 'p-1' }, { prompt: 'Only a prompt' }] });
    expect(sub.items).toEqual([
      {
        customId: 'p-1',
        request: {
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Summarise this' },
          ],
          max_tokens: 40,
        },
      },
      { customId: null, request: { messages: [{ role: 'user', content: 'Only a prompt' }] } },
    ]);
    // A single shorthand object is a one-item submission, like a single request.
    expect(parse({ prompt: 'hi' }).items).toEqual([{ customId: null, request: { messages: [{ role: 'user', content: 'hi' }] } }]);
  });

  it('takes shorthand and full requests side by side, in a Batch API body too', () => {
    const sub = parse(jsonl(batchLine('a', { prompt: 'one' }), batchLine('b')), JSONL_TYPE);
    expect(sub.items.map((i) => i.request.messages)).toEqual([[{ role: 'user', content: 'one' }], request().messages]);
    expect(parse([{ prompt: 'x' }, request('y')]).items).toHaveLength(2);
  });

  it('lifts supportive_variable out of the request, any JSON value, null included; absent when not given', () => {
    const sub = parse([
      { prompt: 'a', supportive_variable: { row: 3, tags: ['x'] } },
      request('b', { supportive_variable: 'ticket-42' }),
      request('c', { supportive_variable: null }),
      request('d'),
    ]);
    expect(sub.items.map((i) => i.supportiveVariable)).toEqual([{ row: 3, tags: ['x'] }, 'ticket-42', null, undefined]);
    expect('supportiveVariable' in sub.items[3]!).toBe(false);
    for (const item of sub.items) expect(item.request).not.toHaveProperty('supportive_variable');
  });

  it('takes supportive_variable beside custom_id in a Batch API line, or in its body, not both', () => {
    const sub = parse(jsonl(batchLine('a', request(), { supportive_variable: 7 }), batchLine('b', request('x', { supportive_variable: 8 }))), JSONL_TYPE);
    expect(sub.items.map((i) => i.supportiveVariable)).toEqual([7, 8]);
    const error = fail(jsonl(batchLine('a', request('x', { supportive_variable: 1 }), { supportive_variable: 2 })), JSONL_TYPE);
    expect(where(error)).toEqual(['0:supportive_variable']);
  });

  it('names each bad shorthand field and accepts nothing', () => {
    const small: SubmissionLimits = { ...LIMITS, maxContentChars: 10 };
    const error = fail(
      {
        requests: [
          { prompt: '' },
          { system_prompt: 'sys only' },
          { prompt: 'x', messages: [{ role: 'user', content: 'y' }] },
          { prompt: 42 },
          { prompt: 'far too long for the limit' },
          { prompt: 'ok', supportive_variable: 'x'.repeat(20_000) },
          { prompt: 'ok', temperature: 9 },
        ],
      },
      JSON_TYPE,
      small,
    );
    expect(where(error)).toEqual(['0:prompt', '1:prompt', '2:prompt', '3:prompt', '4:prompt', '5:supportive_variable', '6:temperature']);
    expect(error.issues[5]!.message).toMatch(/20,002 characters as JSON; the limit is 16,384/);
  });

  it('takes queue in the envelope (a name or id, resolved later), and says whether the priority was given', () => {
    const sub = parse({ requests: [{ prompt: 'a' }], queue: 'reports' });
    expect(sub.queue).toBe('reports');
    expect(sub.priorityGiven).toBe(false);
    expect(parse({ requests: [{ prompt: 'a' }], priority: 'batch' }).priorityGiven).toBe(true);
    expect(parse({ requests: [{ prompt: 'a' }] }).queue).toBeNull();
    expect(where(fail({ requests: [{ prompt: 'a' }], queue: 5 }))).toEqual(['null:queue']);
    expect(where(fail({ requests: [{ prompt: 'a' }], queue: 'q'.repeat(65) }))).toEqual(['null:queue']);
  });
});
