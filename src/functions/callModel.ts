/**
 * Activity `callModel`: one model call for a job, at its granted slot, classified. The orchestration
 * wakes it up to its wake lead early; it waits in process until the slot's start, so the call leaves on
 * time even when timers and queues run late. Returns `missed` without calling when the slot's send-by
 * time has passed (the gate counted the charge for the slot, not for now), checked on arrival, after
 * the wait, and by the client's fetch right before the request goes out. The SDK's retries are off:
 * the orchestration owns retries.
 *
 * A job of a named queue goes to the provider it recorded at submission: another deployment of the
 * app's Azure OpenAI account, or an OpenAI-compatible endpoint; with several (spillover), the one whose
 * gate granted the slot. Every other job takes the default path.
 */
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { AppSettings } from '../lib/config.js';
import { ChatCompletionRequest } from '../lib/jobs/job.js';
import { CallModelInput } from '../lib/jobs/pipeline.js';
import { AttemptOutcome } from '../lib/jobs/retryPolicy.js';
import { CallOptions } from '../lib/model/invoke.js';
import { CallOutcome, isAnswered } from '../lib/model/outcome.js';
import { correlated } from '../lib/telemetry/correlation.js';
import { CallResult, telemetry } from '../lib/telemetry/metrics.js';
import { ProviderConfig, completeOnProvider, gateKeyFor } from '../lib/model/providers.js';
import { MissingSettingError, ModelGateway, modelGatewayFor, services } from '../lib/services.js';
import { ACTIVITY_NAMES } from './names.js';

export async function callModel(input: CallModelInput, context: InvocationContext): Promise<AttemptOutcome> {
  if (Date.now() > input.sendBy) return { kind: 'missed' };
  const { store, model, settings } = await services();
  const job = await store.getJob(input.jobId);
  if (!job) return { kind: 'permanent', error: { status: null, code: 'job_not_found', message: `job ${input.jobId} is not in the store` } };
  // Woken early by the wake lead: not before the slot, which is what the gate counted.
  if (input.startAt !== undefined) await untilMoment(input.startAt);
  if (Date.now() > input.sendBy) return { kind: 'missed' };
  // Recorded alongside the call, not before it: every millisecond before sending eats into the slot.
  const running = store.updateJob(job.id, { status: 'running', attempts: input.attempt, at: new Date().toISOString() });
  const options: CallOptions = { clientRequestId: `${job.id}:${input.attempt}`, sendBy: input.sendBy };
  const granted = input.deployment;
  let call: Promise<AttemptOutcome>;
  if (granted !== undefined && job.providers !== undefined) {
    // Spillover: the gate of another of the queue's providers granted the slot, so the call goes to it.
    const provider = job.providers.find((p) => gateKeyFor(p) === granted);
    call = provider === undefined ? Promise.resolve(unknownGateKey(granted)) : complete(provider, job.request, settings, model, options);
  } else if (granted !== undefined) {
    // Failover (AZURE_OPENAI_DEPLOYMENTS): another deployment's gate granted the slot, so the call goes there.
    call = complete({ type: 'azure_openai', deployment: granted, model: null }, job.request, settings, model, options);
  } else {
    call = complete(job.provider, job.request, settings, model, options);
  }
  const answered = await call;
  // Stamped before the status write below: the gate drains the header from the answer, not from the settle.
  const outcome = withUtilizationTime(answered, Date.now());
  await running;
  if (outcome.kind === 'missed') {
    // Stopped by the client's fetch: nothing went out, the orchestration asks the gate again.
    context.log(correlated(`callModel attempt ${input.attempt}: missed (send-by passed before the request went out)`, { requestId: job.id, batchId: job.batchId }));
    return outcome;
  }
  const deployment = granted ?? job.deployment;
  telemetry.modelCall(deployment, job.priority, callResultOf(outcome));
  if (isAnswered(outcome) && outcome.utilization !== null) telemetry.ptuUtilization(deployment, 'header', outcome.utilization);
  context.log(correlated(`callModel attempt ${input.attempt}: ${outcome.kind}${outcome.kind === 'completed' ? '' : ` ${outcome.error.status ?? ''} ${outcome.error.code ?? ''}`}`, { requestId: job.id, batchId: job.batchId }));
  return outcome;
}

function withUtilizationTime(outcome: AttemptOutcome, at: number): AttemptOutcome {
  if (isAnswered(outcome) && outcome.utilization !== null) return { ...outcome, utilizationAt: at };
  return outcome;
}

/** The metric's closed set of results: by status where there is one, else what kind of failure. */
function callResultOf(outcome: CallOutcome): CallResult {
  if (outcome.kind === 'completed') return 'ok';
  if (outcome.kind === 'throttled') return 'throttled';
  const status = outcome.error.status;
  if (status === null) return outcome.error.code === 'timeout' ? 'timeout' : 'connection';
  return status >= 500 ? 'server_error' : 'client_error';
}

/** The call on a provider; the app's own gateway for the default path (none) and its own deployment. */
function complete(provider: ProviderConfig | undefined, request: ChatCompletionRequest, settings: AppSettings, model: ModelGateway, options: CallOptions): Promise<AttemptOutcome> {
  if (provider === undefined || (provider.type === 'azure_openai' && provider.deployment === settings.deployment)) return model.complete(request, options);
  if (provider.type === 'openai_compatible') return completeOnProvider(provider, request, { timeoutMs: settings.openai.timeoutMs, ...(options.sendBy !== undefined ? { sendBy: options.sendBy } : {}) });
  return completeOnDeployment(provider.deployment, request, settings, options);
}

/** Resolves at `at` (epoch ms) or just after, at once when it has passed. The wait is at most the wake lead. */
async function untilMoment(at: number): Promise<void> {
  // Again while early: timers run on the monotonic clock and may fire a millisecond before Date.now() says.
  for (let waitMs = at - Date.now(); waitMs > 0; waitMs = at - Date.now()) {
    await new Promise<void>((resolve) => setTimeout(resolve, waitMs));
  }
}

/** A slot granted by a gate none of the job's providers is kept under: no call can be meant for it. */
function unknownGateKey(key: string): CallOutcome {
  return { kind: 'permanent', error: { status: null, code: 'provider_unavailable', message: `no provider of the job is kept under gate ${key}` } };
}

/** Gateways for the account's other deployments, built once each (same endpoint and auth as the app's own). */
const deploymentGateways = new Map<string, ModelGateway>();

function completeOnDeployment(deployment: string, request: ChatCompletionRequest, settings: AppSettings, options: CallOptions): Promise<AttemptOutcome> {
  const key = JSON.stringify([settings.openai.endpoint, deployment]);
  let gateway = deploymentGateways.get(key);
  if (!gateway) {
    try {
      gateway = modelGatewayFor({ ...settings, deployment });
    } catch (error) {
      if (!(error instanceof MissingSettingError)) throw error;
      // No Azure OpenAI endpoint configured (the local runtime's simulator serves the app's deployment only).
      return Promise.resolve({ kind: 'permanent', error: { status: null, code: 'provider_unavailable', message: `deployment ${deployment} cannot be called: AZURE_OPENAI_ENDPOINT is not set` } });
    }
    deploymentGateways.set(key, gateway);
  }
  return gateway.complete(request, options);
}

df.app.activity(ACTIVITY_NAMES.callModel, { handler: (input: unknown, context) => callModel(input as CallModelInput, context) });
