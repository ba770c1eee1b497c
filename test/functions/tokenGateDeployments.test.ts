/**
 * The `tokenGate` entity with several deployments (AZURE_OPENAI_DEPLOYMENTS): each key gets its own
 * deployment's configuration, and its circuit breaker lives in the entity's state, fed by settles and
 * consulted by acquire. Run by the durable library's own entity executor.
 */
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.AZURE_OPENAI_DEPLOYMENTS = 'gpt4o-ptu:provisioned:50000:0.8,gpt4o-std:standard:30000';
  process.env.BREAKER_FAILURE_THRESHOLD = '2';
  process.env.BREAKER_COOLDOWN_SECONDS = '0.5';
  process.env.GATE_WINDOW_SECONDS = '60';
});

import * as df from 'durable-functions';
import { tokenGate } from '../../src/functions/tokenGate.js';
import { DurableEntityExecutor, entityExecutor } from '../../src/local/durableEntityExecutor.js';

const gateOf = (key: string) => new DurableEntityExecutor(entityExecutor(tokenGate as df.EntityHandler<unknown>), new df.EntityId('tokenGate', key));

describe('tokenGate entity with several deployments', () => {
  it("configures each deployment's gate from its own entry of the list", async () => {
    const [ptu] = await gateOf('gpt4o-ptu').execute([{ name: 'status' }]);
    const [std] = await gateOf('gpt4o-std').execute([{ name: 'status' }]);
    expect(ptu).toMatchObject({ ok: true, value: { mode: 'provisioned' } });
    expect(std).toMatchObject({ ok: true, value: { mode: 'standard', tokensPerWindow: 30_000 } });
  });

  it('opens the circuit after the threshold of failures reported by settles, refuses with circuit_open, and lets one probe through after the cool-down', async () => {
    const gate = gateOf('gpt4o-std');
    const [first, second] = (await gate.execute([
      { name: 'acquire', input: { tokens: 100, priority: 'batch' } },
      { name: 'acquire', input: { tokens: 100, priority: 'batch' } },
    ])) as { value: { startAt: number } }[];
    const results = await gate.execute([
      { name: 'settle', input: { charged: 100, startAt: first!.value.startAt, failure: 'server_error' } },
      { name: 'settle', input: { charged: 100, startAt: second!.value.startAt, failure: 'connection' } },
      { name: 'acquire', input: { tokens: 100, priority: 'batch' } },
      { name: 'status' },
    ]);
    expect(results[2]).toMatchObject({ ok: true, value: { kind: 'retry', reason: 'circuit_open' } });
    expect(results[3]).toMatchObject({ ok: true, value: { circuit: { state: 'open' } } });
    await new Promise((resolve) => setTimeout(resolve, 600));
    const [probe, other] = (await gate.execute([
      { name: 'acquire', input: { tokens: 100, priority: 'batch' } },
      { name: 'acquire', input: { tokens: 100, priority: 'batch' } },
    ])) as { value: { kind: string; startAt: number } }[];
    expect(probe!.value.kind).toBe('granted');
    expect(other).toMatchObject({ value: { kind: 'retry', reason: 'circuit_open' } });
    const closed = await gate.execute([{ name: 'settle', input: { charged: 100, startAt: probe!.value.startAt, usedTokens: 60 } }, { name: 'acquire', input: { tokens: 100, priority: 'batch' } }]);
    expect(closed[1]).toMatchObject({ ok: true, value: { kind: 'granted' } });
    // The other deployment's circuit was never touched.
    const [elsewhere] = await gateOf('gpt4o-ptu').execute([{ name: 'acquire', input: { tokens: 100, priority: 'batch' } }]);
    expect(elsewhere).toMatchObject({ ok: true, value: { kind: 'granted' } });
  });

  it('answers a grant beyond maxWaitMs with retry (wait_exceeds_bound) and keeps its state as it was', async () => {
    const gate = gateOf('gpt4o-std');
    await gate.execute([{ name: 'acquire', input: { tokens: 29_000, priority: 'interactive' } }]);
    const before = gate.stateJson;
    const [bounded] = await gate.execute([{ name: 'acquire', input: { tokens: 5_000, priority: 'interactive', maxWaitMs: 1_000 } }]);
    expect(bounded).toMatchObject({ ok: true, value: { kind: 'retry', reason: 'wait_exceeds_bound' } });
    expect((bounded as { value: { retryAt: number } }).value.retryAt).toBeGreaterThan(Date.now() + 50_000);
    expect(gate.stateJson).toBe(before);
    const [bad] = await gate.execute([{ name: 'acquire', input: { tokens: 5, priority: 'batch', maxWaitMs: -1 } }]);
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
  });
});
