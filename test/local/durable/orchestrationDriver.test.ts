/** The local durable driver behaves as the extension does on replay: a non-deterministic orchestrator fails. */
import { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { NonDeterminismError, OrchestrationInstance, orchestratorExecutor } from '../../../src/local/durable/orchestrationDriver.js';

const T0 = new Date('2026-11-23T12:00:00.000Z');

describe('OrchestrationInstance', () => {
  it('fails an orchestrator whose replay schedules something else than its history', async () => {
    let runs = 0;
    // Branches on something outside its history: a different activity on every replay.
    const flaky: OrchestrationHandler = function* (context: OrchestrationContext) {
      runs += 1;
      yield context.df.callActivity(runs % 2 === 1 ? 'first' : 'second');
      return 'done';
    };
    const instance = new OrchestrationInstance(orchestratorExecutor(flaky), 'flaky', 'i-1', null, T0);
    const first = await instance.step(T0);
    expect(first.scheduled).toMatchObject([{ type: 'activity', name: 'first', seq: 0 }]);
    instance.completeActivity(0, 1, T0);
    await expect(instance.step(T0)).rejects.toThrow(NonDeterminismError);
  });

  it('replays a deterministic orchestrator to completion, timers and entity calls included', async () => {
    const steady: OrchestrationHandler = function* (context: OrchestrationContext) {
      const a = (yield context.df.callActivity('double', 21)) as number;
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 5_000));
      return { a, at: context.df.currentUtcDateTime.toISOString() };
    };
    const instance = new OrchestrationInstance(orchestratorExecutor(steady), 'steady', 'i-2', null, T0);
    const s1 = await instance.step(T0);
    expect(s1.scheduled).toMatchObject([{ type: 'activity', name: 'double', input: 21 }]);
    instance.completeActivity(0, 42, T0);
    const s2 = await instance.step(T0);
    expect(s2.scheduled).toMatchObject([{ type: 'timer', fireAt: new Date(T0.getTime() + 5_000) }]);
    const fired = new Date(T0.getTime() + 5_000);
    instance.fireTimer(1, fired);
    const s3 = await instance.step(fired);
    expect(s3).toEqual({ done: true, output: { a: 42, at: fired.toISOString() }, scheduled: [], consumed: 1 });
  });

  it('reports an orchestrator that throws as failed', async () => {
    const broken: OrchestrationHandler = function* () {
      throw new Error('bad input');
    };
    const result = await new OrchestrationInstance(orchestratorExecutor(broken), 'broken', 'i-3', null, T0).step(T0);
    expect(result.done).toBe(true);
    expect(result.error).toMatch(/bad input/);
  });
});
