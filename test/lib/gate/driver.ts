/** A gate driven step by step in tests: one configuration, its state, and the pure operations applied in turn. */
import {
  AcquireDecision,
  AcquireQueue,
  GateConfig,
  GateState,
  Priority,
  acquire,
  initialGateState,
  reconfigure,
  reportUtilization,
  settle,
  status,
} from '../../../src/lib/gate/index.js';

export const T0 = 1_800_000_000_000;

export function gateDriver(config: GateConfig) {
  let state: GateState = initialGateState(T0, config);
  return {
    config,
    get state() {
      return state;
    },
    /** Batch work by default; a queue's work is batch work of that queue. `promptTokens`: the prompt's part of `tokens`. */
    acquire(now: number, tokens: number, how: Priority | AcquireQueue = 'batch', promptTokens?: number): AcquireDecision {
      const prompt = promptTokens === undefined ? {} : { promptTokens };
      const request = typeof how === 'string' ? { tokens, priority: how, ...prompt } : { tokens, priority: 'batch' as const, queue: how, ...prompt };
      const step = acquire(state, now, request, config);
      state = step.state;
      return step.result;
    },
    settle(now: number, report: Parameters<typeof settle>[2]) {
      state = settle(state, now, report, config);
    },
    report(now: number, report: Parameters<typeof reportUtilization>[2]) {
      state = reportUtilization(state, now, report, config);
    },
    status(now: number) {
      return status(state, now, config);
    },
    reconfigure(now: number, next: GateConfig) {
      state = reconfigure(state, now, config, next);
    },
  };
}

export const startOf = (d: AcquireDecision) => {
  if (d.kind !== 'granted') throw new Error(`expected a grant, got ${JSON.stringify(d)}`);
  return d.startAt;
};
