/**
 * An in-process durable engine: orchestrations replayed by the durable library's own executor
 * (OrchestrationInstance), entities run by its entity executor one batch at a time, activities called
 * as the worker would, timers on the wall clock. It holds no app logic: it only moves events between
 * the registered handlers.
 *
 * With a journal it survives `kill -9` as the Azure Storage backend does: every start, result, step and
 * entity batch is written before it takes effect; on restart the engine rebuilds instances and entity
 * states, re-runs activities whose results were lost (at least once, as on Azure), re-arms timers and
 * re-sends entity operations that never ran. An entity batch is journaled with its new state, the ids
 * of the operations it ran and the answers for the callers in one record, so an operation runs once.
 */
import { randomUUID } from 'node:crypto';
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { DurableEntityExecutor, EntityExecutor, Operation } from '../durableEntityExecutor.js';
import { Journal } from '../persistence/journal.js';
import { EntityMailbox } from './entityMailbox.js';
import { HistoryEvent, OrchestrationInstance, OrchestrationSnapshot, OrchestratorExecutor, ScheduledAction } from './orchestrationDriver.js';

export type ActivityHandler = (input: unknown, context: InvocationContext) => unknown;

/** The handlers as the worker gets them from `df.app.*` registrations (see orchestratorExecutor, entityExecutor). */
export interface Registry {
  readonly orchestrations: ReadonlyMap<string, OrchestratorExecutor>;
  readonly activities: ReadonlyMap<string, ActivityHandler>;
  readonly entities: ReadonlyMap<string, EntityExecutor>;
}

export type RuntimeStatus = 'Running' | 'Completed' | 'Failed';

export interface InstanceStatus {
  readonly instanceId: string;
  readonly name: string;
  readonly input: unknown;
  readonly createdTime: string;
  readonly lastUpdatedTime: string;
  readonly runtimeStatus: RuntimeStatus;
  readonly output: unknown;
  readonly error: string | null;
}

/** A journaled entity operation: `id` makes it run once, `caller` gets the answer. */
interface EntityOp extends Operation {
  readonly id: string;
  readonly caller?: { readonly instanceId: string; readonly action: Extract<ScheduledAction, { type: 'entityCall' }> };
}

type DurableRecord =
  | { readonly t: 'start'; readonly id: string; readonly name: string; readonly input: unknown; readonly at: string }
  | { readonly t: 'event'; readonly id: string; readonly event: HistoryEvent }
  | { readonly t: 'step'; readonly id: string; readonly at: string; readonly consumed: number; readonly actions: readonly ScheduledAction[]; readonly status?: InstanceStatus }
  | { readonly t: 'done'; readonly id: string; readonly status: InstanceStatus }
  | { readonly t: 'instance'; readonly status: InstanceStatus; readonly snapshot?: OrchestrationSnapshot }
  | { readonly t: 'signal'; readonly entity: string; readonly op: EntityOp }
  | {
      readonly t: 'entity';
      readonly entity: string;
      readonly state?: string;
      readonly exists: boolean;
      readonly ran: readonly string[];
      readonly answers: readonly { readonly id: string; readonly event: HistoryEvent }[];
    };

interface Instance {
  /** Dropped once the instance has finished: only its status is kept. */
  orchestration: OrchestrationInstance | null;
  status: InstanceStatus;
  /** A step is running or queued: results that arrive meanwhile wait for the next one. */
  stepping: Promise<void> | null;
  again: boolean;
}

/** Parses the scheduler id `@name@key` the library gives entity actions. */
function entityIdOf(schedulerId: string): df.EntityId {
  const match = /^@([^@]+)@(.*)$/.exec(schedulerId);
  if (!match) throw new Error(`not an entity id: ${schedulerId}`);
  return new df.EntityId(match[1]!, match[2]!);
}

export const schedulerIdOf = (name: string, key: string) => `@${name.toLowerCase()}@${key}`;

const opIdOf = (instanceId: string, seq: number) => `${instanceId}:${seq}`;

/** Journal writes between compactions. */
const COMPACT_EVERY = 50_000;

export interface DurableEngineOptions {
  /** Journal file; without one the engine keeps everything in memory. */
  readonly journalPath?: string;
  /** Journal writes between compactions (50 000 by default; tests use a few). */
  readonly compactEvery?: number;
}

export class DurableEngine {
  private readonly instances = new Map<string, Instance>();
  private readonly mailboxes = new Map<string, EntityMailbox>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Map<string, ((status: InstanceStatus) => void)[]>();
  /** Ids of journaled entity operations that have run (kept while their instance runs). */
  private readonly ran = new Set<string>();
  /** Client signals journaled but not yet run by their entity. */
  private readonly pendingSignals = new Map<string, { entity: string; op: EntityOp }>();
  private readonly journal: Journal<DurableRecord> | null;
  private writesSinceCompaction = 0;
  private readonly compactEvery: number;
  private compactionDue = false;
  private stopped = false;
  /** Errors the engine itself hit (a handler missing, a replay that diverged). */
  readonly faults: Error[] = [];
  /** What a restart found and resumed. */
  readonly recovered = { instances: 0, running: 0, activitiesRerun: 0, timersRearmed: 0, entityOperationsResent: 0 };

  constructor(
    private readonly registry: Registry,
    private readonly log: (message: string) => void = () => undefined,
    options: DurableEngineOptions = {},
  ) {
    this.compactEvery = options.compactEvery ?? COMPACT_EVERY;
    if (!options.journalPath) {
      this.journal = null;
      return;
    }
    const { journal } = Journal.open<DurableRecord>(options.journalPath, (records) => {
      for (const record of records) this.apply(record);
      return this.snapshot();
    });
    this.journal = journal;
    this.resume();
  }

  /** Starts an orchestration; false when an instance with that id already exists (nothing starts twice). */
  startNew(name: string, instanceId: string, input: unknown): boolean {
    if (this.instances.has(instanceId)) return false;
    if (!this.registry.orchestrations.has(name)) throw new Error(`no orchestration named ${name}`);
    const at = new Date();
    this.write({ t: 'start', id: instanceId, name, input, at: at.toISOString() });
    const instance = this.create(name, instanceId, input, at);
    this.schedule(instance);
    return true;
  }

  getStatus(instanceId: string): InstanceStatus | undefined {
    return this.instances.get(instanceId)?.status;
  }

  /** Counts instances by runtime status. */
  counts(): Record<RuntimeStatus, number> {
    const counts: Record<RuntimeStatus, number> = { Running: 0, Completed: 0, Failed: 0 };
    for (const instance of this.instances.values()) counts[instance.status.runtimeStatus] += 1;
    return counts;
  }

  waitFor(instanceId: string): Promise<InstanceStatus> {
    const status = this.getStatus(instanceId);
    if (status && status.runtimeStatus !== 'Running') return Promise.resolve(status);
    return new Promise((resolve) => this.waiters.set(instanceId, [...(this.waiters.get(instanceId) ?? []), resolve]));
  }

  /** Delivers an external event to a running instance; false when there is no such instance. */
  raiseEvent(instanceId: string, name: string, data: unknown): boolean {
    const instance = this.instances.get(instanceId);
    if (!instance?.orchestration) return false;
    this.deliver(instance, instance.orchestration.eventRaised(name, data, new Date()));
    return true;
  }

  /** A client's signal: journaled, then run once by the entity. */
  signalEntity(name: string, key: string, operation: string, input: unknown): void {
    const entity = schedulerIdOf(name, key);
    this.mailbox(entity); // fails now, for the caller, when no such entity is registered
    const op: EntityOp = { id: `signal:${randomUUID()}`, name: operation, input };
    this.write({ t: 'signal', entity, op });
    this.pendingSignals.set(op.id, { entity, op });
    this.post(entity, op);
  }

  /** The entity's state as JSON, or undefined when it has none. */
  readEntityState(name: string, key: string): string | undefined {
    const executor = this.mailboxes.get(schedulerIdOf(name, key))?.executor;
    return executor?.stateExists ? executor.stateJson : undefined;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.journal?.close();
  }

  mailbox(schedulerId: string): EntityMailbox {
    let box = this.mailboxes.get(schedulerId);
    if (!box) {
      const id = entityIdOf(schedulerId);
      const handler = [...this.registry.entities].find(([name]) => name.toLowerCase() === id.name)?.[1];
      if (!handler) throw new Error(`no entity named ${id.name}`);
      box = new EntityMailbox(new DurableEntityExecutor(handler, id, this.log), (batch, results, executor) => this.commitBatch(schedulerId, batch, results, executor));
      this.mailboxes.set(schedulerId, box);
    }
    return box;
  }

  private write(record: DurableRecord): void {
    // After stop() the process is gone: nothing more reaches the journal (its file is closed).
    if (!this.journal || this.stopped) return;
    this.journal.append(record);
    // Keeps the file (and the next start) proportional to what is live, not to everything that happened.
    if (++this.writesSinceCompaction >= this.compactEvery && !this.compactionDue) {
      this.compactionDue = true;
      setImmediate(() => this.compact());
    }
  }

  /**
   * Rewrites the journal as a snapshot. Never from inside write(): the record just written is applied
   * only after it (a snapshot then would drop it), and other instances may be halfway through a step.
   * Steps and entity batches settle within their microtasks, so on a later turn the state is whole.
   */
  private compact(): void {
    if (!this.journal || this.stopped) return;
    if ([...this.instances.values()].some((instance) => instance.stepping)) {
      setImmediate(() => this.compact());
      return;
    }
    this.compactionDue = false;
    this.writesSinceCompaction = 0;
    this.journal.replace(this.snapshot());
  }

  private create(name: string, instanceId: string, input: unknown, at: Date, snapshot?: OrchestrationSnapshot): Instance {
    const handler = this.registry.orchestrations.get(name);
    if (!handler) throw new Error(`no orchestration named ${name}`);
    const createdTime = at.toISOString();
    const instance: Instance = {
      orchestration: new OrchestrationInstance(handler, name, instanceId, input, at, snapshot),
      status: { instanceId, name, input, createdTime, lastUpdatedTime: createdTime, runtimeStatus: 'Running', output: null, error: null },
      stepping: null,
      again: false,
    };
    this.instances.set(instanceId, instance);
    return instance;
  }

  private commitBatch(entity: string, batch: readonly Operation[], results: readonly unknown[], executor: DurableEntityExecutor): void {
    // A batch that finishes after stop() died with the process: not saved, not answered (sent again on restart).
    if (this.stopped) return;
    const answers: { id: string; event: HistoryEvent }[] = [];
    const ran: string[] = [];
    batch.forEach((op, i) => {
      const { id, caller } = op as Partial<EntityOp>;
      if (id) {
        ran.push(id);
        this.ran.add(id);
        this.pendingSignals.delete(id);
      }
      const instance = caller ? this.instances.get(caller.instanceId) : undefined;
      if (caller && instance?.orchestration) answers.push({ id: caller.instanceId, event: instance.orchestration.entityAnswered(caller.action, results[i], new Date()) });
    });
    if (ran.length > 0) this.write({ t: 'entity', entity, state: executor.stateJson, exists: executor.stateExists, ran, answers });
    for (const { id, event } of answers) {
      const instance = this.instances.get(id);
      if (!instance?.orchestration) continue;
      instance.orchestration.deliver(event);
      this.schedule(instance);
    }
  }

  private post(entity: string, op: EntityOp): void {
    if (this.ran.has(op.id)) return;
    // Answers are delivered by commitBatch, in the same journal record as the entity's new state.
    this.mailbox(entity).post(op, null);
  }

  /** Journals a result for an instance, then hands it over for its next step. */
  private deliver(instance: Instance, event: HistoryEvent): void {
    if (!instance.orchestration || this.stopped) return;
    this.write({ t: 'event', id: instance.status.instanceId, event });
    instance.orchestration.deliver(event);
    this.schedule(instance);
  }

  private schedule(instance: Instance): void {
    if (this.stopped) return;
    if (instance.stepping) {
      instance.again = true;
      return;
    }
    instance.stepping = (async () => {
      do {
        instance.again = false;
        await this.step(instance);
      } while (instance.again && instance.status.runtimeStatus === 'Running' && !this.stopped);
      instance.stepping = null;
    })().catch((error: unknown) => {
      instance.stepping = null;
      this.fail(instance, error instanceof Error ? error : new Error(String(error)));
    });
  }

  private async step(instance: Instance): Promise<void> {
    const o = instance.orchestration;
    if (!o || instance.status.runtimeStatus !== 'Running' || this.stopped) return;
    const now = new Date();
    const result = await o.step(now);
    if (this.stopped) return;
    const status: InstanceStatus | undefined = !result.done
      ? undefined
      : result.error === undefined
        ? { ...instance.status, lastUpdatedTime: now.toISOString(), runtimeStatus: 'Completed', output: result.output ?? null }
        : { ...instance.status, lastUpdatedTime: now.toISOString(), runtimeStatus: 'Failed', error: result.error };
    // One record for the step and its outcome: a crash never leaves a finished instance looking idle.
    this.write({ t: 'step', id: instance.status.instanceId, at: now.toISOString(), consumed: result.consumed, actions: result.scheduled, ...(status ? { status } : {}) });
    for (const action of result.scheduled) this.dispatch(instance, action);
    if (status) this.finish(instance, status);
  }

  private dispatch(instance: Instance, action: ScheduledAction): void {
    const o = instance.orchestration;
    if (!o) return;
    switch (action.type) {
      case 'activity': {
        const handler = this.registry.activities.get(action.name);
        if (!handler) throw new Error(`no activity named ${action.name}`);
        const context = new InvocationContext({ functionName: action.name, invocationId: `${o.instanceId}:${action.seq}`, logHandler: (_l, ...args) => this.log(args.map(String).join(' ')) });
        void Promise.resolve()
          .then(() => handler(action.input, context))
          .then(
            (result) => this.deliver(instance, o.activityCompleted(action.seq, result, new Date())),
            (error: unknown) => this.deliver(instance, o.activityFailed(action.seq, error instanceof Error ? error.message : String(error), new Date())),
          )
          .catch((error: unknown) => this.fail(instance, error instanceof Error ? error : new Error(String(error))));
        break;
      }
      case 'entityCall':
        this.post(action.entity, { id: opIdOf(o.instanceId, action.seq), name: action.operation, input: action.input, caller: { instanceId: o.instanceId, action } });
        break;
      case 'entitySignal':
        this.post(action.entity, { id: opIdOf(o.instanceId, action.seq), name: action.operation, input: action.input });
        break;
      case 'timer': {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.deliver(instance, o.timerFired(action.seq, new Date()));
        }, Math.max(0, action.fireAt.getTime() - Date.now()));
        this.timers.add(timer);
        break;
      }
      case 'externalEvent':
        break;
    }
  }

  private fail(instance: Instance, error: Error): void {
    this.faults.push(error);
    const status: InstanceStatus = { ...instance.status, lastUpdatedTime: new Date().toISOString(), runtimeStatus: 'Failed', error: error.message };
    this.write({ t: 'done', id: status.instanceId, status });
    this.finish(instance, status);
  }

  private finish(instance: Instance, status: InstanceStatus): void {
    // Signals sent with the last step have no instance left to send them again: they wait, journaled
    // in the snapshot, until their entity runs them, as a client's signals do.
    for (const action of instance.orchestration?.outstanding() ?? []) {
      const id = opIdOf(status.instanceId, action.seq);
      if (action.type === 'entitySignal' && !this.ran.has(id)) this.pendingSignals.set(id, { entity: action.entity, op: { id, name: action.operation, input: action.input } });
    }
    instance.status = status;
    instance.orchestration = null;
    for (const resolve of this.waiters.get(status.instanceId) ?? []) resolve(status);
    this.waiters.delete(status.instanceId);
  }

  // --- restart ---

  /** Rebuilds state from one journal record, without running anything. */
  private apply(record: DurableRecord): void {
    switch (record.t) {
      case 'start':
        this.create(record.name, record.id, record.input, new Date(record.at));
        break;
      case 'instance': {
        const { status, snapshot } = record;
        if (status.runtimeStatus === 'Running' && snapshot) this.create(status.name, status.instanceId, status.input, new Date(status.createdTime), snapshot).status = status;
        else this.instances.set(status.instanceId, { orchestration: null, status, stepping: null, again: false });
        break;
      }
      case 'event':
        this.instances.get(record.id)?.orchestration?.deliver(record.event);
        break;
      case 'step': {
        const instance = this.instances.get(record.id);
        instance?.orchestration?.replayStep(new Date(record.at), record.consumed, record.actions);
        if (instance && record.status) this.finish(instance, record.status);
        break;
      }
      case 'done': {
        const instance = this.instances.get(record.id);
        if (instance) this.finish(instance, record.status);
        break;
      }
      case 'signal':
        this.pendingSignals.set(record.op.id, { entity: record.entity, op: record.op });
        break;
      case 'entity': {
        this.mailbox(record.entity).executor.restore(record.state, record.exists);
        for (const id of record.ran) {
          this.ran.add(id);
          this.pendingSignals.delete(id);
        }
        for (const { id, event } of record.answers) this.instances.get(id)?.orchestration?.deliver(event);
        break;
      }
    }
  }

  /** The compacted journal: finished instances as their status, running ones whole, entity states, unsent signals. */
  private snapshot(): DurableRecord[] {
    const running = new Set<string>();
    const records: DurableRecord[] = [];
    for (const instance of this.instances.values()) {
      if (instance.orchestration) running.add(instance.status.instanceId);
      records.push(instance.orchestration ? { t: 'instance', status: instance.status, snapshot: instance.orchestration.snapshot() } : { t: 'instance', status: instance.status });
    }
    // Only operations of running instances can be sent again, so only their ids need remembering.
    for (const id of this.ran) if (!running.has(id.slice(0, id.lastIndexOf(':')))) this.ran.delete(id);
    for (const [entity, box] of this.mailboxes) {
      const ran = [...this.ran].filter((id) => this.ownerEntity(id) === entity);
      records.push({ t: 'entity', entity, state: box.executor.stateJson, exists: box.executor.stateExists, ran, answers: [] });
    }
    for (const { entity, op } of this.pendingSignals.values()) records.push({ t: 'signal', entity, op });
    return records;
  }

  /** The entity an orchestration's operation id was sent to. */
  private ownerEntity(opId: string): string | undefined {
    const at = opId.lastIndexOf(':');
    const action = this.instances.get(opId.slice(0, at))?.orchestration?.actions[Number(opId.slice(at + 1))];
    return action && (action.type === 'entityCall' || action.type === 'entitySignal') ? action.entity : undefined;
  }

  /** After a restart: sends again what never got an answer, and steps instances with results waiting. */
  private resume(): void {
    for (const instance of this.instances.values()) {
      this.recovered.instances += 1;
      const o = instance.orchestration;
      if (!o) continue;
      this.recovered.running += 1;
      for (const action of o.outstanding()) {
        if ((action.type === 'entityCall' || action.type === 'entitySignal') && this.ran.has(opIdOf(o.instanceId, action.seq))) continue;
        if (action.type === 'activity') this.recovered.activitiesRerun += 1;
        else if (action.type === 'timer') this.recovered.timersRearmed += 1;
        else this.recovered.entityOperationsResent += 1;
        this.dispatch(instance, action);
      }
      if (o.pendingEvents > 0 || o.actions.length === 0) this.schedule(instance);
    }
    for (const { entity, op } of this.pendingSignals.values()) {
      this.recovered.entityOperationsResent += 1;
      this.post(entity, op);
    }
  }
}
