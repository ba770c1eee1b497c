/**
 * Runs an orchestration to its end on a virtual clock, through the local durable driver: entity signals
 * and calls go to the test's own gates (by entity key), activities to its handlers, timers advance the
 * clock. What each test records stays in its handlers.
 */
import { OrchestrationInstance } from '../../src/local/durable/orchestrationDriver.js';

export interface StepHandlers {
  /** A fire-and-forget entity operation (the orchestration does not wait for it). */
  signal(key: string, operation: string, input: unknown, now: number): void;
  /** An entity operation the orchestration waits for: its answer. */
  call(key: string, operation: string, input: unknown, now: number): unknown;
  /** An activity's result. */
  activity(name: string, input: unknown, now: number): unknown;
}

/** The entity key of a durable entity id (`@name@key`). */
export const entityKeyOf = (entity: string) => entity.slice(entity.lastIndexOf('@') + 1);

export async function runToEnd(instance: OrchestrationInstance, start: number, handlers: StepHandlers, maxSteps = 10_000): Promise<{ output: unknown; end: number }> {
  let now = start;
  for (let steps = 0; steps < maxSteps; steps++) {
    const result = await instance.step(new Date(now));
    for (const action of result.scheduled) {
      if (action.type === 'entitySignal') handlers.signal(entityKeyOf(action.entity), action.operation, action.input, now);
    }
    if (result.done) return { output: result.output, end: now };
    const action = result.scheduled.find((a) => a.type !== 'entitySignal')!;
    if (action.type === 'entityCall') {
      instance.answerEntityCall(action, handlers.call(entityKeyOf(action.entity), action.operation, action.input, now), new Date(now));
    } else if (action.type === 'activity') {
      instance.completeActivity(action.seq, await handlers.activity(action.name, action.input, now), new Date(now));
    } else if (action.type === 'timer') {
      now = Math.max(now, action.fireAt.getTime());
      instance.fireTimer(action.seq, new Date(now));
    } else {
      throw new Error(`unexpected action ${JSON.stringify(action)}`);
    }
  }
  throw new Error('orchestration did not finish');
}
