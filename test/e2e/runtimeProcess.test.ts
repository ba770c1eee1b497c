/**
 * The local runtime as a newcomer runs it: `node dist/src/local/runtime.js` in its own process, with
 * its data folder. A 200-job batch, feedback in and out, a poison message, and `kill -9` in the middle
 * of a batch followed by a restart that finishes every job exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeProcess, startRuntimeProcess, until } from '../support/runtimeProcess.js';

/** Short windows so a batch needing several windows of quota drains in seconds. */
const ENV = {
  GATE_WINDOW_SECONDS: '3',
  GATE_TOKENS_PER_MINUTE: '20000',
  GATE_START_TOLERANCE_MS: '300',
  GATE_DEFAULT_MAX_TOKENS: '150',
  JOB_RETRY_BASE_MS: '50',
};

const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-proc-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface BatchStatus {
  done: boolean;
  counts: Record<string, number>;
}

const requests = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ custom_id: `${tag}-${i}`, messages: [{ role: 'user', content: `Summarize item ${i} of ${tag}` }], max_tokens: 60 + (i % 5) * 20 }));

async function submit(rt: RuntimeProcess, body: unknown): Promise<{ batch_id: string; request_ids: string[] }> {
  const response = await rt.api('/api/producer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(202);
  return (await response.json()) as { batch_id: string; request_ids: string[] };
}

const batchStatus = async (rt: RuntimeProcess, id: string) => (await (await rt.api(`/api/batches/${id}`)).json()) as BatchStatus;

async function results(rt: RuntimeProcess, batchId: string): Promise<{ custom_id: string; response: { status_code: number } | null }[]> {
  const text = await (await rt.api(`/api/batches/${batchId}/results?format=jsonl`)).text();
  return text.trim().split('\n').map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number } | null });
}

describe('the runtime as a process', () => {
  let rt: RuntimeProcess;
  beforeAll(async () => {
    rt = await startRuntimeProcess(dataDir(), ENV);
  }, 90_000);
  afterAll(() => rt.stop());

  it('drains a 200-job batch; every result is readable through /api/response', async () => {
    const { batch_id, request_ids } = await submit(rt, requests(200, 'big'));
    expect(new Set(request_ids).size).toBe(200);
    const status = await until(async () => {
      const s = await batchStatus(rt, batch_id);
      return s.done ? s : undefined;
    }, 120_000, 'the batch to drain');
    expect(status.counts).toMatchObject({ completed: 200, failed: 0 });
    const answers = await Promise.all(request_ids.map(async (id) => (await (await rt.api(`/api/response/${id}`)).json()) as { status: string; custom_id: string; result: { object: string } }));
    answers.forEach((a, i) => expect(a).toMatchObject({ status: 'completed', custom_id: `big-${i}`, result: { object: 'chat.completion' } }));
    const local = (await (await rt.api('/local/status')).json()) as { simulator: { throttled: { rate_limit: number } } };
    expect(local.simulator.throttled.rate_limit).toBe(0);
  }, 150_000);

  it('analyses a feedback message onto feedback-out and dead-letters a poison one with a reason', async () => {
    await rt.api('/local/queues/feedback-in', { method: 'POST', body: JSON.stringify({ id: 'form-1', text: 'The courier was late twice', rating: 2 }) });
    await rt.api('/local/queues/feedback-in', { method: 'POST', body: 'not json at all' });
    const out = await until(async () => {
      const { messages } = (await (await rt.api('/local/queues/feedback-out')).json()) as { messages: { body: Record<string, unknown> }[] };
      return messages.length > 0 ? messages : undefined;
    }, 60_000, 'feedback-out');
    expect(out).toHaveLength(1);
    expect(out[0]!.body).toMatchObject({ feedback_id: 'form-1', status: 'completed', analysis: { sentiment: expect.any(String) } });
    const letters = await until(async () => {
      const { deadLetters } = (await (await rt.api('/local/queues/feedback-in')).json()) as { deadLetters: Record<string, unknown>[] };
      return deadLetters.length > 0 ? deadLetters : undefined;
    }, 60_000, 'the dead letter');
    expect(letters).toMatchObject([{ body: 'not json at all', deadLetterReason: 'MaxDeliveryCountExceeded', deliveryCount: 10, lastError: expect.any(String) }]);
    expect(rt.output()).not.toMatch(/The courier was late/);
  }, 120_000);
});

describe('kill -9 in the middle of a batch', () => {
  it('restarts on the same data folder and completes every job exactly once', async () => {
    const dir = dataDir();
    // A slower quota, so the batch is still running when the process dies.
    const env = { ...ENV, GATE_TOKENS_PER_MINUTE: '6000' };
    const first = await startRuntimeProcess(dir, env);
    const { batch_id, request_ids } = await submit(first, requests(200, 'crash'));
    const before = await until(async () => {
      const s = await batchStatus(first, batch_id);
      return (s.counts.completed ?? 0) >= 40 ? s : undefined;
    }, 120_000, '40 jobs to complete');
    await first.kill9();
    expect(before.done).toBe(false);

    const second = await startRuntimeProcess(dir, env);
    try {
      const local = (await (await second.api('/local/status')).json()) as { recovered: { running: number } };
      expect(local.recovered.running).toBeGreaterThan(0);
      const status = await until(async () => {
        const s = await batchStatus(second, batch_id);
        return s.done ? s : undefined;
      }, 180_000, 'the batch to drain after the restart');
      expect(status.counts).toMatchObject({ completed: 200, failed: 0 });
      const lines = await results(second, batch_id);
      expect(lines).toHaveLength(200);
      expect(new Set(lines.map((l) => l.custom_id)).size).toBe(200);
      expect(lines.every((l) => l.response?.status_code === 200)).toBe(true);
      const orchestrations = ((await (await second.api('/local/status')).json()) as { orchestrations: Record<string, number> }).orchestrations;
      expect(orchestrations).toEqual({ Running: 0, Completed: 200, Failed: 0 });
      const one = (await (await second.api(`/api/response/${request_ids[0]}`)).json()) as { status: string };
      expect(one.status).toBe('completed');
    } finally {
      await second.stop();
    }
  }, 360_000);
});
