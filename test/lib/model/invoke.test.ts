/**
 * callChatCompletion against a real local HTTP server that speaks the Azure OpenAI data-plane
 * protocol (`POST /openai/deployments/{deployment}/chat/completions?api-version=...`, `api-key` header).
 * Every case also checks the server saw exactly one request: the SDK's retries are off.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AzureOpenAI } from 'openai';
import { ChatCompletionRequest } from '../../../src/lib/jobs/job.js';
import { createModelClient } from '../../../src/lib/model/client.js';
import { callChatCompletion } from '../../../src/lib/model/invoke.js';
import { CallOutcome } from '../../../src/lib/model/outcome.js';

const DEPLOYMENT = 'gpt-4o-test';
const API_VERSION = '2024-10-21';
const API_KEY = 'test-key-123';
const SECRET = 'PROMPT-SECRET-7f3a';

interface Received {
  readonly method: string | undefined;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

type Reply = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const received: Received[] = [];
let reply: Reply = (_req, res) => json(res, 500, {});
let server: http.Server;
let client: AzureOpenAI;
let slowClient: AzureOpenAI;

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req-1', ...headers });
  res.end(JSON.stringify(body));
}

const request: ChatCompletionRequest = {
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: `Say hi. ${SECRET}` },
  ],
  max_tokens: 50,
  temperature: 0,
  seed: 7,
};

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-2024-11-20',
  choices: [
    {
      index: 0,
      finish_reason: 'stop',
      message: { role: 'assistant', content: 'Hi!' },
      content_filter_results: { hate: { filtered: false, severity: 'safe' } },
    },
  ],
  prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
  usage: {
    prompt_tokens: 21,
    completion_tokens: 3,
    total_tokens: 24,
    prompt_tokens_details: { cached_tokens: 0 },
  },
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: req.method,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      });
      reply(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = { deployment: DEPLOYMENT, apiVersion: API_VERSION, apiKey: API_KEY };
  // A trailing slash on the endpoint, as the portal shows it.
  client = createModelClient({ ...base, endpoint: `http://127.0.0.1:${port}/`, timeoutMs: 5_000 });
  slowClient = createModelClient({ ...base, endpoint: `http://127.0.0.1:${port}`, timeoutMs: 150 });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  received.length = 0;
});

/**
 * Calls once, checks one request reached the server, the outcome is plain JSON without the prompt, and
 * an answered call (completed or throttled) names when its request went out; returns it without that time.
 */
async function callOnce(replyWith: Reply, using: AzureOpenAI = client): Promise<CallOutcome> {
  reply = replyWith;
  const before = Date.now();
  const outcome = await callChatCompletion(using, request);
  const after = Date.now();
  expect(received).toHaveLength(1);
  expect(JSON.parse(JSON.stringify(outcome))).toEqual(outcome);
  if (outcome.kind !== 'completed') expect(JSON.stringify(outcome)).not.toContain(SECRET);
  if (outcome.kind !== 'completed' && outcome.kind !== 'throttled') {
    expect(outcome).not.toHaveProperty('sentAt');
    return outcome;
  }
  const { sentAt, ...rest } = outcome;
  expect(sentAt).toBeGreaterThanOrEqual(before);
  expect(sentAt).toBeLessThanOrEqual(after);
  return rest;
}

describe('callChatCompletion: success', () => {
  it('sends one Azure-shaped request and returns the completion, usage and capacity headers', async () => {
    const outcome = await callOnce((_req, res) =>
      json(res, 200, completion, {
        'azure-openai-deployment-utilization': '63.2%',
        'x-ratelimit-remaining-tokens': '149000',
        'x-ratelimit-remaining-requests': '899',
      }),
    );

    expect(outcome).toEqual({
      kind: 'completed',
      completion,
      usage: { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 },
      utilization: 0.632,
      headers: { remainingTokens: 149000, remainingRequests: 899 },
    });

    const [sent] = received;
    expect(sent?.method).toBe('POST');
    expect(sent?.path).toBe(`/openai/deployments/${DEPLOYMENT}/chat/completions`);
    expect(sent?.query.get('api-version')).toBe(API_VERSION);
    expect(sent?.headers['api-key']).toBe(API_KEY);
    expect(sent?.headers['authorization']).toBeUndefined();
    // The request passes through untouched, with streaming forced off.
    expect(sent?.body).toEqual({ ...request, stream: false });
  });

  it('gives null for missing or malformed capacity headers', async () => {
    const outcome = await callOnce((_req, res) =>
      json(res, 200, completion, { 'azure-openai-deployment-utilization': 'n/a', 'x-ratelimit-remaining-tokens': '' }),
    );
    expect(outcome).toMatchObject({
      kind: 'completed',
      utilization: null,
      headers: { remainingTokens: null, remainingRequests: null },
    });
  });

  it('gives null usage when the body has none', async () => {
    const { usage: _omitted, ...withoutUsage } = completion;
    const outcome = await callOnce((_req, res) => json(res, 200, withoutUsage));
    expect(outcome).toMatchObject({ kind: 'completed', usage: null, completion: withoutUsage });
  });
});

describe('callChatCompletion: 429', () => {
  const quotaBody = {
    error: {
      code: '429',
      message:
        'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds.',
    },
  };

  it('a quota 429 is throttled rate_limit, retry-after-ms preferred over retry-after', async () => {
    const outcome = await callOnce((_req, res) =>
      json(res, 429, quotaBody, { 'retry-after-ms': '1500', 'retry-after': '2', 'x-ratelimit-remaining-tokens': '0' }),
    );
    expect(outcome).toEqual({
      kind: 'throttled',
      throttle: 'rate_limit',
      retryAfterMs: 1500,
      utilization: null,
      error: { status: 429, code: '429', message: quotaBody.error.message },
    });
  });

  it('falls back to retry-after seconds', async () => {
    const outcome = await callOnce((_req, res) => json(res, 429, quotaBody, { 'retry-after': '2' }));
    expect(outcome).toMatchObject({ kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 2000 });
  });

  it('the high-demand 429 (code no_capacity) is throttled overloaded', async () => {
    const body = {
      error: {
        type: 'too_many_requests',
        code: 'no_capacity',
        message:
          'The system is currently experiencing high demand and cannot process your request. Your request exceeds the maximum usage size allowed during peak load. Please retry after 6 seconds.',
      },
    };
    const outcome = await callOnce((_req, res) =>
      json(res, 429, body, { 'retry-after': '6', 'x-ratelimit-remaining-tokens': '120000' }),
    );
    expect(outcome).toEqual({
      kind: 'throttled',
      throttle: 'overloaded',
      retryAfterMs: 6000,
      utilization: null,
      error: { status: 429, code: 'no_capacity', message: body.error.message },
    });
  });

  it('a provisioned 429 at or above 100% utilization is rate_limit, with the utilization', async () => {
    const outcome = await callOnce((_req, res) =>
      json(res, 429, quotaBody, { 'retry-after-ms': '250', 'azure-openai-deployment-utilization': '104.5%' }),
    );
    expect(outcome).toMatchObject({ kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 250, utilization: 1.045 });
  });

  it('a provisioned 429 below 100% utilization is overloaded', async () => {
    const outcome = await callOnce((_req, res) =>
      json(res, 429, quotaBody, { 'retry-after-ms': '400', 'azure-openai-deployment-utilization': '82%' }),
    );
    expect(outcome).toMatchObject({ kind: 'throttled', throttle: 'overloaded', retryAfterMs: 400, utilization: 0.82 });
  });

  it('a 429 without any retry header has retryAfterMs null', async () => {
    const outcome = await callOnce((_req, res) => json(res, 429, quotaBody));
    expect(outcome).toMatchObject({ kind: 'throttled', throttle: 'rate_limit', retryAfterMs: null });
  });
});

describe('callChatCompletion: transient failures', () => {
  it('500 is transient with the upstream status and code', async () => {
    const body = { error: { code: 'InternalServerError', message: 'The server had an error while processing your request.' } };
    const outcome = await callOnce((_req, res) => json(res, 500, body));
    expect(outcome).toEqual({
      kind: 'transient',
      error: { status: 500, code: 'InternalServerError', message: body.error.message },
      retryAfterMs: null,
    });
  });

  it('503 with retry-after carries the delay', async () => {
    const outcome = await callOnce((_req, res) => json(res, 503, { error: { message: 'Service Unavailable' } }, { 'retry-after': '3' }));
    expect(outcome).toEqual({
      kind: 'transient',
      error: { status: 503, code: null, message: 'Service Unavailable' },
      retryAfterMs: 3000,
    });
  });

  it('a 502 with a non-JSON body is transient with a built message', async () => {
    const outcome = await callOnce((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    });
    expect(outcome).toMatchObject({ kind: 'transient', error: { status: 502, code: null } });
  });

  it.each([408, 409])('%i is transient', async (status) => {
    const outcome = await callOnce((_req, res) => json(res, status, { error: { code: String(status), message: 'try again' } }));
    expect(outcome).toMatchObject({ kind: 'transient', error: { status, code: String(status) } });
  });

  it('a dropped connection is transient with no status', async () => {
    const outcome = await callOnce((req) => req.socket.destroy());
    expect(outcome).toMatchObject({ kind: 'transient', retryAfterMs: null, error: { status: null, code: 'connection_error' } });
  });

  it('an answer slower than timeoutMs is a transient timeout', async () => {
    const started = Date.now();
    const outcome = await callOnce((_req, res) => {
      const timer = setTimeout(() => json(res, 200, completion), 2_000);
      res.on('close', () => clearTimeout(timer));
    }, slowClient);
    expect(outcome).toEqual({
      kind: 'transient',
      retryAfterMs: null,
      error: { status: null, code: 'timeout', message: 'the model call timed out' },
    });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('callChatCompletion: permanent failures', () => {
  it('400 content filter is permanent with status, code and message', async () => {
    const body = {
      error: {
        code: 'content_filter',
        message:
          "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
        param: 'prompt',
        status: 400,
        innererror: {
          code: 'ResponsibleAIPolicyViolation',
          content_filter_result: {
            hate: { filtered: false, severity: 'safe' },
            violence: { filtered: true, severity: 'high' },
          },
        },
      },
    };
    const outcome = await callOnce((_req, res) => json(res, 400, body));
    expect(outcome).toEqual({
      kind: 'permanent',
      error: { status: 400, code: 'content_filter', message: body.error.message },
    });
  });

  it('400 context_length_exceeded is permanent', async () => {
    const body = {
      error: {
        code: 'context_length_exceeded',
        message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        type: 'invalid_request_error',
        param: 'messages',
      },
    };
    const outcome = await callOnce((_req, res) => json(res, 400, body));
    expect(outcome).toEqual({
      kind: 'permanent',
      error: { status: 400, code: 'context_length_exceeded', message: body.error.message },
    });
  });

  it('401 is permanent', async () => {
    const body = {
      error: {
        code: '401',
        message: 'Access denied due to invalid subscription key or wrong API endpoint.',
      },
    };
    const outcome = await callOnce((_req, res) => json(res, 401, body));
    expect(outcome).toEqual({ kind: 'permanent', error: { status: 401, code: '401', message: body.error.message } });
  });

  it.each([
    [403, 'PermissionDenied'],
    [404, 'DeploymentNotFound'],
    [422, 'unprocessable'],
  ])('%i is permanent', async (status, code) => {
    const outcome = await callOnce((_req, res) => json(res, status, { error: { code, message: 'no' } }));
    expect(outcome).toEqual({ kind: 'permanent', error: { status, code, message: 'no' } });
  });
});

describe('callChatCompletion: the send-by guard in the client\'s fetch', () => {
  it('a send-by already passed when the request would go out: missed, and nothing reaches the server', async () => {
    reply = (_req, res) => json(res, 200, completion);
    const outcome = await callChatCompletion(client, request, { sendBy: Date.now() - 1 });
    expect(outcome).toEqual({ kind: 'missed' });
    expect(received).toHaveLength(0);
  });

  it('a send-by that passes inside the SDK, after the call began (an event-loop stall): missed, nothing sent', async () => {
    reply = (_req, res) => json(res, 200, completion);
    const sendBy = Date.now() + 30;
    // The SDK reaches fetch only after its own async steps; the stall lands between the call and them.
    const pending = callChatCompletion(client, request, { sendBy });
    while (Date.now() <= sendBy + 5) {
      // busy: the event loop is blocked
    }
    expect(await pending).toEqual({ kind: 'missed' });
    expect(received).toHaveLength(0);
  });

  it('a send-by still ahead: the call goes out as usual, and says when it went out (before the answer came)', async () => {
    reply = (_req, res) => setTimeout(() => json(res, 200, completion), 40);
    const before = Date.now();
    const outcome = await callChatCompletion(client, request, { sendBy: Date.now() + 10_000 });
    const answered = Date.now();
    expect(outcome).toMatchObject({ kind: 'completed' });
    expect(received).toHaveLength(1);
    const sentAt = (outcome as { sentAt?: number }).sentAt!;
    expect(sentAt).toBeGreaterThanOrEqual(before);
    expect(answered - sentAt).toBeGreaterThanOrEqual(35);
  });

  it('a call without send-by (the probe, other callers) is never stopped', async () => {
    reply = (_req, res) => json(res, 200, completion);
    expect(await callChatCompletion(client, request)).toMatchObject({ kind: 'completed' });
    expect(received).toHaveLength(1);
  });
});
