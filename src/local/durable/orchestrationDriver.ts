/**
 * Runs an orchestrator the way the Durable Functions extension does: the durable-functions library's
 * own executor replays the whole history (events in), the orchestrator answers with its actions
 * (actions out), and the driver appends an event for each action as it completes. A replay that
 * schedules something other than what the history recorded fails, as it does on Azure.
 */
import { InvocationContext } from '@azure/functions';
import { OrchestrationHandler } from 'durable-functions';

/** Event types of the durable history wire format. */
export const EVENT = {
  ExecutionStarted: 0,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  EventSent: 14,
  EventRaised: 15,
} as const;

/** Action types the library emits. */
const ACTION = { CallActivity: 0, CreateTimer: 5, WaitForExternalEvent: 6, CallEntity: 7, SignalEntity: 9 } as const;

export interface HistoryEvent {
  readonly EventType: number;
  readonly EventId: number;
  readonly IsPlayed: boolean;
  readonly Timestamp: Date;
  readonly [field: string]: unknown;
}

export type ScheduledAction =
  | { readonly type: 'activity'; readonly seq: number; readonly name: string; readonly input: unknown }
  | { readonly type: 'entityCall'; readonly seq: number; readonly entity: string; readonly operation: string; readonly input: unknown; readonly requestId: string }
  | { readonly type: 'entitySignal'; readonly seq: number; readonly entity: string; readonly operation: string; readonly input: unknown }
  | { readonly type: 'timer'; readonly seq: number; readonly fireAt: Date }
  | { readonly type: 'externalEvent'; readonly seq: number; readonly name: string };

export interface StepResult {
  readonly done: boolean;
  readonly output?: unknown;
  /** The orchestrator threw: the instance has failed. */
  readonly error?: string;
  /** Actions first scheduled by this step. */
  readonly scheduled: readonly ScheduledAction[];
  /** How many waiting results this step took into the history. */
  readonly consumed: number;
}

export class NonDeterminismError extends Error {
  override readonly name = 'NonDeterminismError';
}

interface RawAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  fireAt?: string | Date;
  instanceId?: string;
  operation?: string;
  externalEventName?: string;
}

interface RawState {
  isDone: boolean;
  actions: RawAction[][];
  output?: unknown;
  error?: string;
}

/**
 * What the Functions worker calls for an orchestrationTrigger: the handler `df.app.orchestration`
 * registers is exactly the library's executor around the user's generator.
 */
export type OrchestratorExecutor = (trigger: unknown, context: InvocationContext) => Promise<unknown>;

const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
  createOrchestrator: (fn: OrchestrationHandler) => OrchestratorExecutor;
};

/** The executor for a generator, as `df.app.orchestration` would register it. */
export function orchestratorExecutor(handler: OrchestrationHandler): OrchestratorExecutor {
  return createOrchestrator(handler);
}

/** V1 replay schema: actions come back as one list covering the whole history so far. */
const REPLAY_SCHEMA_V1 = 0;

const describe = (a: ScheduledAction) =>
  a.type === 'activity' ? `activity ${a.name}`
  : a.type === 'timer' ? 'timer'
  : a.type === 'externalEvent' ? `event ${a.name}`
  : `${a.type} ${a.entity}.${a.operation}`;

/** What survives a restart: the history so far, every action scheduled, and results not yet replayed. */
export interface OrchestrationSnapshot {
  readonly history: readonly HistoryEvent[];
  readonly actions: readonly ScheduledAction[];
  readonly inbox: readonly HistoryEvent[];
}

/** Dates come back from JSON as strings: history timestamps and timer deadlines are Dates again. */
export function reviveEvent(event: HistoryEvent): HistoryEvent {
  return { ...event, Timestamp: new Date(event.Timestamp) };
}
export function reviveAction(action: ScheduledAction): ScheduledAction {
  return action.type === 'timer' ? { ...action, fireAt: new Date(action.fireAt) } : action;
}

export class OrchestrationInstance {
  readonly history: HistoryEvent[] = [];
  /** Every action ever scheduled, by sequence number. */
  readonly actions: ScheduledAction[] = [];

  /** Results that arrived since the last step: the next episode starts with them, after its OrchestratorStarted. */
  private readonly inbox: HistoryEvent[] = [];

  constructor(
    private readonly run: OrchestratorExecutor,
    readonly name: string,
    readonly instanceId: string,
    readonly input: unknown,
    startedAt: Date,
    snapshot?: OrchestrationSnapshot,
  ) {
    if (snapshot) {
      this.history.push(...snapshot.history.map(reviveEvent));
      this.actions.push(...snapshot.actions.map(reviveAction));
      this.inbox.push(...snapshot.inbox.map(reviveEvent));
      return;
    }
    this.history.push(this.event(EVENT.OrchestratorStarted, -1, startedAt));
    this.history.push(this.event(EVENT.ExecutionStarted, -1, startedAt, { Name: name, Input: JSON.stringify(input) }));
  }

  snapshot(): OrchestrationSnapshot {
    return { history: [...this.history], actions: [...this.actions], inbox: [...this.inbox] };
  }

  get pendingEvents(): number {
    return this.inbox.length;
  }

  /** Replays the history up to `now` and records what the orchestrator schedules next. */
  async step(now: Date): Promise<StepResult> {
    const consumed = this.inbox.length;
    this.openEpisode(now, consumed);
    let state: RawState;
    try {
      state = (await this.run(
        { history: this.history, input: this.input, instanceId: this.instanceId, isReplaying: false, upperSchemaVersion: REPLAY_SCHEMA_V1 },
        new InvocationContext({ functionName: this.name, invocationId: `${this.instanceId}:${this.history.length}` }),
      )) as RawState;
    } catch (error) {
      const failure = error as { message?: string; state?: RawState };
      return { done: true, error: failure.state?.error ?? failure.message ?? String(error), scheduled: [], consumed };
    }
    const raw = state.actions.flat();
    const scheduled: ScheduledAction[] = [];
    raw.forEach((action, seq) => {
      const parsed = this.parse(action, seq);
      const known = this.actions[seq];
      if (known) {
        if (describe(known) !== describe(parsed)) {
          throw new NonDeterminismError(`${this.name} ${this.instanceId}: replay scheduled ${describe(parsed)} where the history has ${describe(known)} (action ${seq})`);
        }
        return;
      }
      scheduled.push(parsed);
    });
    this.recordActions(scheduled, now);
    return { done: state.isDone, output: state.output, scheduled, consumed };
  }

  /**
   * Applies a step that was journaled before a restart: the same history as `step` produced, without
   * running the orchestrator again (the next real step replays it all anyway).
   */
  replayStep(at: Date, consumed: number, scheduled: readonly ScheduledAction[]): void {
    this.openEpisode(at, consumed);
    this.recordActions(scheduled.map(reviveAction), at);
  }

  /** Actions whose result is neither in the history nor waiting in the inbox. */
  outstanding(): ScheduledAction[] {
    const answered = new Set<string>();
    for (const e of [...this.history, ...this.inbox]) {
      if (e.EventType === EVENT.TaskCompleted || e.EventType === EVENT.TaskFailed) answered.add(`task:${String(e.TaskScheduledId)}`);
      if (e.EventType === EVENT.TimerFired) answered.add(`timer:${String(e.TimerId)}`);
      if (e.EventType === EVENT.EventRaised) answered.add(`event:${String(e.Name)}`);
    }
    return this.actions.filter((a) =>
      a.type === 'activity' ? !answered.has(`task:${a.seq}`)
      : a.type === 'timer' ? !answered.has(`timer:${a.seq}`)
      : a.type === 'entityCall' ? !answered.has(`event:${a.requestId}`)
      : a.type === 'entitySignal');
  }

  deliver(event: HistoryEvent): void {
    this.inbox.push(event);
  }

  activityCompleted(seq: number, result: unknown, at: Date): HistoryEvent {
    return this.event(EVENT.TaskCompleted, -1, at, { TaskScheduledId: seq, Result: JSON.stringify(result ?? null) });
  }

  activityFailed(seq: number, message: string, at: Date): HistoryEvent {
    return this.event(EVENT.TaskFailed, -1, at, { TaskScheduledId: seq, Reason: message, Details: message });
  }

  entityAnswered(action: Extract<ScheduledAction, { type: 'entityCall' }>, result: unknown, at: Date): HistoryEvent {
    return this.event(EVENT.EventRaised, -1, at, { Name: action.requestId, Input: JSON.stringify({ result: JSON.stringify(result) }) });
  }

  eventRaised(name: string, data: unknown, at: Date): HistoryEvent {
    return this.event(EVENT.EventRaised, -1, at, { Name: name, Input: JSON.stringify(data ?? null) });
  }

  timerFired(seq: number, at: Date): HistoryEvent {
    const timer = this.actions[seq];
    if (timer?.type !== 'timer') throw new RangeError(`action ${seq} is not a timer`);
    return this.event(EVENT.TimerFired, -1, at, { TimerId: seq, FireAt: timer.fireAt.toISOString() });
  }

  completeActivity(seq: number, result: unknown, at: Date): void {
    this.deliver(this.activityCompleted(seq, result, at));
  }

  failActivity(seq: number, message: string, at: Date): void {
    this.deliver(this.activityFailed(seq, message, at));
  }

  answerEntityCall(action: Extract<ScheduledAction, { type: 'entityCall' }>, result: unknown, at: Date): void {
    this.deliver(this.entityAnswered(action, result, at));
  }

  fireTimer(seq: number, at: Date): void {
    this.deliver(this.timerFired(seq, at));
  }

  private openEpisode(at: Date, consumed: number): void {
    const last = this.history[this.history.length - 1];
    if (this.history.length > 2 || last?.EventType !== EVENT.ExecutionStarted) this.history.push(this.event(EVENT.OrchestratorStarted, -1, at));
    this.history.push(...this.inbox.splice(0, consumed));
  }

  private recordActions(scheduled: readonly ScheduledAction[], at: Date): void {
    for (const action of scheduled) {
      this.actions.push(action);
      this.record(action, at);
    }
  }

  private parse(action: RawAction, seq: number): ScheduledAction {
    switch (action.actionType) {
      case ACTION.CallActivity:
        return { type: 'activity', seq, name: action.functionName ?? '', input: action.input };
      case ACTION.CreateTimer:
        return { type: 'timer', seq, fireAt: new Date(action.fireAt ?? 0) };
      case ACTION.CallEntity:
        return { type: 'entityCall', seq, entity: action.instanceId ?? '', operation: action.operation ?? '', input: action.input, requestId: `${this.instanceId}:${seq}` };
      case ACTION.SignalEntity:
        return { type: 'entitySignal', seq, entity: action.instanceId ?? '', operation: action.operation ?? '', input: action.input };
      case ACTION.WaitForExternalEvent:
        return { type: 'externalEvent', seq, name: action.externalEventName ?? '' };
      default:
        throw new Error(`${this.name}: action type ${action.actionType} is not supported by the local runtime`);
    }
  }

  private record(action: ScheduledAction, at: Date): void {
    switch (action.type) {
      case 'activity':
        this.history.push(this.event(EVENT.TaskScheduled, action.seq, at, { Name: action.name }));
        break;
      case 'timer':
        this.history.push(this.event(EVENT.TimerCreated, action.seq, at, { FireAt: action.fireAt.toISOString() }));
        break;
      case 'entityCall':
        this.history.push(this.event(EVENT.EventSent, action.seq, at, { Name: 'op', InstanceId: action.entity, Input: JSON.stringify({ id: action.requestId, op: action.operation }) }));
        break;
      case 'entitySignal':
        this.history.push(this.event(EVENT.EventSent, action.seq, at, { Name: 'op', InstanceId: action.entity, Input: JSON.stringify({ op: action.operation, signal: true }) }));
        break;
      case 'externalEvent':
        // Waiting for an event leaves nothing in the history; the event itself arrives as EventRaised.
        break;
    }
  }

  private event(type: number, eventId: number, at: Date, fields: Record<string, unknown> = {}): HistoryEvent {
    return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: at, ...fields };
  }
}
