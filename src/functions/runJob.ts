/**
 * Orchestration `runJob`, one per job (instance id = request id): ask the gate for a slot, sleep on a
 * durable timer until its wake lead before it, call the model (the activity waits for the slot's start),
 * tell the gate what really happened, save the result. Retries go back through the gate. Deterministic
 * only: time from `currentUtcDateTime`, jitter from `newGuid`, no I/O.
 */
import * as df from 'durable-functions';
import { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { AcquireDecision, RetryReason } from '../lib/gate/types.js';
import { GATE_OPERATIONS, GateError, GateResult } from '../lib/gate/operations.js';
import { JobError } from '../lib/jobs/job.js';
import {
  CallModelInput,
  RunJobInput,
  RunJobOutput,
  SaveResultInput,
  SaveResultOutput,
  WEBHOOK_ATTEMPTS,
  WEBHOOK_FIRST_RETRY_MS,
  parseRunJobInput,
  settleReportFor,
  withCallFailure,
} from '../lib/jobs/pipeline.js';
import { NotifyOutcome } from '../lib/jobs/webhook.js';
import { AttemptOutcome, nextStep } from '../lib/jobs/retryPolicy.js';
import { ACTIVITY_NAMES, ENTITY_NAMES, ORCHESTRATION_NAMES } from './names.js';

/** Work told to come back later more often than this is failed rather than kept forever (the gate spaces returns so a job normally asks again about once; each return lengthens the replayed history). */
export const MAX_DEFERRALS = 100;

/** A number in [0, 1) that is the same on every replay. */
function replaySafeRandom(context: OrchestrationContext, name: string): number {
  return parseInt(context.df.newGuid(name).replace(/-/g, '').slice(0, 8), 16) / 0x1_0000_0000;
}

export const runJob: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = parseRunJobInput(context.df.getInput());
  let attempts = 0;
  let deferrals = 0;

  const finish = function* (save: SaveResultInput, retryAt?: number) {
    const saved = (yield context.df.callActivity(ACTIVITY_NAMES.saveResult, save)) as SaveResultOutput;
    // The job that finished its batch delivers the webhook, retrying on durable timers; a receiver that
    // never answers does not change the job's own outcome.
    if (saved.notify && saved.batchId !== null) {
      for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
        const sent = (yield context.df.callActivity(ACTIVITY_NAMES.notifyBatch, { batchId: saved.batchId })) as NotifyOutcome;
        if (sent.kind !== 'transient' || attempt === WEBHOOK_ATTEMPTS) break;
        yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + WEBHOOK_FIRST_RETRY_MS * 2 ** (attempt - 1)));
      }
    }
    const output: RunJobOutput = { jobId: input.jobId, status: save.status, attempts: save.attempts, ...(retryAt !== undefined ? { retryAt } : {}) };
    return output;
  };
  const fail = (error: JobError): SaveResultInput => ({ jobId: input.jobId, status: 'failed', attempts, error });
  const deferredTooOften = () => fail({ status: null, code: 'deferred_too_often', message: `no slot kept after ${MAX_DEFERRALS} deferrals` });

  for (;;) {
    const slot = (yield* acquireSlot(context, input)) as SlotAnswer;
    if (slot.kind === 'error') return yield* finish(fail({ status: null, code: `gate_${slot.error.code}`, message: slot.error.message }));
    if (slot.kind === 'rejected') {
      return yield* finish(
        fail({
          status: null,
          code: 'too_large',
          message: `the request is charged ${input.charge} tokens, more than the whole quota of ${slot.limit} (the deployment's${input.queue?.tokensPerWindow !== undefined ? ` or queue ${input.queue.name}'s` : ''})`,
        }),
      );
    }
    if (slot.kind === 'retry') {
      const refused = beyondDeadline(input, slot.retryAt, { status: 429, code: 'rate_limited', message: `no slot within the synchronous bound (${slot.reason}); retry at ${new Date(slot.retryAt).toISOString()}` });
      if (refused) return yield* finish(fail(refused), slot.retryAt);
      // An open circuit is not a deferral: its cool-down bounds the wait and a probe's outcome ends it
      // (a permanent error fails that job), so a long outage must not use up the job's deferrals.
      if (slot.reason !== 'circuit_open' && ++deferrals > MAX_DEFERRALS) return yield* finish(deferredTooOften());
      yield context.df.createTimer(new Date(slot.retryAt));
      continue;
    }
    const { decision } = slot;
    const gate = new df.EntityId(ENTITY_NAMES.tokenGate, slot.deployment);
    // Wake early by the lead fixed into the input: timers and activity queues fire late, and callModel
    // waits out the rest in process, so the call leaves at its start rather than somewhere in the tolerance.
    const wakeAt = decision.startAt - (input.wakeLeadMs ?? 0);
    if (wakeAt > context.df.currentUtcDateTime.getTime()) yield context.df.createTimer(new Date(wakeAt));

    const call: CallModelInput = {
      jobId: input.jobId,
      startAt: decision.startAt,
      sendBy: decision.sendBy,
      attempt: attempts + 1,
      // Only on failover, so a job on its own deployment calls exactly as before.
      ...(slot.deployment !== input.deployment ? { deployment: slot.deployment } : {}),
    };
    const outcome = (yield context.df.callActivity(ACTIVITY_NAMES.callModel, call)) as AttemptOutcome;
    // Fire and forget: the gate applies it in order with everyone else's operations. Every grant is
    // settled, a missed one too, so its in-flight lease is released.
    context.df.signalEntity(gate, GATE_OPERATIONS.settle, withCallFailure(settleReportFor(input.charge, decision.startAt, outcome, decision.counted, input.promptTokens), outcome));
    if (outcome.kind === 'missed') {
      if (++deferrals > MAX_DEFERRALS) return yield* finish(deferredTooOften());
    } else {
      attempts += 1;
    }
    const step = nextStep(outcome, attempts, input.policy, replaySafeRandom(context, `backoff-${attempts}-${deferrals}`));
    if (step.kind === 'complete' && outcome.kind === 'completed') {
      return yield* finish({ jobId: input.jobId, status: 'completed', attempts, result: outcome.completion, usage: outcome.usage });
    }
    if (step.kind === 'fail') return yield* finish(fail(step.error));
    if (step.kind === 'retry' && outcome.kind !== 'missed' && outcome.kind !== 'completed') {
      const retryAt = context.df.currentUtcDateTime.getTime() + step.delayMs;
      const refused = beyondDeadline(input, retryAt, outcome.error);
      if (refused) return yield* finish(fail(refused), outcome.kind === 'throttled' ? retryAt : undefined);
    }
    if (step.kind === 'retry' && step.delayMs > 0) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + step.delayMs));
    }
  }
};

/** What asking the gates for a slot came to. */
type SlotAnswer =
  | { readonly kind: 'granted'; readonly deployment: string; readonly decision: Extract<AcquireDecision, { kind: 'granted' }> }
  | { readonly kind: 'retry'; readonly retryAt: number; readonly reason: RetryReason }
  | { readonly kind: 'rejected'; readonly limit: number }
  | { readonly kind: 'error'; readonly error: GateError };

/**
 * One round of asking for a slot. With several deployments (failover) each is asked in order, and all
 * but the last only accept a slot starting within `spilloverWaitMs`: the job takes the first with room
 * (an open circuit refuses at once). A synchronous job bounds every wait by its deadline. Nothing
 * granted: ask again at the earliest `retryAt` any of them named. Only entity answers decide.
 */
function* acquireSlot(context: OrchestrationContext, input: RunJobInput): Generator<df.Task, SlotAnswer, unknown> {
  const candidates = input.deployments ?? [input.deployment];
  const now = context.df.currentUtcDateTime.getTime();
  const syncBound = input.deadline === undefined ? undefined : Math.max(0, input.deadline - now);
  let retry: SlotAnswer | undefined;
  let rejected: SlotAnswer | undefined;
  let error: SlotAnswer | undefined;
  for (const [index, deployment] of candidates.entries()) {
    const last = index === candidates.length - 1;
    const bound = last ? syncBound : Math.min(syncBound ?? Number.POSITIVE_INFINITY, input.spilloverWaitMs ?? 0);
    const acquired = (yield context.df.callEntity(new df.EntityId(ENTITY_NAMES.tokenGate, deployment), GATE_OPERATIONS.acquire, {
      tokens: input.charge,
      priority: input.priority,
      ...(input.promptTokens !== undefined ? { promptTokens: input.promptTokens } : {}),
      ...(input.queue !== undefined ? { queue: input.queue } : {}),
      ...(bound !== undefined ? { maxWaitMs: bound } : {}),
    })) as GateResult<AcquireDecision>;
    if (!acquired.ok) {
      error ??= { kind: 'error', error: acquired.error };
      continue;
    }
    const decision = acquired.value;
    if (decision.kind === 'granted') return { kind: 'granted', deployment, decision };
    if (decision.kind === 'retry' && (retry === undefined || (retry.kind === 'retry' && decision.retryAt < retry.retryAt))) {
      retry = { kind: 'retry', retryAt: decision.retryAt, reason: decision.reason };
    }
    if (decision.kind === 'rejected') rejected ??= { kind: 'rejected', limit: decision.limit };
  }
  return retry ?? rejected ?? error!;
}

/** A synchronous job that could only go on after its deadline fails now, with this error. */
function beyondDeadline(input: RunJobInput, at: number, error: JobError): JobError | null {
  return input.deadline !== undefined && at > input.deadline ? error : null;
}

df.app.orchestration(ORCHESTRATION_NAMES.runJob, runJob);
