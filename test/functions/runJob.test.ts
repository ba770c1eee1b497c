/**
 * The job orchestration driven through the durable library's own replay executor: history in,
 * actions out, every step replaying from the start as on Azure. The gate and the activities answer
 * from a script; timers fire at their due time on a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { DurableClient } from 'durable-functions';
import { runJob, MAX_DEFERRALS } from '../../src/functions/runJob.js';
import { startJobOnce } from '../../src/functions/startJob.js';
import { Job } from '../../src/lib/jobs/job.js';
import { QueueLimits } from '../../src/lib/queues/queue.js';
import { StoredQueue } from '../../src/lib/queues/queueStore.js';
import { JobStore } from '../../src/lib/store/jobStore.js';
import { ACTIVITY_NAMES } from '../../src/functions/names.js';
import { AcquireDecision } from '../../src/lib/gate/types.js';
import { GateResult } from '../../src/lib/gate/operations.js';
import { CallModelInput, RunJobInput, RunJobOutput, SaveResultInput } from '../../src/lib/jobs/pipeline.js';
import { AttemptOutcome } from '../../src/lib/jobs/retryPolicy.js';
import { NotifyOutcome } from '../../src/lib/jobs/webhook.js';
import { OrchestrationInstance, ScheduledAction, orchestratorExecutor } from '../../src/local/durable/orchestrationDriver.js';

const T0 = new Date('2026-11-23T12:00:00.000Z');
const INPUT: RunJobInput = {
  jobId: 'job-1',
  deployment: 'gpt-4o',
  charge: 1_200,
  priority: 'batch',
  policy: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 },
};

interface Script {
  acquire: (now: number, input: unknown) => AcquireDecision;
  callModel: (input: CallModelInput, now: number) => AttemptOutcome;
  /** This job finishes its batch and the batch has a webhook. */
  notify?: boolean;
  notifyBatch?: () => NotifyOutcome;
}

interface Trace {
  output: RunJobOutput | undefined;
  error: string | undefined;
  saved: SaveResultInput[];
  calls: CallModelInput[];
  acquires: number;
  signals: { operation: string; input: unknown }[];
  timers: number[];
  notifications: number;
  instance: OrchestrationInstance;
  end: number;
}

async function drive(script: Script, input: RunJobInput = INPUT): Promise<Trace> {
  const instance = new OrchestrationInstance(orchestratorExecutor(runJob), 'runJob', input.jobId, input, T0);
  let now = T0.getTime();
  const trace: Trace = { output: undefined, error: undefined, saved: [], calls: [], acquires: 0, signals: [], timers: [], notifications: 0, instance, end: now };
  for (let steps = 0; steps < 10_000; steps++) {
    const result = await instance.step(new Date(now));
    if (result.done) {
      trace.output = result.output as RunJobOutput | undefined;
      trace.error = result.error;
      trace.end = now;
      return trace;
    }
    const awaited = result.scheduled.filter((a) => a.type !== 'entitySignal');
    for (const action of result.scheduled) {
      if (action.type === 'entitySignal') trace.signals.push({ operation: action.operation, input: action.input });
    }
    expect(awaited).toHaveLength(1);
    const action = awaited[0] as ScheduledAction;
    const at = new Date(now);
    if (action.type === 'entityCall') {
      trace.acquires += 1;
      const answer: GateResult<AcquireDecision> = { ok: true, value: script.acquire(now, action.input) };
      instance.answerEntityCall(action, answer, at);
    } else if (action.type === 'activity' && action.name === ACTIVITY_NAMES.callModel) {
      trace.calls.push(action.input as CallModelInput);
      instance.completeActivity(action.seq, script.callModel(action.input as CallModelInput, now), at);
    } else if (action.type === 'activity' && action.name === ACTIVITY_NAMES.saveResult) {
      trace.saved.push(action.input as SaveResultInput);
      instance.completeActivity(action.seq, { batchId: 'batch_1', notify: script.notify ?? false }, at);
    } else if (action.type === 'activity' && action.name === ACTIVITY_NAMES.notifyBatch) {
      trace.notifications += 1;
      expect(action.input).toEqual({ batchId: 'batch_1' });
      instance.completeActivity(action.seq, script.notifyBatch?.() ?? { kind: 'delivered', status: 200 }, at);
    } else if (action.type === 'timer') {
      trace.timers.push(action.fireAt.getTime() - now);
      now = Math.max(now, action.fireAt.getTime());
      instance.fireTimer(action.seq, new Date(now));
    } else {
      throw new Error(`unexpected action ${JSON.stringify(action)}`);
    }
  }
  throw new Error('orchestration did not finish');
}

const granted = (now: number, waitMs = 0): AcquireDecision => ({ kind: 'granted', startAt: now + waitMs, waitMs, sendBy: now + waitMs + 1_000 });
const completion = { id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] };
const usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 };
const completed: AttemptOutcome = { kind: 'completed', completion, usage, utilization: null, headers: { remainingTokens: 5_000, remainingRequests: 10 } };
const serverError: AttemptOutcome = { kind: 'transient', error: { status: 500, code: null, message: 'internal error' }, retryAfterMs: null };

describe('runJob orchestration', () => {
  it('acquires, sleeps once until the slot, calls the model, settles real usage and saves the result', async () => {
    const t = await drive({ acquire: (now) => granted(now, 5_000), callModel: () => completed });
    expect(t.error).toBeUndefined();
    expect(t.output).toEqual({ jobId: 'job-1', status: 'completed', attempts: 1 });
    expect(t.timers).toEqual([5_000]);
    expect(t.calls).toEqual([{ jobId: 'job-1', startAt: T0.getTime() + 5_000, sendBy: T0.getTime() + 6_000, attempt: 1 }]);
    // The settle names the slot it was granted, which releases the slot's in-flight lease.
    expect(t.signals).toEqual([{ operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 5_000, usedTokens: 120 } }]);
    expect(t.saved).toEqual([{ jobId: 'job-1', status: 'completed', attempts: 1, result: completion, usage }]);
  });

  it('wakes its wake lead before the slot and passes the slot\'s start on, so callModel waits out the rest', async () => {
    const t = await drive({ acquire: (now) => granted(now, 5_000), callModel: () => completed }, { ...INPUT, wakeLeadMs: 1_000 });
    expect(t.output).toEqual({ jobId: 'job-1', status: 'completed', attempts: 1 });
    // The only timer fires 1 s early: at startAt - lead.
    expect(t.timers).toEqual([4_000]);
    expect(t.calls).toEqual([{ jobId: 'job-1', startAt: T0.getTime() + 5_000, sendBy: T0.getTime() + 6_000, attempt: 1 }]);
    // The gate still hears of the slot it granted, not of the wake-up.
    expect(t.signals).toEqual([{ operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 5_000, usedTokens: 120 } }]);
  });

  it("asks the gate with the prompt's part of the charge and settles with it, so a PTU gate learns the completion share", async () => {
    const asked: unknown[] = [];
    const t = await drive(
      {
        acquire: (now, input) => {
          asked.push(input);
          return granted(now, 5_000);
        },
        callModel: () => completed,
      },
      { ...INPUT, promptTokens: 200 },
    );
    expect(asked).toEqual([expect.objectContaining({ tokens: 1_200, promptTokens: 200 })]);
    expect(t.signals).toEqual([{ operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 5_000, usedTokens: 120, promptTokens: 200 } }]);
  });

  it('settles with the time its call went out, so a standard gate holds the charge for its window from then', async () => {
    const t = await drive({ acquire: (now) => granted(now, 5_000), callModel: (input) => ({ ...completed, sentAt: input.startAt! + 4 }) });
    expect(t.signals).toEqual([{ operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 5_000, usedTokens: 120, sentAt: T0.getTime() + 5_004 } }]);
  });

  it('sets no timer when the slot is within the wake lead', async () => {
    const t = await drive({ acquire: (now) => granted(now, 400), callModel: () => completed }, { ...INPUT, wakeLeadMs: 1_000 });
    expect(t.timers).toEqual([]);
    expect(t.calls).toEqual([{ jobId: 'job-1', startAt: T0.getTime() + 400, sendBy: T0.getTime() + 1_400, attempt: 1 }]);
  });

  it('replays to the same actions: the lead comes from the input, never from the settings', async () => {
    const input: RunJobInput = { ...INPUT, wakeLeadMs: 2_500 };
    const t = await drive({ acquire: (now) => granted(now, 5_000), callModel: () => completed }, input);
    expect(t.timers).toEqual([2_500]);
    const actionsBefore = t.instance.actions.length;
    const replay = await t.instance.step(new Date(t.end));
    expect(replay).toMatchObject({ done: true, output: t.output, scheduled: [] });
    expect(t.instance.actions).toHaveLength(actionsBefore);
  });

  it('does not sleep when the slot is now', async () => {
    const t = await drive({ acquire: (now) => granted(now), callModel: () => completed });
    expect(t.timers).toEqual([]);
    expect(t.acquires).toBe(1);
  });

  it('reports a 429 to the gate, waits its retry-after and goes back through the gate', async () => {
    let call = 0;
    const t = await drive({
      acquire: (now) => granted(now),
      callModel: () =>
        call++ === 0
          ? { kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 7_000, utilization: null, error: { status: 429, code: '429', message: 'rate limit' } }
          : completed,
    });
    expect(t.output).toMatchObject({ status: 'completed', attempts: 2 });
    expect(t.acquires).toBe(2);
    expect(t.timers).toEqual([7_000]);
    expect(t.signals[0]).toEqual({ operation: 'settle', input: { charged: 1_200, startAt: T0.getTime(), throttled: { kind: 'rate_limit', retryAfterMs: 7_000 } } });
  });

  it('backs off with jitter on transient errors and gives up after the attempt limit with the upstream reason', async () => {
    const t = await drive({ acquire: (now) => granted(now), callModel: () => serverError });
    expect(t.calls).toHaveLength(3);
    expect(t.timers).toHaveLength(2);
    // Attempt 1 backs off 500-1,000 ms, attempt 2 1,000-2,000 ms.
    expect(t.timers[0]).toBeGreaterThanOrEqual(500);
    expect(t.timers[0]).toBeLessThanOrEqual(1_000);
    expect(t.timers[1]).toBeGreaterThanOrEqual(1_000);
    expect(t.timers[1]).toBeLessThanOrEqual(2_000);
    expect(t.output).toEqual({ jobId: 'job-1', status: 'failed', attempts: 3 });
    expect(t.saved).toEqual([
      { jobId: 'job-1', status: 'failed', attempts: 3, error: { status: 500, code: null, message: 'gave up after 3 attempts: internal error' } },
    ]);
  });

  it('fails at once on a permanent error, keeping the upstream status, code and message', async () => {
    const filtered: AttemptOutcome = { kind: 'permanent', error: { status: 400, code: 'content_filter', message: 'filtered' } };
    const t = await drive({ acquire: (now) => granted(now), callModel: () => filtered });
    expect(t.calls).toHaveLength(1);
    expect(t.saved).toEqual([{ jobId: 'job-1', status: 'failed', attempts: 1, error: { status: 400, code: 'content_filter', message: 'filtered' } }]);
  });

  it('comes back at the time the gate names when no slot fits the horizon', async () => {
    let asks = 0;
    const t = await drive({
      acquire: (now) => (asks++ === 0 ? { kind: 'retry', retryAt: now + 90_000, reason: 'beyond_horizon' } : granted(now, 2_000)),
      callModel: () => completed,
    });
    expect(t.timers).toEqual([90_000, 2_000]);
    expect(t.output).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('waits for a free in-flight slot when the gate says so, then goes back through the gate', async () => {
    let asks = 0;
    const t = await drive({
      acquire: (now) => (asks++ === 0 ? { kind: 'retry', retryAt: now + 4_000, reason: 'in_flight' } : granted(now)),
      callModel: () => completed,
    });
    expect(t.timers).toEqual([4_000]);
    expect(t.acquires).toBe(2);
    expect(t.signals).toEqual([{ operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 4_000, usedTokens: 120 } }]);
  });

  it('fails a request larger than the whole quota without calling the model', async () => {
    const t = await drive({ acquire: () => ({ kind: 'rejected', reason: 'too_large', limit: 1_000 }), callModel: () => completed });
    expect(t.calls).toHaveLength(0);
    expect(t.saved[0]).toMatchObject({ status: 'failed', error: { code: 'too_large', status: null } });
  });

  it('asks for a new slot when the worker woke too late to send, without counting an attempt; the missed slot gives its lease and its charge back', async () => {
    let call = 0;
    const t = await drive({ acquire: (now) => granted(now, call === 0 ? 3_000 : 0), callModel: () => (call++ === 0 ? { kind: 'missed' } : completed) });
    expect(t.acquires).toBe(2);
    expect(t.output).toMatchObject({ status: 'completed', attempts: 1 });
    expect(t.signals).toEqual([
      { operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 3_000, notSent: true } },
      { operation: 'settle', input: { charged: 1_200, startAt: T0.getTime() + 3_000, usedTokens: 120 } },
    ]);
  });

  it('gives up when the worker keeps missing its slots', async () => {
    const t = await drive({ acquire: (now) => granted(now), callModel: () => ({ kind: 'missed' }) });
    expect(t.calls).toHaveLength(MAX_DEFERRALS + 1);
    expect(t.saved[0]).toMatchObject({ status: 'failed', attempts: 0, error: { code: 'deferred_too_often' } });
  });

  it('gives up on work deferred too often', async () => {
    const t = await drive({ acquire: (now) => ({ kind: 'retry', retryAt: now + 1_000, reason: 'beyond_horizon' }), callModel: () => completed });
    expect(t.acquires).toBe(MAX_DEFERRALS + 1);
    expect(t.saved[0]).toMatchObject({ status: 'failed', error: { code: 'deferred_too_often' } });
  });

  it('waits out an open circuit however long it stays open: those retries are not deferrals', async () => {
    let asked = 0;
    const t = await drive({
      acquire: (now) => (++asked <= MAX_DEFERRALS + 20 ? { kind: 'retry', retryAt: now + 1_000, reason: 'circuit_open' } : granted(now)),
      callModel: () => completed,
    });
    expect(t.acquires).toBe(MAX_DEFERRALS + 21);
    expect(t.output).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('sends the batch webhook when this job finished its batch, retrying a failing receiver on durable timers', async () => {
    const answers: NotifyOutcome[] = [
      { kind: 'transient', status: 503, message: 'receiver answered 503' },
      { kind: 'transient', status: null, message: 'TimeoutError' },
      { kind: 'delivered', status: 204 },
    ];
    const t = await drive({ acquire: (now) => granted(now), callModel: () => completed, notify: true, notifyBatch: () => answers.shift()! });
    expect(t.notifications).toBe(3);
    expect(t.timers).toEqual([2_000, 4_000]);
    expect(t.output).toMatchObject({ status: 'completed' });
  });

  it('stops at a permanent refusal and after the last attempt; the job keeps its own outcome', async () => {
    const refused = await drive({ acquire: (now) => granted(now), callModel: () => completed, notify: true, notifyBatch: () => ({ kind: 'permanent', status: 404, message: 'receiver answered 404' }) });
    expect(refused.notifications).toBe(1);
    const down = await drive({ acquire: (now) => granted(now), callModel: () => completed, notify: true, notifyBatch: () => ({ kind: 'transient', status: 500, message: 'x' }) });
    expect(down.notifications).toBe(6);
    expect(down.output).toMatchObject({ status: 'completed' });
    const quiet = await drive({ acquire: (now) => granted(now), callModel: () => completed });
    expect(quiet.notifications).toBe(0);
  });

  it('passes its queue and the queue limits on every acquire', async () => {
    const queue = { name: 'team-a', windowMs: 60_000, tokensPerWindow: 5_000 };
    const inputs: unknown[] = [];
    let call = 0;
    const t = await drive(
      { acquire: (now, input) => (inputs.push(input), granted(now)), callModel: () => (call++ === 0 ? serverError : completed) },
      { ...INPUT, queue },
    );
    expect(t.output).toMatchObject({ status: 'completed', attempts: 2 });
    expect(inputs).toEqual([
      { tokens: 1_200, priority: 'batch', queue },
      { tokens: 1_200, priority: 'batch', queue },
    ]);
  });

  it('a job without a queue asks as before; a too-large refusal names the queue when it has a token limit', async () => {
    const inputs: unknown[] = [];
    await drive({ acquire: (now, input) => (inputs.push(input), granted(now)), callModel: () => completed });
    expect(inputs).toEqual([{ tokens: 1_200, priority: 'batch' }]);
    const t = await drive(
      { acquire: () => ({ kind: 'rejected', reason: 'too_large', limit: 1_000 }), callModel: () => completed },
      { ...INPUT, queue: { name: 'team-a', windowMs: 60_000, tokensPerWindow: 1_000 } },
    );
    expect(t.saved[0]).toMatchObject({ status: 'failed', error: { code: 'too_large', message: expect.stringContaining("queue team-a's") } });
  });

  it('refuses a malformed queue in its input', async () => {
    const t = await drive({ acquire: (now) => granted(now), callModel: () => completed }, { ...INPUT, queue: { name: 'a', windowMs: 0 } });
    expect(t.error).toMatch(/queue.windowMs/);
  });

  it('fails on input it cannot run', async () => {
    const t = await drive({ acquire: (now) => granted(now), callModel: () => completed }, { ...INPUT, charge: -1 });
    expect(t.error).toMatch(/charge must be a number above 0/);
  });

  it('replays its finished history to the same actions and output', async () => {
    let call = 0;
    const t = await drive({ acquire: (now) => granted(now, 1_000), callModel: () => (call++ === 0 ? serverError : completed) });
    const actionsBefore = t.instance.actions.length;
    const replay = await t.instance.step(new Date(t.end));
    expect(replay).toMatchObject({ done: true, output: t.output, scheduled: [] });
    expect(t.instance.actions).toHaveLength(actionsBefore);
  });
});

describe('startJobOnce: the queue limits reach the orchestration', () => {
  const job = (queue?: { id: string; name: string }) =>
    ({ id: 'job-q', deployment: 'gpt-4o', request: { messages: [], max_tokens: 4 }, charge: 10, priority: 'batch', status: 'queued', ...(queue ? { queue } : {}) }) as unknown as Job;
  const storedQueue = (id: string, limits: QueueLimits): StoredQueue =>
    ({ etag: 'e1', queue: { id, name: 'team-a', providers: [], limits, priority: 'batch', createdAt: '', updatedAt: '' } }) as StoredQueue;

  async function start(j: Job, stored: StoredQueue | undefined) {
    const started: { input: RunJobInput }[] = [];
    const logs: string[] = [];
    const client = { startNew: async (_name: string, options: { input: RunJobInput }) => (started.push(options), 'job-q') } as unknown as DurableClient;
    const store = { getQueue: async () => stored, updateJob: async () => undefined } as unknown as JobStore;
    await startJobOnce(client, store, j, INPUT.policy, (m) => logs.push(m));
    return { input: started[0]!.input, logs };
  }

  it('reads the queue and passes its limits, omitting those it does not set', async () => {
    const { input } = await start(job({ id: 'q1', name: 'team-a' }), storedQueue('q1', { tokens: 5_000, requests: null, windowSeconds: 30 }));
    expect(input.queue).toEqual({ name: 'team-a', windowMs: 30_000, tokensPerWindow: 5_000 });
  });

  it('a deleted (or replaced) queue: runs without queue limits and says so', async () => {
    const gone = await start(job({ id: 'q1', name: 'team-a' }), undefined);
    expect(gone.input.queue).toBeUndefined();
    expect(gone.logs[0]).toMatch(/no longer exists/);
    const replaced = await start(job({ id: 'q1', name: 'team-a' }), storedQueue('q2', { tokens: 5_000, requests: 3, windowSeconds: 30 }));
    expect(replaced.input.queue).toBeUndefined();
  });

  it('a job without a queue starts as before', async () => {
    const { input, logs } = await start(job(), storedQueue('q1', { tokens: 1, requests: 1, windowSeconds: 1 }));
    expect(input.queue).toBeUndefined();
    expect(logs).toEqual([]);
    // The prompt's part of the charge: 10 less the budget of 4.
    expect(input.promptTokens).toBe(6);
  });

  it('fixes the wake lead of the settings (GATE_WAKE_LEAD_MS, default 1000 ms) into the input', async () => {
    const { input } = await start(job(), undefined);
    expect(input.wakeLeadMs).toBe(1_000);
  });
});
