/**
 * Access (issue #8, point 4), on the local runtime over real HTTP:
 * - beyond loopback ('0.0.0.0') every function-level route and /local/* answers 401 JSON without the
 *   function key, and serves with it (x-functions-key or ?code=); a wrong key is a 401; health is anonymous;
 * - on loopback (the default, `npm start` as a process) no key is asked, and nothing listens beyond it;
 * - request ids are 128 random bits: distinct, 22 base64url characters, no order, every bit a coin flip;
 * - no secret and no prompt text in any log line: a batch with a webhook and feedback messages run with an
 *   API key and a webhook secret that are canaries, and every line the runtime logs, prints to the console
 *   or writes to stdout/stderr is searched for them. The canaries are really used: the model endpoint
 *   receives the key, and the webhook's signature verifies with the secret.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const API_KEY = 'sk-CANARY-4f1d9c2a7e6b4c3d8a9f0e1d2c3b4a59';
const WEBHOOK_SECRET = 'whsec-CANARY-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d';
const PROMPT = 'Zanzibar-periwinkle-quokka ledger';

vi.hoisted(() => {
  process.env.AZURE_OPENAI_API_KEY = 'sk-CANARY-4f1d9c2a7e6b4c3d8a9f0e1d2c3b4a59';
  process.env.WEBHOOK_SIGNING_SECRET = 'whsec-CANARY-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d';
  process.env.WEBHOOK_ALLOW_PRIVATE_NETWORKS = 'true';
  // A large quota and short budgets: the jobs of these tests drain in seconds.
  process.env.GATE_TOKENS_PER_MINUTE = '1000000';
  process.env.GATE_DEFAULT_MAX_TOKENS = '20';
  process.env.JOB_RETRY_BASE_MS = '50';
  // The key must come from the data folder (generated), not from the environment.
  delete process.env.LOCAL_FUNCTION_KEY;
});

import { loadSettings } from '../../src/lib/config.js';
import { verifyWebhook } from '../../src/lib/jobs/webhook.js';
import { LocalRuntime, startLocalRuntime } from '../../src/local/runtime.js';
import { Simulator, startSimulator } from '../../src/local/simulator/server.js';
import { simulatorOptionsFor } from '../../src/local/simulatorOptions.js';
import { startRuntimeProcess, until } from '../support/runtimeProcess.js';

/** Every line the process logs, whichever way: the runtime's log option, the console, raw stdout/stderr writes. */
const captured: string[] = [];
const dirs: string[] = [];
let runtime: LocalRuntime;
let simulator: Simulator;
let modelProxy: http.Server;
let webhookReceiver: http.Server;
/** The api-key header of every call the model endpoint received. */
const keysSeen: string[] = [];
const webhooks: { body: string; signature: string; timestamp: number }[] = [];
/** Request ids the runtime answered over HTTP, checked with the others for shape and uniqueness. */
const issuedOverHttp: string[] = [];

/** The machine's first non-loopback IPv4 address, if it has one (a sandbox may not). */
const outsideAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function close(server: http.Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

function capture(): void {
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method].bind(console);
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push(args.map(String).join(' '));
      original(...args);
    });
  }
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      captured.push(String(chunk));
      return original(chunk, ...rest);
    }) as typeof stream.write);
  }
}

beforeAll(async () => {
  capture();
  simulator = await startSimulator(simulatorOptionsFor(loadSettings()));
  // Between the app and the simulator: records the key each call carries, so the canary is known to be used.
  const target = new URL(simulator.endpoint);
  modelProxy = http.createServer((req, res) => {
    keysSeen.push(String(req.headers['api-key'] ?? req.headers.authorization ?? ''));
    const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  process.env.AZURE_OPENAI_ENDPOINT = await listen(modelProxy);
  webhookReceiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      webhooks.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-tokengate-signature']), timestamp: Number(req.headers['x-tokengate-timestamp']) });
      res.writeHead(204).end();
    });
  });
  await listen(webhookReceiver);
  const dataDir = mkdtempSync(join(tmpdir(), 'tokengate-access-'));
  dirs.push(dataDir);
  runtime = await startLocalRuntime({ port: 0, host: '0.0.0.0', dataDir, functionsDir: join(__dirname, '..', '..', 'src', 'functions'), log: (line) => captured.push(line) });
}, 90_000);

afterAll(async () => {
  await runtime?.close();
  await close(modelProxy);
  await close(webhookReceiver);
  await simulator?.close();
  vi.restoreAllMocks();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The runtime as a client beyond loopback reaches it: through the machine's own address when it has one. */
const base = () => (outsideAddress ? runtime.url.replace('127.0.0.1', outsideAddress) : runtime.url);
const api = (path: string, init?: RequestInit) => fetch(`${base()}${path}`, init);
const withKey = (init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string>), 'x-functions-key': runtime.functionKey! } });
const postJson = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const chat = (content: string) => ({ messages: [{ role: 'user', content }], max_tokens: 5 });

async function expectUnauthorized(response: Response): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toMatch(/application\/json/);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
}

describe('the runtime beyond loopback', () => {
  it('keeps a generated function key in its data folder', () => {
    expect(runtime.functionKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('answers 401 JSON without the key on every function-level route and /local/*, and serves health anonymously', async () => {
    const routes = [...runtime.functions.values()].filter((f) => f.trigger.type === 'httpTrigger');
    expect(routes.length).toBeGreaterThan(3);
    for (const fn of routes) {
      const path = `/api/${String(fn.trigger.route).replace(/\{\w+\??\}/g, 'req_AAAAAAAAAAAAAAAAAAAAAA')}`;
      const method = (fn.trigger.methods as string[])[0]!;
      const response = await api(path, { method, ...(method === 'GET' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) });
      if (fn.trigger.authLevel === 'anonymous') {
        expect(fn.name).toBe('health');
        expect(response.status).toBe(200);
      } else {
        expect(fn.trigger.authLevel, fn.name).toBe('function');
        await expectUnauthorized(response);
      }
    }
    for (const path of ['/local/status', '/local/queues/feedback-in', '/local/simulator/faults']) await expectUnauthorized(await api(path));
    await expectUnauthorized(await api('/local/queues/feedback-in', { method: 'POST', body: JSON.stringify({ text: PROMPT }) }));
    expect((await api('/local/status', withKey())).status).toBe(200);
  });

  it('serves with the right key in x-functions-key or ?code=, and refuses a wrong one either way', async () => {
    const key = runtime.functionKey!;
    for (const response of [await api('/api/producer', postJson([chat('key by header')], { 'x-functions-key': key })), await api(`/api/producer?code=${encodeURIComponent(key)}`, postJson([chat('key by query')]))]) {
      expect(response.status).toBe(202);
      issuedOverHttp.push(...((await response.json()) as { request_ids: string[] }).request_ids);
    }
    const flipped = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    for (const wrong of [flipped, key.slice(1), `${key}x`, '', ' ', key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase(), 'null']) {
      await expectUnauthorized(await api('/api/producer', postJson([chat('wrong key')], { 'x-functions-key': wrong })));
      await expectUnauthorized(await api(`/api/producer?code=${encodeURIComponent(wrong)}`, postJson([chat('wrong key')])));
    }
    // A bad key in the header is not rescued by a good one in the query.
    await expectUnauthorized(await api(`/api/producer?code=${encodeURIComponent(key)}`, postJson([chat('both')], { 'x-functions-key': flipped })));
  });

  it('never logs a secret or prompt text: a batch with a webhook, feedback in and out, refused input', async () => {
    const webhook = `http://127.0.0.1:${(webhookReceiver.address() as AddressInfo).port}/hook`;
    const submitted = await api('/api/producer', withKey(postJson({ requests: [chat(`${PROMPT} one`), chat(`${PROMPT} two`)], webhook, metadata: { note: 'plain' } })));
    expect(submitted.status).toBe(202);
    const { batch_id } = (await submitted.json()) as { batch_id: string };
    await api('/local/queues/feedback-in', withKey({ method: 'POST', body: JSON.stringify({ id: 'form-1', text: `${PROMPT} feedback`, rating: 2 }) }));
    // Malformed feedback (dead-letter path) and refused producer input that carry the prompt text too.
    await api('/local/queues/feedback-in', withKey({ method: 'POST', body: JSON.stringify({ text: 42, customer: PROMPT, channel: PROMPT.repeat(10) }) }));
    await api('/local/queues/feedback-in', withKey({ method: 'POST', body: `{"text": "${PROMPT}"` }));
    expect((await api('/api/producer', withKey(postJson([chat(PROMPT), { messages: [{ role: PROMPT, content: PROMPT }] }])))).status).toBe(400);
    await api(`/api/response/${encodeURIComponent(PROMPT)}`, withKey());

    await until(async () => {
      const status = (await (await api(`/api/batches/${batch_id}`, withKey())).json()) as { done: boolean };
      return status.done ? true : undefined;
    }, 30_000, 'the batch');
    const out = await until(async () => {
      const { messages } = (await (await api('/local/queues/feedback-out', withKey())).json()) as { messages: { body: { feedback_id: string } }[] };
      return messages.some((m) => m.body.feedback_id === 'form-1') ? messages : undefined;
    }, 30_000, 'the feedback analysis');
    expect(out.length).toBeGreaterThan(0);
    await until(async () => (webhooks.length > 0 ? true : undefined), 30_000, 'the webhook');
    await until(async () => {
      const { deadLetters } = (await (await api('/local/queues/feedback-in', withKey())).json()) as { deadLetters: unknown[] };
      return deadLetters.length >= 2 ? true : undefined;
    }, 30_000, 'the dead letters');

    // The canaries were really in use: the model got the key, the webhook is signed with the secret.
    expect(keysSeen.length).toBeGreaterThan(0);
    expect(keysSeen.every((k) => k === API_KEY)).toBe(true);
    const hook = webhooks[0]!;
    expect(verifyWebhook(WEBHOOK_SECRET, hook.timestamp, hook.body, hook.signature, Date.now())).toBe(true);

    const all = captured.join('\n');
    expect(captured.length).toBeGreaterThan(5);
    expect(all).toMatch(/batch_/);
    expect(all).not.toContain(API_KEY);
    expect(all).not.toContain(WEBHOOK_SECRET);
    expect(all).not.toContain('CANARY');
    expect(all).not.toContain(PROMPT);
    expect(all).not.toContain(runtime.functionKey!);
  }, 90_000);

  it('hands out request ids of 128 random bits: distinct, base64url, unordered, every bit a fair coin', async () => {
    // The runtime's own producer (the module it loaded), called directly: its events are not delivered,
    // so these 512 jobs stay queued instead of loading the runtime while it shuts down.
    const { producer } = await import('../../src/functions/producer.js');
    const { HttpRequest, InvocationContext } = await import('@azure/functions');
    const ids: string[] = [...issuedOverHttp];
    const batches: string[] = [];
    for (let call = 0; call < 2; call += 1) {
      const body = JSON.stringify(Array.from({ length: 256 }, (_, i) => chat(`id ${call}-${i}`)));
      const request = new HttpRequest({ method: 'POST', url: 'http://localhost/api/producer', headers: { 'content-type': 'application/json' }, body: { string: body } });
      const answer = await producer(request, new InvocationContext({ invocationId: 'ids', functionName: 'producer', logHandler: () => undefined }));
      expect(answer.status).toBe(202);
      const { batch_id, request_ids } = answer.jsonBody as { batch_id: string; request_ids: string[] };
      ids.push(...request_ids);
      batches.push(batch_id);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [...ids, ...batches]) {
      expect(id).toMatch(/^(req|batch)_[A-Za-z0-9_-]{21}[AQgw]$/);
      expect(Buffer.from(id.split('_').slice(1).join('_'), 'base64url')).toHaveLength(16);
    }
    const values = ids.slice(issuedOverHttp.length).map((id) => BigInt(`0x${Buffer.from(id.slice(4), 'base64url').toString('hex')}`));
    // Not a counter: issue order is not numeric order, and consecutive ids do not differ by a constant.
    const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted).not.toEqual(values);
    expect(new Set(values.slice(1).map((v, i) => v - values[i]!)).size).toBeGreaterThan(values.length / 2);
    expect(values).toHaveLength(512);
    // Each of the 128 bits is set in about half the ids: 512 draws, mean 256, sd 11.3; ±6 sd never fails by chance.
    for (let bit = 0n; bit < 128n; bit += 1n) {
      const ones = values.filter((v) => (v >> bit) & 1n).length;
      expect(ones, `bit ${bit}`).toBeGreaterThan(188);
      expect(ones, `bit ${bit}`).toBeLessThan(324);
    }
  }, 30_000);
});

describe('the runtime on loopback (the default, as `npm start` runs it)', () => {
  it('asks for no key, listens on loopback only, and prints neither secrets nor prompts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tokengate-access-lo-'));
    dirs.push(dataDir);
    const rt = await startRuntimeProcess(dataDir, {
      HOST: '',
      AZURE_OPENAI_ENDPOINT: '',
      AZURE_OPENAI_API_KEY: API_KEY,
      WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
      GATE_TOKENS_PER_MINUTE: '1000000',
      GATE_DEFAULT_MAX_TOKENS: '20',
    });
    try {
      expect(rt.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const submitted = await rt.api('/api/producer', postJson([chat(`${PROMPT} loopback`)]));
      expect(submitted.status).toBe(202);
      const { batch_id } = (await submitted.json()) as { batch_id: string };
      expect((await rt.api('/local/status')).status).toBe(200);
      await until(async () => ((await (await rt.api(`/api/batches/${batch_id}`)).json()) as { done: boolean }).done || undefined, 30_000, 'the loopback batch');
      if (outsideAddress) {
        // Nothing answers on the machine's other address.
        await expect(fetch(rt.url.replace('127.0.0.1', outsideAddress), { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
      }
      expect(rt.output()).not.toMatch(/function key required/);
      expect(rt.output()).not.toContain('CANARY');
      expect(rt.output()).not.toContain(PROMPT);
    } finally {
      await rt.stop();
    }
  }, 120_000);
});
