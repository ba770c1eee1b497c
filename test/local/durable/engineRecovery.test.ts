/**
 * The durable engine's journal: an engine stopped at any point (as `kill -9` would stop it) and a new
 * engine started on the same journal with the same registry finish the work with the same outcome. An
 * activity runs again only when its result was lost, a timer is armed again, and an entity operation
 * is applied exactly once, whoever sent it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { EntityContext, EntityHandler, OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActivityHandler, DurableEngine, Registry } from '../../../src/local/durable/engine.js';
import { orchestratorExecutor } from '../../../src/local/durable/orchestrationDriver.js';
import { entityExecutor } from '../../../src/local/durableEntityExecutor.js';
import { Journal } from '../../../src/local/persistence/journal.js';

interface FlowInput {
  readonly n: number;
  readonly key: string;
  readonly delayMs: number;
}
interface FlowOutput {
  readonly a: number;
  readonly total: number;
  readonly b: number;
}

/** Named places in the flow where a test may stop the engine, from inside the orchestrator's code. */
type Point = 'afterActivity' | 'afterTimer' | 'afterEntity';

/** What the handlers report to the test, and the hooks a test sets to stop an engine at a given moment. */
interface World {
  /** Every activity invocation, as `instanceId:seq`. */
  readonly activityCalls: string[];
  /** Every entity operation applied, as `key:operation:input`. */
  readonly entityOps: string[];
  onActivity: ((invocationId: string) => Promise<void> | void) | null;
  onEntityOp: ((key: string, operation: string) => void) | null;
  onPoint: ((point: Point, instanceId: string) => void) | null;
}

let world: World;
let dir: string;
let journalPath: string;
const engines: DurableEngine[] = [];

beforeEach(() => {
  world = { activityCalls: [], entityOps: [], onActivity: null, onEntityOp: null, onPoint: null };
  dir = mkdtempSync(join(tmpdir(), 'durable-recovery-'));
  journalPath = join(dir, 'durable', 'journal.jsonl');
});
afterEach(() => {
  for (const engine of engines.splice(0)) engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

const counterId = (key: string) => new df.EntityId('counter', key);

/** activity → durable timer → entity call → entity signal → activity. */
const flow: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<FlowInput>();
  const a = (yield context.df.callActivity('double', input.n)) as number; // action 0
  world.onPoint?.('afterActivity', context.df.instanceId);
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + input.delayMs)); // action 1
  world.onPoint?.('afterTimer', context.df.instanceId);
  const total = (yield context.df.callEntity(counterId(input.key), 'add', a)) as number; // action 2
  world.onPoint?.('afterEntity', context.df.instanceId);
  context.df.signalEntity(counterId(input.key), 'add', 100); // action 3
  const b = (yield context.df.callActivity('double', total)) as number; // action 4
  const output: FlowOutput = { a, total, b };
  return output;
};

const approval: OrchestrationHandler = function* (context: OrchestrationContext) {
  const answer: unknown = yield context.df.waitForExternalEvent('approve');
  return { approved: answer };
};

/** Signals and returns at once: the signal goes out with the orchestration's last step. */
const notify: OrchestrationHandler = function* (context: OrchestrationContext) {
  context.df.signalEntity(counterId(context.df.getInput<string>()), 'add', 1);
  return 'sent';
};

const failing: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.callActivity('explode', null);
  return 'unreachable';
};

const counter: EntityHandler<number> = (context: EntityContext<number>) => {
  const state = context.df.getState(() => 0) ?? 0;
  const operation = context.df.operationName ?? '';
  const input = context.df.getInput<number>() ?? 0;
  world.entityOps.push(`${context.df.entityKey}:${operation}:${input}`);
  world.onEntityOp?.(context.df.entityKey, operation);
  switch (operation) {
    case 'add':
      context.df.setState(state + input);
      context.df.return(state + input);
      break;
    case 'get':
      context.df.return(state);
      break;
    default:
      throw new Error(`unknown operation ${operation}`);
  }
};

function registry(): Registry {
  return {
    orchestrations: new Map([
      ['flow', orchestratorExecutor(flow)],
      ['approval', orchestratorExecutor(approval)],
      ['failing', orchestratorExecutor(failing)],
      ['notify', orchestratorExecutor(notify)],
    ]),
    activities: new Map<string, ActivityHandler>([
      [
        'double',
        async (input: unknown, context: InvocationContext) => {
          world.activityCalls.push(context.invocationId);
          await world.onActivity?.(context.invocationId);
          return (input as number) * 2;
        },
      ],
      [
        'explode',
        () => {
          throw new Error('activity exploded');
        },
      ],
    ]),
    entities: new Map([['counter', entityExecutor(counter as EntityHandler<unknown>)]]),
  };
}

function engine(compactEvery?: number): DurableEngine {
  const e = new DurableEngine(registry(), () => undefined, compactEvery === undefined ? { journalPath } : { journalPath, compactEvery });
  engines.push(e);
  return e;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const calls = (instanceId: string, seq: number) => world.activityCalls.filter((id) => id === `${instanceId}:${seq}`).length;
const stateOf = (e: DurableEngine, key: string) => {
  const json = e.readEntityState('counter', key);
  return json === undefined ? undefined : (JSON.parse(json) as number);
};
type JournalLine = { t: string; actions?: { type: string }[]; ran?: string[] };
const journal = () => Journal.read<JournalLine>(journalPath);

/** The flow's result for input n on a fresh counter. */
const expected = (n: number): FlowOutput => ({ a: 2 * n, total: 2 * n, b: 4 * n });
const NO_RECOVERY = { instances: 0, running: 0, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 };

/** A stop is a crash only if the stopped engine wrote nothing afterwards: checks the file did not change. */
async function stopAndSettle(e: DurableEngine, settle: () => void = () => undefined): Promise<void> {
  e.stop();
  const before = readFileSync(journalPath, 'utf8');
  settle();
  await tick(30);
  expect(readFileSync(journalPath, 'utf8')).toBe(before);
}

describe('DurableEngine without a crash', { timeout: 5_000 }, () => {
  it('runs the flow to completion, each activity and entity operation once', async () => {
    const e = engine();
    expect(e.recovered).toEqual(NO_RECOVERY);
    expect(e.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 20 } satisfies FlowInput)).toBe(true);
    expect(e.startNew('flow', 'f', { n: 6, key: 'k', delayMs: 20 })).toBe(false);
    const status = await e.waitFor('f');
    expect(status).toMatchObject({ instanceId: 'f', name: 'flow', runtimeStatus: 'Completed', output: expected(5), error: null });
    await vi.waitFor(() => expect(stateOf(e, 'k')).toBe(110));
    expect(world.activityCalls.sort()).toEqual(['f:0', 'f:4']);
    expect(world.entityOps).toEqual(['k:add:10', 'k:add:100']);
    expect(e.faults).toEqual([]);
    expect(() => e.startNew('nope', 'x', null)).toThrow(/no orchestration named nope/);
  });

  it('the timer really waits until its deadline', async () => {
    const e = engine();
    const started = Date.now();
    e.startNew('flow', 'f', { n: 1, key: 'k', delayMs: 150 });
    await e.waitFor('f');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe('DurableEngine restarted on its journal', { timeout: 5_000 }, () => {
  it('stopped while an activity runs: the activity runs again, once, and the flow completes', async () => {
    const first = engine();
    const late = deferred();
    world.onActivity = async (id) => {
      if (id !== 'f:0' || calls('f', 0) !== 1) return;
      await stopAndSettle(first);
      await late.promise; // the dead process's activity finishes after the restart; its result goes nowhere
    };
    first.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 20 });
    await vi.waitFor(() => expect(calls('f', 0)).toBe(1));
    await vi.waitFor(() => expect(engines[0]!.getStatus('f')?.runtimeStatus).toBe('Running'));
    await tick(40);
    const before = readFileSync(journalPath, 'utf8');

    const second = engine();
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 1, timersRearmed: 0, entityOperationsResent: 0 });
    late.resolve();
    const status = await second.waitFor('f');
    expect(status).toMatchObject({ runtimeStatus: 'Completed', output: expected(5) });
    expect(calls('f', 0)).toBe(2);
    expect(calls('f', 4)).toBe(1);
    await vi.waitFor(() => expect(stateOf(second, 'k')).toBe(110));
    expect(world.entityOps).toEqual(['k:add:10', 'k:add:100']);
    expect(second.faults).toEqual([]);
    expect(before.length).toBeGreaterThan(0);
  });

  it('stopped after an activity result was journaled but before the orchestrator took it: no second run', async () => {
    const first = engine();
    world.onPoint = (point) => {
      if (point !== 'afterActivity') return;
      world.onPoint = null;
      first.stop();
    };
    first.startNew('flow', 'f', { n: 3, key: 'k', delayMs: 20 });
    await vi.waitFor(() => expect(world.onPoint).toBeNull());
    await tick(30);

    const second = engine();
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 });
    expect(await second.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', output: expected(3) });
    expect(calls('f', 0)).toBe(1);
    expect(calls('f', 4)).toBe(1);
    await vi.waitFor(() => expect(stateOf(second, 'k')).toBe(106));
    expect(world.entityOps).toEqual(['k:add:6', 'k:add:100']);
  });

  it('stopped while a durable timer is pending: the timer is armed again for its original deadline', async () => {
    const first = engine();
    const started = Date.now();
    first.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 250 });
    await vi.waitFor(() => expect(journal().some((l) => l.t === 'step' && l.actions?.some((a) => a.type === 'timer'))).toBe(true));
    await stopAndSettle(first);

    const second = engine();
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 0, timersRearmed: 1, entityOperationsResent: 0 });
    expect(await second.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', output: expected(5) });
    // The deadline counts from the original start, not from the restart.
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(calls('f', 0)).toBe(1);
    await vi.waitFor(() => expect(stateOf(second, 'k')).toBe(110));
    expect(world.entityOps).toEqual(['k:add:10', 'k:add:100']);
  });

  it('a timer whose deadline passed while the engine was down fires at once', async () => {
    const first = engine();
    first.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 60 });
    await vi.waitFor(() => expect(journal().some((l) => l.t === 'step' && l.actions?.some((a) => a.type === 'timer'))).toBe(true));
    first.stop();
    await tick(100);
    const second = engine();
    const restarted = Date.now();
    expect(await second.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', output: expected(5) });
    expect(Date.now() - restarted).toBeLessThan(1_000);
    expect(second.recovered.timersRearmed).toBe(1);
  });

  it('stopped after an entity call ran but before the orchestrator took its answer: the operation is not run again', async () => {
    const first = engine();
    world.onPoint = (point) => {
      if (point !== 'afterEntity') return;
      world.onPoint = null;
      first.stop();
    };
    first.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 10 });
    await vi.waitFor(() => expect(world.onPoint).toBeNull());
    await tick(30);
    expect(world.entityOps).toEqual(['k:add:10']);

    const second = engine();
    // The entity's state and the answer came back from the journal, in one record.
    expect(stateOf(second, 'k')).toBe(10);
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 });
    expect(await second.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', output: expected(5) });
    await vi.waitFor(() => expect(stateOf(second, 'k')).toBe(110));
    expect(world.entityOps).toEqual(['k:add:10', 'k:add:100']);
    expect(calls('f', 0)).toBe(1);
    expect(calls('f', 4)).toBe(1);
  });

  it('stopped while an entity operation runs: it is sent again and applied once', async () => {
    const first = engine();
    world.onEntityOp = (key, operation) => {
      if (key !== 'k' || operation !== 'add') return;
      world.onEntityOp = null;
      first.stop(); // the process dies inside the batch: its new state is never saved
    };
    first.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 10 });
    await vi.waitFor(() => expect(world.onEntityOp).toBeNull());
    await tick(30);

    const second = engine();
    expect(stateOf(second, 'k')).toBeUndefined();
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 1 });
    expect(await second.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', output: expected(5) });
    await vi.waitFor(() => expect(stateOf(second, 'k')).toBe(110));
    // Run twice in all, but the first run died with its process: its state never counted.
    expect(world.entityOps).toEqual(['k:add:10', 'k:add:10', 'k:add:100']);
    expect(second.faults).toEqual([]);
  });

  it('a signal the orchestration sent and the entity ran is not sent again, across two restarts', async () => {
    let current = engine();
    const stopDuringLastActivity = async (id: string) => {
      if (id !== 'f:4') return;
      const dying = current;
      // The signal (action 3) has been applied and journaled by now.
      await vi.waitFor(() => expect(journal().some((l) => l.t === 'entity' && l.ran?.includes('f:3'))).toBe(true));
      dying.stop();
    };
    world.onActivity = stopDuringLastActivity;
    current.startNew('flow', 'f', { n: 5, key: 'k', delayMs: 10 });
    await vi.waitFor(() => expect(calls('f', 4)).toBe(1));
    await tick(30);

    current = engine(); // compacts the journal, then stops in the last activity again
    expect(current.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 1, timersRearmed: 0, entityOperationsResent: 0 });
    expect(stateOf(current, 'k')).toBe(110);
    await vi.waitFor(() => expect(calls('f', 4)).toBe(2));
    await tick(30);
    expect(current.getStatus('f')?.runtimeStatus).toBe('Running');

    world.onActivity = null;
    current = engine();
    expect(current.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 1, timersRearmed: 0, entityOperationsResent: 0 });
    expect(await current.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', output: expected(5) });
    expect(stateOf(current, 'k')).toBe(110);
    expect(world.entityOps).toEqual(['k:add:10', 'k:add:100']);
    expect(calls('f', 0)).toBe(1);
    expect(calls('f', 4)).toBe(3);
  });

  it('a signal sent in the last step of an orchestration is still delivered once if the engine stops before it ran', async () => {
    const first = engine();
    world.onEntityOp = () => {
      world.onEntityOp = null;
      first.stop();
    };
    first.startNew('notify', 'n', 'k');
    expect(await first.waitFor('n')).toMatchObject({ runtimeStatus: 'Completed', output: 'sent' });
    await vi.waitFor(() => expect(world.onEntityOp).toBeNull());
    await tick(20);

    const second = engine();
    expect(second.getStatus('n')?.runtimeStatus).toBe('Completed');
    expect(second.recovered.entityOperationsResent).toBe(1);
    await vi.waitFor(() => expect(stateOf(second, 'k')).toBe(1));
    await tick(10);
    second.stop();
    const third = engine();
    expect(third.recovered.entityOperationsResent).toBe(0);
    expect(stateOf(third, 'k')).toBe(1);
    await tick(20);
    expect(stateOf(third, 'k')).toBe(1);
  });

  it('stopped right after startNew: the instance starts on the next engine, once', async () => {
    const first = engine();
    first.startNew('flow', 'f', { n: 2, key: 'k', delayMs: 10 });
    first.stop();
    await tick(20);
    expect(world.activityCalls).toEqual([]);
    const second = engine();
    expect(second.startNew('flow', 'f', { n: 9, key: 'k', delayMs: 10 })).toBe(false);
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 });
    expect(await second.waitFor('f')).toMatchObject({ runtimeStatus: 'Completed', input: { n: 2 }, output: expected(2) });
  });

  it('several instances sharing one entity, stopped at once mid-way, each operation applied once', async () => {
    const first = engine();
    for (let i = 0; i < 6; i++) first.startNew('flow', `f${i}`, { n: i + 1, key: 'shared', delayMs: 20 + i * 15 });
    await vi.waitFor(() => expect(world.entityOps.length).toBeGreaterThanOrEqual(3));
    first.stop();
    await tick(30);
    const applied = stateOf(engine(), 'shared');
    engines.pop()?.stop();
    const second = engine();
    expect(stateOf(second, 'shared')).toBe(applied);
    const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => second.waitFor(`f${i}`)));
    expect(statuses.map((s) => s.runtimeStatus)).toEqual(Array(6).fill('Completed'));
    // Each instance added 2(i+1) and signalled 100, exactly once: 2·21 + 600.
    await vi.waitFor(() => expect(stateOf(second, 'shared')).toBe(642));
    // The totals each call saw are distinct running sums: no add was applied twice or lost.
    const totals = statuses.map((s) => (s.output as FlowOutput).total);
    expect(new Set(totals).size).toBe(6);
    expect(second.faults).toEqual([]);
  });
});

describe('DurableEngine journal compaction', { timeout: 5_000 }, () => {
  it('a finished instance keeps its status, output and error after restarts; its history is dropped', async () => {
    const first = engine();
    first.startNew('flow', 'ok', { n: 4, key: 'k', delayMs: 5 });
    first.startNew('failing', 'bad', null);
    const [ok, bad] = await Promise.all([first.waitFor('ok'), first.waitFor('bad')]);
    expect(ok.runtimeStatus).toBe('Completed');
    expect(bad).toMatchObject({ runtimeStatus: 'Failed' });
    expect(bad.error).toMatch(/activity exploded/);
    await vi.waitFor(() => expect(stateOf(first, 'k')).toBe(108));
    first.stop();

    for (let restart = 0; restart < 2; restart++) {
      const next = engine();
      expect(next.recovered).toEqual({ instances: 2, running: 0, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 });
      expect(next.getStatus('ok')).toEqual(ok);
      expect(next.getStatus('bad')).toEqual(bad);
      expect(await next.waitFor('ok')).toEqual(ok);
      expect(next.counts()).toEqual({ Running: 0, Completed: 1, Failed: 1 });
      expect(next.startNew('flow', 'ok', { n: 1, key: 'k', delayMs: 5 })).toBe(false);
      expect(stateOf(next, 'k')).toBe(108);
      // Compacted: one record per instance (no history) and one per entity.
      const lines = journal();
      expect(lines.map((l) => l.t).sort()).toEqual(['entity', 'instance', 'instance']);
      expect(readFileSync(journalPath, 'utf8')).not.toContain('history');
      next.stop();
    }
    expect(world.activityCalls.sort()).toEqual(['ok:0', 'ok:4']);
  });

  it('a running instance survives compaction whole, and a raised event reaches it after the restart', async () => {
    const first = engine();
    first.startNew('approval', 'a', null);
    await vi.waitFor(() => expect(journal().some((l) => l.t === 'step')).toBe(true));
    first.stop();
    const second = engine();
    expect(second.recovered).toEqual({ instances: 1, running: 1, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 });
    second.stop();
    const third = engine(); // from the compacted journal
    expect(third.getStatus('a')?.runtimeStatus).toBe('Running');
    await tick(20);
    expect(third.getStatus('a')?.runtimeStatus).toBe('Running');
    expect(third.raiseEvent('a', 'approve', { by: 'me' })).toBe(true);
    expect(await third.waitFor('a')).toMatchObject({ runtimeStatus: 'Completed', output: { approved: { by: 'me' } } });
  });
});

describe('DurableEngine compaction while running', { timeout: 5_000 }, () => {
  it('keeps the start that triggers a compaction', async () => {
    const first = engine(1);
    first.startNew('approval', 'a', null);
    first.stop();
    await tick(20);
    const second = engine();
    expect(second.getStatus('a')?.runtimeStatus).toBe('Running');
  });

  it('keeps the raised event that triggers a compaction', async () => {
    const first = engine(3);
    first.startNew('approval', 'a', null); // write 1
    await vi.waitFor(() => expect(journal().some((l) => l.t === 'step')).toBe(true)); // write 2
    expect(first.raiseEvent('a', 'approve', 'yes')).toBe(true); // write 3: compaction due
    first.stop();
    await tick(20);
    const second = engine();
    expect(await second.waitFor('a')).toMatchObject({ runtimeStatus: 'Completed', output: { approved: 'yes' } });
  });

  it('keeps a client signal that triggers a compaction', async () => {
    const first = engine(1);
    first.signalEntity('counter', 'c', 'add', 3);
    first.stop();
    await tick(20);
    const second = engine();
    await vi.waitFor(() => expect(stateOf(second, 'c')).toBe(3));
  });

  it('compacting after every write, with restarts in the middle, still applies every operation once', async () => {
    let current = engine(1);
    for (let i = 0; i < 5; i++) current.startNew('flow', `f${i}`, { n: i + 1, key: 'shared', delayMs: 10 + 10 * i });
    current.signalEntity('counter', 'shared', 'add', 1000);
    for (let restart = 0; restart < 3; restart++) {
      await tick(25);
      current.stop();
      await tick(10);
      current = engine(1);
      expect(current.faults).toEqual([]);
    }
    const statuses = await Promise.all(Array.from({ length: 5 }, (_, i) => current.waitFor(`f${i}`)));
    expect(statuses.map((s) => [s.runtimeStatus, s.output])).toEqual(Array.from({ length: 5 }, () => ['Completed', expect.objectContaining({})]));
    statuses.forEach((s, i) => {
      const out = s.output as FlowOutput;
      expect(out.a).toBe(2 * (i + 1));
      expect(out.b).toBe(2 * out.total);
    });
    // 2·(1+…+5) + 5·100 + 1000, each once.
    await vi.waitFor(() => expect(stateOf(current, 'shared')).toBe(1530));
    expect(current.faults).toEqual([]);
    // Compacted while running, once the last write had been applied: only snapshot records are left.
    await tick(10);
    expect(new Set(journal().map((l) => l.t))).toEqual(new Set(['instance', 'entity']));
    current.stop();
    const last = engine();
    expect(last.counts()).toEqual({ Running: 0, Completed: 5, Failed: 0 });
    expect(stateOf(last, 'shared')).toBe(1530);
  });
});

describe('DurableEngine entities and events', { timeout: 5_000 }, () => {
  it('a client signal runs once, and is kept across a restart', async () => {
    const first = engine();
    first.signalEntity('counter', 'c', 'add', 5);
    await vi.waitFor(() => expect(stateOf(first, 'c')).toBe(5));
    await tick(5);
    first.stop();
    const second = engine();
    expect(stateOf(second, 'c')).toBe(5);
    expect(second.recovered.entityOperationsResent).toBe(0);
    await tick(20);
    expect(world.entityOps).toEqual(['c:add:5']);
  });

  it('a client signal the engine had no time to run is sent again after a restart, and applied once', async () => {
    const first = engine();
    first.signalEntity('counter', 'c', 'add', 7);
    first.stop(); // before the entity's batch could be saved
    await tick(20);
    const second = engine();
    expect(second.recovered).toEqual({ instances: 0, running: 0, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 1 });
    await vi.waitFor(() => expect(stateOf(second, 'c')).toBe(7));
    await tick(5);
    second.stop();
    const third = engine();
    expect(third.recovered.entityOperationsResent).toBe(0);
    expect(stateOf(third, 'c')).toBe(7);
    await tick(20);
    expect(stateOf(third, 'c')).toBe(7);
  });

  it('refuses a signal to an entity nobody registered, journaling nothing', () => {
    const e = engine();
    expect(() => e.signalEntity('nobody', 'k', 'add', 1)).toThrow(/no entity named nobody/);
    expect(journal()).toEqual([]);
  });

  it('raiseEvent reaches an orchestration waiting for it; false for an unknown or finished instance', async () => {
    const e = engine();
    expect(e.raiseEvent('missing', 'approve', true)).toBe(false);
    e.startNew('approval', 'a', null);
    await tick(20);
    expect(e.getStatus('a')?.runtimeStatus).toBe('Running');
    // An event of another name does not end the wait.
    expect(e.raiseEvent('a', 'other', 1)).toBe(true);
    await tick(20);
    expect(e.getStatus('a')?.runtimeStatus).toBe('Running');
    expect(e.raiseEvent('a', 'approve', 'yes')).toBe(true);
    expect(await e.waitFor('a')).toMatchObject({ runtimeStatus: 'Completed', output: { approved: 'yes' } });
    expect(e.raiseEvent('a', 'approve', 'again')).toBe(false);
  });

  it('a raised event journaled just before a stop is not lost', async () => {
    const first = engine();
    first.startNew('approval', 'a', null);
    await vi.waitFor(() => expect(journal().some((l) => l.t === 'step')).toBe(true));
    expect(first.raiseEvent('a', 'approve', 42)).toBe(true);
    first.stop(); // before the orchestrator could take it
    await tick(20);
    const second = engine();
    expect(await second.waitFor('a')).toMatchObject({ runtimeStatus: 'Completed', output: { approved: 42 } });
  });
});
