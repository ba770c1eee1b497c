import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Job, JobStatus } from '../../../src/lib/jobs/job.js';
import {
  CSV_COLUMNS,
  CSV_HEADER_LINE,
  JobNotFinalError,
  csvField,
  resultContent,
  toBatchOutput,
  toBatchOutputLine,
  toBatchOutputRecord,
  toCsv,
  toCsvRow,
  toJsonResults,
} from '../../../src/lib/jobs/results.js';

const completion = (content: unknown, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content, ...extra }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
});

function job(overrides: Partial<Job> = {}): Job {
  return {
    id: 'req_abc',
    batchId: 'batch_1',
    customId: 'task-1',
    kind: 'chat',
    priority: 'batch',
    deployment: 'gpt-4o',
    request: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50 },
    charge: 70,
    status: 'completed',
    attempts: 1,
    result: completion('Hello there'),
    usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    error: null,
    // None of the caller's own data: the Batch API line is then exactly the Batch API's (see 'caller data').
    metadata: null,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:05.000Z',
    completedAt: '2025-01-01T00:00:05.000Z',
    ...overrides,
  };
}

const pending = (status: JobStatus, id: string): Job =>
  job({ id, status, result: null, usage: null, completedAt: null, customId: `c-${id}` });

const failed = (id: string, error: Job['error']): Job => job({ id, customId: `c-${id}`, status: 'failed', result: null, usage: null, error });

describe('toBatchOutputLine: Azure OpenAI Batch API output', () => {
  it('writes a completed job as a 200 response carrying the chat.completion', () => {
    const line = toBatchOutputLine(job());
    expect(JSON.parse(line)).toEqual({
      id: 'req_abc',
      custom_id: 'task-1',
      response: { status_code: 200, request_id: 'req_abc', body: completion('Hello there') },
      error: null,
    });
    expect(toBatchOutputRecord(job())).toEqual(JSON.parse(line));
  });

  it('stays on one line whatever the content holds', () => {
    const content = 'a\nb\r\nc\u2028d\u2029e "q" \\ \ud800'; // a lone surrogate too
    const line = toBatchOutputLine(job({ result: completion(content) }));
    expect(line).not.toMatch(/[\r\n]/);
    const parsed = JSON.parse(line) as { response: { body: ReturnType<typeof completion> } };
    expect(parsed.response.body.choices[0]!.message.content).toBe(content);
  });

  it('writes a failed job that got an HTTP answer with that status and the error', () => {
    const record = JSON.parse(toBatchOutputLine(failed('r1', { status: 400, code: 'content_filter', message: 'filtered' })));
    expect(record).toEqual({
      id: 'r1',
      custom_id: 'c-r1',
      response: { status_code: 400, request_id: 'r1', body: { error: { code: 'content_filter', message: 'filtered' } } },
      error: { code: 'content_filter', message: 'filtered' },
    });
  });

  it('writes a failed job without an HTTP answer with response null', () => {
    const record = JSON.parse(toBatchOutputLine(failed('r2', { status: null, code: 'timeout', message: 'no answer in 600 s' })));
    expect(record).toEqual({ id: 'r2', custom_id: 'c-r2', response: null, error: { code: 'timeout', message: 'no answer in 600 s' } });
  });

  it('derives an error code when the job recorded none', () => {
    expect(JSON.parse(toBatchOutputLine(failed('a', { status: 503, code: null, message: 'down' }))).error).toEqual({ code: 'http_503', message: 'down' });
    expect(JSON.parse(toBatchOutputLine(failed('b', { status: null, code: null, message: 'reset' }))).error).toEqual({ code: 'no_response', message: 'reset' });
    expect(JSON.parse(toBatchOutputLine(failed('c', null)))).toEqual({
      id: 'c',
      custom_id: 'c-c',
      response: null,
      error: { code: 'job_failed', message: 'the job failed without an error record' },
    });
  });

  it('keeps a null custom_id', () => {
    expect(JSON.parse(toBatchOutputLine(job({ customId: null }))).custom_id).toBeNull();
  });

  it('refuses non-final jobs', () => {
    for (const status of ['queued', 'waiting', 'running'] as const) {
      const error = (() => {
        try {
          toBatchOutputLine(pending(status, 'p'));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(JobNotFinalError);
      expect(error).toMatchObject({ jobId: 'p', status });
    }
  });

  it('toBatchOutput writes one line per final job and skips the rest', () => {
    const jobs = [job({ id: 'a', customId: 'A' }), pending('running', 'b'), failed('c', { status: 429, code: '429', message: 'slow down' }), pending('queued', 'd')];
    const out = toBatchOutput(jobs);
    expect(out.endsWith('\n')).toBe(true);
    const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; custom_id: string; response: { status_code: number } | null });
    expect(lines.map((l) => [l.id, l.custom_id, l.response?.status_code])).toEqual([
      ['a', 'A', 200],
      ['c', 'c-c', 429],
    ]);
    expect(toBatchOutput([])).toBe('');
  });

  it('every final job round-trips through JSON.parse with the Batch API shape', () => {
    const jobArb = fc.record({
      id: fc.string({ minLength: 1, maxLength: 10 }),
      customId: fc.option(fc.string({ maxLength: 10 })),
      ok: fc.boolean(),
      content: fc.string({ unit: 'binary', maxLength: 40 }),
      status: fc.option(fc.integer({ min: 400, max: 599 })),
      code: fc.option(fc.string({ maxLength: 8 })),
    });
    fc.assert(
      fc.property(jobArb, (g) => {
        const j = g.ok
          ? job({ id: g.id, customId: g.customId, result: completion(g.content) })
          : failed(g.id, { status: g.status, code: g.code, message: g.content });
        const line = toBatchOutputLine({ ...j, customId: g.customId });
        expect(line).not.toMatch(/\n/);
        const parsed = JSON.parse(line) as Record<string, unknown>;
        expect(Object.keys(parsed).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
        expect(parsed['id']).toBe(g.id);
        expect(parsed['custom_id']).toBe(g.customId);
        if (g.ok) {
          expect(parsed['error']).toBeNull();
          expect(parsed['response']).toMatchObject({ status_code: 200, request_id: g.id });
        } else {
          expect(parsed['error']).toMatchObject({ message: g.content });
          if (g.status === null) expect(parsed['response']).toBeNull();
          else expect(parsed['response']).toMatchObject({ status_code: g.status, request_id: g.id });
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('toJsonResults', () => {
  it('lists every job with its status; result and error only when final', () => {
    const jobs = [
      job(),
      failed('f', { status: 500, code: 'server_error', message: 'boom' }),
      pending('waiting', 'w'),
      failed('g', null),
    ];
    const results = toJsonResults(jobs);
    expect(JSON.parse(JSON.stringify(results))).toEqual([
      {
        id: 'req_abc',
        custom_id: 'task-1',
        status: 'completed',
        result: completion('Hello there'),
        error: null,
        usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
        metadata: null,
        supportive_variable: null,
      },
      { id: 'f', custom_id: 'c-f', status: 'failed', result: null, error: { status: 500, code: 'server_error', message: 'boom' }, usage: null, metadata: null, supportive_variable: null },
      { id: 'w', custom_id: 'c-w', status: 'waiting', result: null, error: null, usage: null, metadata: null, supportive_variable: null },
      {
        id: 'g',
        custom_id: 'c-g',
        status: 'failed',
        result: null,
        error: { status: null, code: 'job_failed', message: 'the job failed without an error record' },
        usage: null,
        metadata: null,
        supportive_variable: null,
      },
    ]);
    expect(toJsonResults([])).toEqual([]);
  });
});

/** A small RFC 4180 reader, to check what a spreadsheet would see. */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i += 1;
      } else {
        field += c;
        i += 1;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
      i += 1;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i += 1;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      // A bare CR, LF or quote outside a quoted field is not RFC 4180.
      if (c === '\r' || c === '\n' || c === '"') throw new Error(`bare ${JSON.stringify(c)} at ${i}`);
      field += c;
      i += 1;
    }
  }
  if (field !== '' || row.length > 0 || quoted) throw new Error('the last row does not end with CRLF');
  return rows;
}

describe('toCsv', () => {
  it('starts with the header', () => {
    expect(CSV_HEADER_LINE).toBe('request_id,custom_id,status,content,prompt_tokens,completion_tokens,error_code,error_message,supportive_variable,metadata\r\n');
    expect(toCsv([])).toBe(CSV_HEADER_LINE);
    expect(CSV_COLUMNS).toHaveLength(10);
  });

  it('writes one row per job, with the answer text, usage and error', () => {
    const csv = toCsv([
      job(),
      failed('f', { status: 429, code: 'rate_limit', message: 'Too many, retry later' }),
      pending('queued', 'q'),
      job({ id: 't', customId: null, result: completion(null, { tool_calls: [{ id: 'x' }] }) }),
    ]);
    expect(csv).toBe(
      [
        'request_id,custom_id,status,content,prompt_tokens,completion_tokens,error_code,error_message,supportive_variable,metadata',
        'req_abc,task-1,completed,Hello there,12,3,,,,',
        'f,c-f,failed,,,,rate_limit,"Too many, retry later",,',
        'q,c-q,queued,,,,,,,',
        't,,completed,,12,3,,,,',
        '',
      ].join('\r\n'),
    );
  });

  it('quotes commas, quotes and line breaks per RFC 4180', () => {
    const content = 'He said "hi", then\nleft.\r\nEnd';
    const row = toCsvRow(job({ result: completion(content), customId: 'a,b' }));
    expect(row).toBe(`req_abc,"a,b",completed,"He said ""hi"", then\nleft.\r\nEnd",12,3,,,,\r\n`);
    expect(readCsv(CSV_HEADER_LINE + row)[1]).toEqual(['req_abc', 'a,b', 'completed', content, '12', '3', '', '', '', '']);
  });

  it('neutralizes formula injection in every text field', () => {
    for (const lead of ['=', '+', '-', '@', '\t', '\r']) {
      const evil = `${lead}HYPERLINK("http://x","y")`;
      const rows = readCsv(toCsv([job({ customId: evil, result: completion(evil) }), failed('f', { status: 400, code: evil, message: evil })]));
      expect(rows[1]![1]).toBe(`'${evil}`);
      expect(rows[1]![3]).toBe(`'${evil}`);
      expect(rows[2]![6]).toBe(`'${evil}`);
      expect(rows[2]![7]).toBe(`'${evil}`);
    }
    // Only the first character matters; numbers are numbers.
    expect(csvField('a=1')).toBe('a=1');
    expect(csvField(-5)).toBe('-5');
    expect(csvField("'already")).toBe("'already");
    expect(csvField('=1+2,3')).toBe(`"'=1+2,3"`);
  });

  it('csvField: null is empty, non-finite numbers are empty, plain text is bare', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(0)).toBe('0');
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('')).toBe('');
    expect(csvField('"')).toBe('""""');
  });

  it('takes choices[0].message.content, joining text parts, and nothing else', () => {
    expect(resultContent(job({ result: completion([{ type: 'text', text: 'a' }, { type: 'refusal' }, { type: 'text', text: 'b' }]) }))).toBe('ab');
    expect(resultContent(job({ result: { choices: [] } }))).toBe('');
    expect(resultContent(job({ result: { choices: 'x' } }))).toBe('');
    expect(resultContent(job({ result: { choices: [{ message: null }] } }))).toBe('');
    expect(resultContent(job({ result: null }))).toBe('');
    const two = { choices: [{ message: { content: 'first' } }, { message: { content: 'second' } }] };
    expect(resultContent(job({ result: two }))).toBe('first');
  });

  it('any content survives the round trip through an RFC 4180 reader, neutralized', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.option(fc.string({ maxLength: 10 })), (content, customId) => {
        const rows = readCsv(toCsv([job({ result: completion(content), customId })]));
        expect(rows).toHaveLength(2);
        const expected = (s: string) => (/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);
        expect(rows[1]).toEqual(['req_abc', customId === null ? '' : expected(customId), 'completed', expected(content), '12', '3', '', '', '', '']);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("the caller's own data: supportive_variable and metadata", () => {
  const withData = (overrides: Partial<Job> = {}) => job({ supportiveVariable: { row: 7, tags: ['a'] }, metadata: { project: 'x', run: 2 }, ...overrides });

  it('rides along in a Batch API line, completed or failed, only when the job has it', () => {
    expect(JSON.parse(toBatchOutputLine(withData()))).toEqual({
      id: 'req_abc',
      custom_id: 'task-1',
      response: { status_code: 200, request_id: 'req_abc', body: completion('Hello there') },
      error: null,
      supportive_variable: { row: 7, tags: ['a'] },
      metadata: { project: 'x', run: 2 },
    });
    const failedLine = JSON.parse(toBatchOutputLine(withData({ status: 'failed', result: null, error: { status: 400, code: 'content_filter', message: 'no' } })));
    expect(failedLine).toMatchObject({ error: { code: 'content_filter' }, supportive_variable: { row: 7, tags: ['a'] }, metadata: { project: 'x', run: 2 } });
    // A null supportive_variable was given (and comes back); metadata null was not.
    expect(JSON.parse(toBatchOutputLine(job({ supportiveVariable: null })))).toEqual({ ...JSON.parse(toBatchOutputLine(job())), supportive_variable: null });
    expect(Object.keys(JSON.parse(toBatchOutputLine(job()))).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
  });

  it('is in every JSON result', () => {
    expect(toJsonResults([withData(), pending('queued', 'q')])).toMatchObject([
      { id: 'req_abc', supportive_variable: { row: 7, tags: ['a'] }, metadata: { project: 'x', run: 2 } },
      { id: 'q', supportive_variable: null, metadata: null },
    ]);
  });

  it('fills the last two CSV columns: a string as it is, anything else as JSON, neutralized like every text field', () => {
    const rows = readCsv(toCsv([withData(), job({ id: 's', supportiveVariable: 'plain, text' }), job({ id: 'e', supportiveVariable: '=cmd()' }), job({ id: 'n' })]));
    expect(rows[0]!.slice(-2)).toEqual(['supportive_variable', 'metadata']);
    expect(rows[1]!.slice(-2)).toEqual(['{"row":7,"tags":["a"]}', '{"project":"x","run":2}']);
    expect(rows[2]!.slice(-2)).toEqual(['plain, text', '']);
    expect(rows[3]!.slice(-2)).toEqual(["'=cmd()", '']);
    expect(rows[4]!.slice(-2)).toEqual(['', '']);
  });
});
