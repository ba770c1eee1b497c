/**
 * The whole app on the local runtime, in one process: real HTTP on 127.0.0.1, the unmodified functions
 * loaded through the emulated functions-core, the durable engine, the embedded queues, the Azure OpenAI
 * simulator and a local Cosmos-protocol server.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.GATE_WINDOW_SECONDS = '3';
  process.env.GATE_TOKENS_PER_MINUTE = '4000';
  process.env.GATE_START_TOLERANCE_MS = '300';
  process.env.GATE_DEFAULT_MAX_TOKENS = '150';
  process.env.JOB_RETRY_BASE_MS = '50';
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { HELP, Io, runCli } from '../../src/local/cli.js';
import { LocalRuntime, startLocalRuntime } from '../../src/local/runtime.js';
import { busiestInterval } from '../lib/gate/reference.js';

let runtime: LocalRuntime;
const logs: string[] = [];

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokengate-e2e-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, functionsDir: join(__dirname, '..', '..', 'src', 'functions'), log: (line) => logs.push(line) });
}, 60_000);
afterAll(() => runtime.close());

const api = (path: string, init?: RequestInit) => fetch(`${runtime.url}${path}`, init);

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the local runtime', () => {
  it('drains a 60-job batch through the gate within the quota, every result readable once', async () => {
    const requests = Array.from({ length: 60 }, (_, i) => ({ custom_id: `j-${i}`, messages: [{ role: 'user', content: `Summarize item ${i} of the report` }] }));
    const submitted = await api('/api/producer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(requests) });
    expect(submitted.status).toBe(202);
    const { batch_id, request_ids } = (await submitted.json()) as { batch_id: string; request_ids: string[] };
    const status = await until(async () => {
      const body = (await (await api(`/api/batches/${batch_id}`)).json()) as { done: boolean; counts: Record<string, number> };
      return body.done ? body : undefined;
    }, 60_000);
    expect(status.counts).toMatchObject({ completed: 60, failed: 0 });
    const one = (await (await api(`/api/response/${request_ids[7]}`)).json()) as { status: string; custom_id: string; result: { object: string } };
    expect(one).toMatchObject({ status: 'completed', custom_id: 'j-7', result: { object: 'chat.completion' } });
    const lines = (await (await api(`/api/batches/${batch_id}/results?format=jsonl`)).text()).trim().split('\n');
    expect(new Set(lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).size).toBe(60);

    const stats = runtime.simulator!.stats();
    expect(stats.throttled.rate_limit).toBe(0);
    const windowMs = runtime.settings.gate.windowMs;
    const calls = stats.calls.map((c) => ({ startAt: c.at, tokens: c.tokens }));
    expect(busiestInterval(calls, windowMs, (g) => g.tokens)).toBeLessThanOrEqual(runtime.settings.gate.tokensPerMinute);
    // The batch needed more than two windows of quota: the gate made it wait, and the simulator, which
    // enforces the same quota as Azure does, never had to throttle.
    expect(calls.reduce((sum, c) => sum + c.tokens, 0)).toBeGreaterThan(2 * runtime.settings.gate.tokensPerMinute);
    const times = calls.map((c) => c.startAt);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(2 * windowMs);
  }, 90_000);

  it('analyses feedback from feedback-in onto feedback-out, and dead-letters what it cannot parse, with the reason', async () => {
    await api('/local/queues/feedback-in', { method: 'POST', body: JSON.stringify({ id: 'form-9', text: 'Support solved it in minutes', rating: 5 }) });
    await api('/local/queues/feedback-in', { method: 'POST', body: '{"rating": 2}' });
    const out = await until(async () => {
      const { messages } = (await (await api('/local/queues/feedback-out')).json()) as { messages: { body: Record<string, unknown> }[] };
      return messages.length > 0 ? messages : undefined;
    }, 30_000);
    expect(out[0]!.body).toMatchObject({ feedback_id: 'form-9', status: 'completed', analysis: { sentiment: expect.any(String), urgency: expect.any(String) } });
    const deadLetters = await until(async () => {
      const { deadLetters } = (await (await api('/local/queues/feedback-in')).json()) as { deadLetters: Record<string, unknown>[] };
      return deadLetters.length > 0 ? deadLetters : undefined;
    }, 30_000);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ deadLetterReason: 'MaxDeliveryCountExceeded', deliveryCount: 10, lastError: expect.stringMatching(/text: is required/) });
  }, 60_000);

  it('answers health, 404 for unknown routes, and never logs prompt text', async () => {
    expect(await (await api('/api/health')).json()).toMatchObject({ status: 'ok' });
    expect((await api('/api/nothing')).status).toBe(404);
    expect(logs.join('\n')).not.toMatch(/Summarize item|Support solved it/);
  });

  it('has a CLI that submits a JSONL batch with progress and a summary, sends feedback and peeks queues', async () => {
    const lines: string[] = [];
    const io: Io = { out: (t) => lines.push(t), err: (t) => lines.push(`ERR ${t}`), progress: () => undefined };
    const file = join(mkdtempSync(join(tmpdir(), 'tokengate-')), 'batch.jsonl');
    writeFileSync(file, Array.from({ length: 5 }, (_, i) => JSON.stringify({ custom_id: `cli-${i}`, method: 'POST', url: '/chat/completions', body: { messages: [{ role: 'user', content: `item ${i}` }], max_tokens: 40 } })).join('\n'));
    expect(await runCli(['submit', file, '--url', runtime.url], io, 50)).toBe(0);
    expect(lines.join('\n')).toMatch(/jobs {6}5 completed, 0 failed/);
    expect(lines.join('\n')).toMatch(/achieved {2}\d+ tokens used per 3 s window; quota 4000/);
    expect(await runCli(['feedback', 'Loved the quick reply', '--url', runtime.url], io)).toBe(0);
    expect(await runCli(['peek', 'feedback-in', '--url', runtime.url], io)).toBe(0);
    expect(await runCli(['--help'], io)).toBe(0);
    expect(lines).toContain(HELP);
    expect(await runCli(['launch'], io)).toBe(2);
    expect(await runCli(['peek', 'feedback-out', '--url', 'http://127.0.0.1:9'], io)).toBe(1);
    expect(lines[lines.length - 1]).toMatch(/cannot reach the runtime/);
  }, 60_000);
});
