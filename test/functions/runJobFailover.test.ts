/**
 * `runJob` with a deadline (synchronous calls) and with several deployments (failover), driven through
 * the durable library's replay executor against real gate entities: each deployment's entity state is
 * run by `runGateOperation` (the gate, the wait bound and the circuit breaker) on a virtual clock, and
 * the orchestration's settle signals are applied to the entity that granted the slot.
 */
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/functions/runJob.js';
import { ACTIVITY_NAMES } from '../../src/functions/names.js';
import { BreakerConfig } from '../../src/lib/gate/breaker.js';
import { gateConfigFrom } from '../../src/lib/gate/config.js';
import { GateEntityState, runGateOperation } from '../../src/lib/gate/operations.js';
import { AcquireDecision } from '../../src/lib/gate/types.js';
import { CallModelInput, RunJobInput, RunJobOutput, SaveResultInput } from '../../src/lib/jobs/pipeline.js';
import { AttemptOutcome } from '../../src/lib/jobs/retryPolicy.js';
import { OrchestrationInstance, orchestratorExecutor } from '../../src/local/durable/orchestrationDriver.js';
import { runToEnd } from '../support/orchestrationSteps.js';

const T0 = Date.parse('2026-11-23T12:00:00.000Z');
const WINDOW = 60_000;
const BREAKER: BreakerConfig = { failureThreshold: 3, windowMs: 60_000, coolDownMs: 30_000, maxCoolDownMs: 300_000, probeTimeoutMs: 300_000 };
const gateConfig = (tokensPerMinute: number) =>
  gateConfigFrom({ mode: 'standard', tokensPerMinute, requestsPerMinute: 600, windowMs: WINDOW, horizonMs: 2 * WINDOW, ptuMaxUtilization: 0.7, interactiveReserve: 0.2, startToleranceMs: 1000, minIntervalMs: 0 });

/** Deployments by name: their entity states, run as the tokenGate entity runs them. */
class Gates {
  readonly states = new Map<string, GateEntityState | undefined>();
  readonly asked: { deployment: string; input: unknown; answer: AcquireDecision }[] = [];
  readonly settled: { deployment: string; input: Record<string, unknown> }[] = [];
  constructor(private readonly quotas: Record<string, number>) {}

  run(deployment: string, operation: string, input: unknown, now: number) {
    const outcome = runGateOperation(this.states.get(deployment), () => gateConfig(this.quotas[deployment]!), operation, input, now, { breaker: BREAKER });
    // Through JSON, as the entity's state is stored.
    this.states.set(deployment, outcome.state === undefined ? undefined : (JSON.parse(JSON.stringify(outcome.state)) as GateEntityState));
    return outcome.result;
  }
}


interface Trace {
  output: RunJobOutput | undefined;
  saved: SaveResultInput[];
  calls: CallModelInput[];
  end: number;
}

async function drive(gates: Gates, input: RunJobInput, callModel: (input: CallModelInput, now: number) => AttemptOutcome, start = T0): Promise<Trace> {
  const instance = new OrchestrationInstance(orchestratorExecutor(runJob), 'runJob', input.jobId, input, new Date(start));
  const trace: Trace = { output: undefined, saved: [], calls: [], end: start };
  const { output, end } = await runToEnd(instance, start, {
    signal: (key, operation, signalled, now) => {
      gates.run(key, operation, signalled, now);
      gates.settled.push({ deployment: key, input: signalled as Record<string, unknown> });
    },
    call: (key, operation, asked, now) => {
      const answer = gates.run(key, operation, asked, now);
      if (answer.ok) gates.asked.push({ deployment: key, input: asked, answer: answer.value as AcquireDecision });
      return answer;
    },
    activity: (name, activityInput, now) => {
      if (name === ACTIVITY_NAMES.callModel) {
        trace.calls.push(activityInput as CallModelInput);
        return callModel(activityInput as CallModelInput, now);
      }
      if (name === ACTIVITY_NAMES.saveResult) {
        trace.saved.push(activityInput as SaveResultInput);
        return { batchId: 'batch_1', notify: false };
      }
      throw new Error(`unexpected activity ${name}`);
    },
  });
  return { ...trace, output: output as RunJobOutput, end };
}

const completion = { id: 'chatcmpl-1', object: 'chat.completion', choices: [] };
const completed: AttemptOutcome = { kind: 'completed', completion, usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }, utilization: null, headers: { remainingTokens: null, remainingRequests: null } };
const serverError: AttemptOutcome = { kind: 'transient', error: { status: 500, code: null, message: 'internal error' }, retryAfterMs: null };
const policy = { maxAttempts: 1, baseDelayMs: 1_000, maxDelayMs: 8_000 };
const pooled = (jobId: string, charge = 1_000): RunJobInput => ({ jobId, deployment: 'ptu', charge, priority: 'batch', policy, deployments: ['ptu', 'standard'], spilloverWaitMs: 2_000 });

describe('runJob with a deadline (synchronous calls)', () => {
  it('fails at once as rate_limited, with the start the gate would have granted, when the slot is beyond the bound; nothing is reserved', async () => {
    const gates = new Gates({ 'gpt-4o': 10_000 });
    // Fill the window: the next 6,000-token call can only start when this leaves it.
    gates.run('gpt-4o', 'acquire', { tokens: 8_000, priority: 'interactive' }, T0);
    const before = JSON.stringify(gates.states.get('gpt-4o'));
    const input: RunJobInput = { jobId: 'sync-1', deployment: 'gpt-4o', charge: 6_000, priority: 'interactive', policy, deadline: T0 + 5_000 };
    const t = await drive(gates, input, () => completed);
    expect(t.calls).toHaveLength(0);
    expect(gates.asked[0]).toMatchObject({ input: { maxWaitMs: 5_000 }, answer: { kind: 'retry', reason: 'wait_exceeds_bound' } });
    const retryAt = (gates.asked[0]!.answer as { retryAt: number }).retryAt;
    expect(retryAt).toBeGreaterThan(T0 + WINDOW - 1);
    expect(t.output).toEqual({ jobId: 'sync-1', status: 'failed', attempts: 0, retryAt });
    expect(t.saved[0]).toMatchObject({ status: 'failed', error: { status: 429, code: 'rate_limited' } });
    expect(t.end).toBe(T0);
    expect(JSON.stringify(gates.states.get('gpt-4o'))).toBe(before);
  });

  it('runs normally when the slot is within the bound, sleeping until it', async () => {
    const gates = new Gates({ 'gpt-4o': 10_000 });
    const input: RunJobInput = { jobId: 'sync-2', deployment: 'gpt-4o', charge: 1_000, priority: 'interactive', policy, deadline: T0 + 5_000 };
    const t = await drive(gates, input, () => completed);
    expect(t.output).toEqual({ jobId: 'sync-2', status: 'completed', attempts: 1 });
  });

  it('does not wait out an upstream retry-after beyond the deadline: it fails with the 429 and when to come back', async () => {
    const gates = new Gates({ 'gpt-4o': 100_000 });
    const input: RunJobInput = { jobId: 'sync-3', deployment: 'gpt-4o', charge: 1_000, priority: 'interactive', policy: { ...policy, maxAttempts: 3 }, deadline: T0 + 5_000 };
    const throttled: AttemptOutcome = { kind: 'throttled', throttle: 'rate_limit', retryAfterMs: 20_000, utilization: null, error: { status: 429, code: '429', message: 'quota' } };
    const t = await drive(gates, input, () => throttled);
    expect(t.calls).toHaveLength(1);
    expect(t.output).toEqual({ jobId: 'sync-3', status: 'failed', attempts: 1, retryAt: T0 + 20_000 });
    expect(t.saved[0]).toMatchObject({ status: 'failed', error: { status: 429, code: '429' } });
  });
});

describe('runJob over several deployments (failover)', () => {
  it('takes the first deployment with room: the PTU while it has room, the spillover once its slot is beyond the spillover wait', async () => {
    const gates = new Gates({ ptu: 3_000, standard: 10_000 });
    const first = await drive(gates, pooled('a', 2_500), () => completed);
    expect(first.calls[0]).toEqual({ jobId: 'a', startAt: expect.any(Number), sendBy: expect.any(Number), attempt: 1 });
    expect(gates.settled.map((s) => s.deployment)).toEqual(['ptu']);
    // The PTU gate can start the next 2,500 tokens only a window later: the job spills over, and the
    // call goes to the deployment whose gate granted it, which is also the one told how it went.
    const second = await drive(gates, pooled('b', 2_500), () => completed);
    expect(gates.asked.slice(-2).map((a) => [a.deployment, a.answer.kind])).toEqual([
      ['ptu', 'retry'],
      ['standard', 'granted'],
    ]);
    expect(gates.asked.at(-2)!.input).toMatchObject({ maxWaitMs: 2_000 });
    expect(gates.asked.at(-1)!.input).not.toHaveProperty('maxWaitMs');
    expect(second.calls[0]).toMatchObject({ jobId: 'b', deployment: 'standard' });
    expect(gates.settled.map((s) => s.deployment)).toEqual(['ptu', 'standard']);
    expect(second.output).toMatchObject({ status: 'completed' });
  });

  it('fails over while the first deployment\'s circuit is open, and goes back to it once a probe closes the circuit', async () => {
    const gates = new Gates({ ptu: 100_000, standard: 100_000 });
    // Three 5xx in a row from the PTU deployment open its circuit (threshold 3).
    for (const id of ['f1', 'f2', 'f3']) {
      const t = await drive(gates, pooled(id), () => serverError);
      expect(t.calls[0]).not.toHaveProperty('deployment');
    }
    expect(gates.settled.map((s) => s.input.failure)).toEqual(['server_error', 'server_error', 'server_error']);
    const status = gates.run('ptu', 'status', undefined, T0 + 1);
    expect(status).toMatchObject({ ok: true, value: { circuit: { state: 'open', until: T0 + 30_000 } } });

    // While open: straight to the spillover, no call to the PTU deployment.
    const during = await drive(gates, pooled('during'), () => completed, T0 + 10_000);
    expect(gates.asked.slice(-2).map((a) => [a.deployment, a.answer.kind === 'retry' ? a.answer.reason : a.answer.kind])).toEqual([
      ['ptu', 'circuit_open'],
      ['standard', 'granted'],
    ]);
    expect(during.calls[0]).toMatchObject({ deployment: 'standard' });

    // After the cool-down the next job is the probe on the PTU deployment; it answers, the circuit closes.
    const probe = await drive(gates, pooled('probe'), () => completed, T0 + 31_000);
    expect(probe.calls[0]).not.toHaveProperty('deployment');
    expect(gates.run('ptu', 'status', undefined, T0 + 32_000)).toMatchObject({ ok: true, value: { circuit: { state: 'closed', failures: 0 } } });
    const after = await drive(gates, pooled('after'), () => completed, T0 + 33_000);
    expect(after.calls[0]).not.toHaveProperty('deployment');
    expect(after.output).toMatchObject({ status: 'completed' });
  });

  it('lets only one probe through while half-open: concurrent jobs go to the spillover until the probe reports', async () => {
    const gates = new Gates({ ptu: 100_000, standard: 100_000 });
    for (const id of ['f1', 'f2', 'f3']) await drive(gates, pooled(id), () => serverError);
    const half = T0 + 31_000;
    // The probe is granted (its call not yet back); a second job at the same moment is refused.
    expect(gates.run('ptu', 'acquire', { tokens: 100, priority: 'batch', maxWaitMs: 2_000 }, half)).toMatchObject({ ok: true, value: { kind: 'granted' } });
    const second = await drive(gates, pooled('second'), () => completed, half);
    expect(second.calls[0]).toMatchObject({ deployment: 'standard' });
    expect(gates.asked.at(-2)!.answer).toMatchObject({ kind: 'retry', reason: 'circuit_open' });
  });

  it('waits on the earliest retry any deployment names when none has room, then asks them again in order', async () => {
    const gates = new Gates({ ptu: 3_000, standard: 3_000 });
    gates.run('ptu', 'acquire', { tokens: 3_000, priority: 'batch' }, T0);
    // Fill the standard deployment's window and its whole horizon.
    for (let i = 0; i < 3; i++) gates.run('standard', 'acquire', { tokens: 3_000, priority: 'batch' }, T0);
    const t = await drive(gates, pooled('late', 2_000), () => completed);
    expect(t.output).toMatchObject({ status: 'completed' });
    // It went to the PTU deployment once the PTU's slot came within the spillover wait.
    expect(gates.settled.at(-1)!.deployment).toBe('ptu');
  });
});
