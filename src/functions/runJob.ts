/**
 * Orchestration `runJob`, one per job (instance id = request id): ask the gate for a slot, sleep on a
 * durable timer until it, call the model, tell the gate what really happened, save the result.
 * Retries go back through the gate. Deterministic only: time from `currentUtcDateTime`, jitter from
 * `newGuid`, no I/O.
 */
import * as df from 'durable-functions';
import { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { AcquireDecision } from '../lib/gate/types.js';
import { GATE_OPERATIONS, GateResult } from '../lib/gate/operations.js';
import { JobError } from '../lib/jobs/job.js';
import { RunJobOutput, SaveResultInput, SaveResultOutput, WEBHOOK_ATTEMPTS, WEBHOOK_FIRST_RETRY_MS, parseRunJobInput, settleReportFor } from '../lib/jobs/pipeline.js';
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
  const gate = new df.EntityId(ENTITY_NAMES.tokenGate, input.deployment);
  let attempts = 0;
  let deferrals = 0;

  const finish = function* (save: SaveResultInput) {
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
    const output: RunJobOutput = { jobId: input.jobId, status: save.status, attempts: save.attempts };
    return output;
  };
  const fail = (error: JobError): SaveResultInput => ({ jobId: input.jobId, status: 'failed', attempts, error });
  const deferredTooOften = () => fail({ status: null, code: 'deferred_too_often', message: `no slot kept after ${MAX_DEFERRALS} deferrals` });

  for (;;) {
    const acquired = (yield context.df.callEntity(gate, GATE_OPERATIONS.acquire, {
      tokens: input.charge,
      priority: input.priority,
    })) as GateResult<AcquireDecision>;
    if (!acquired.ok) return yield* finish(fail({ status: null, code: `gate_${acquired.error.code}`, message: acquired.error.message }));
    const decision = acquired.value;
    if (decision.kind === 'rejected') {
      return yield* finish(
        fail({ status: null, code: 'too_large', message: `the request is charged ${input.charge} tokens, more than the deployment's whole quota of ${decision.limit}` }),
      );
    }
    if (decision.kind === 'retry') {
      if (++deferrals > MAX_DEFERRALS) return yield* finish(deferredTooOften());
      yield context.df.createTimer(new Date(decision.retryAt));
      continue;
    }
    if (decision.startAt > context.df.currentUtcDateTime.getTime()) yield context.df.createTimer(new Date(decision.startAt));

    const outcome = (yield context.df.callActivity(ACTIVITY_NAMES.callModel, {
      jobId: input.jobId,
      sendBy: decision.sendBy,
      attempt: attempts + 1,
    })) as AttemptOutcome;
    // Fire and forget: the gate applies it in order with everyone else's operations. Every grant is
    // settled, a missed one too, so its in-flight lease is released.
    context.df.signalEntity(gate, GATE_OPERATIONS.settle, settleReportFor(input.charge, decision.startAt, outcome));
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
    if (step.kind === 'retry' && step.delayMs > 0) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + step.delayMs));
    }
  }
};

df.app.orchestration(ORCHESTRATION_NAMES.runJob, runJob);
