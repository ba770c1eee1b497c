/**
 * Activity `callModel`: one model call for a job, at its granted slot, classified. Returns `missed`
 * without calling when the slot's send-by time has passed (the gate counted the charge for the slot,
 * not for now). The SDK's retries are off: the orchestration owns retries.
 *
 * A job of a named queue goes to the provider it recorded at submission: another deployment of the
 * app's Azure OpenAI account, or an OpenAI-compatible endpoint. Every other job takes the default path.
 */
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { AppSettings } from '../lib/config.js';
import { ChatCompletionRequest, Job } from '../lib/jobs/job.js';
import { CallModelInput } from '../lib/jobs/pipeline.js';
import { AttemptOutcome } from '../lib/jobs/retryPolicy.js';
import { CallOptions } from '../lib/model/invoke.js';
import { CallOutcome } from '../lib/model/outcome.js';
import { correlated } from '../lib/telemetry/correlation.js';
import { CallResult, telemetry } from '../lib/telemetry/metrics.js';
import { completeOnProvider } from '../lib/model/providers.js';
import { MissingSettingError, ModelGateway, modelGatewayFor, services } from '../lib/services.js';
import { ACTIVITY_NAMES } from './names.js';

export async function callModel(input: CallModelInput, context: InvocationContext): Promise<AttemptOutcome> {
  if (Date.now() > input.sendBy) return { kind: 'missed' };
  const { store, model, settings } = await services();
  const job = await store.getJob(input.jobId);
  if (!job) return { kind: 'permanent', error: { status: null, code: 'job_not_found', message: `job ${input.jobId} is not in the store` } };
  if (Date.now() > input.sendBy) return { kind: 'missed' };
  // Recorded alongside the call, not before it: every millisecond before sending eats into the slot.
  const running = store.updateJob(job.id, { status: 'running', attempts: input.attempt, at: new Date().toISOString() });
  // Failover (AZURE_OPENAI_DEPLOYMENTS): another deployment's gate granted the slot, so the call goes there.
  const failover = input.deployment !== undefined && input.deployment !== settings.deployment && job.provider === undefined;
  const outcome = await (failover ? completeOnDeployment(input.deployment!, job.request, settings) : complete(job, settings, model, { clientRequestId: `${job.id}:${input.attempt}` }));
  await running;
  const deployment = failover ? input.deployment! : job.deployment;
  telemetry.modelCall(deployment, job.priority, callResultOf(outcome));
  if ((outcome.kind === 'completed' || outcome.kind === 'throttled') && outcome.utilization !== null) telemetry.ptuUtilization(deployment, 'header', outcome.utilization);
  context.log(correlated(`callModel attempt ${input.attempt}: ${outcome.kind}${outcome.kind === 'completed' ? '' : ` ${outcome.error.status ?? ''} ${outcome.error.code ?? ''}`}`, { requestId: job.id, batchId: job.batchId }));
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

/** The call on the job's provider; the app's own gateway for the default path and its own deployment. */
function complete(job: Job, settings: AppSettings, model: ModelGateway, options: CallOptions): Promise<CallOutcome> {
  const provider = job.provider;
  if (provider === undefined || (provider.type === 'azure_openai' && provider.deployment === settings.deployment)) return model.complete(job.request, options);
  if (provider.type === 'openai_compatible') return completeOnProvider(provider, job.request, { timeoutMs: settings.openai.timeoutMs });
  return completeOnDeployment(provider.deployment, job.request, settings);
}

/** Gateways for the account's other deployments, built once each (same endpoint and auth as the app's own). */
const deploymentGateways = new Map<string, ModelGateway>();

function completeOnDeployment(deployment: string, request: ChatCompletionRequest, settings: AppSettings): Promise<CallOutcome> {
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
  return gateway.complete(request);
}

df.app.activity(ACTIVITY_NAMES.callModel, { handler: (input: unknown, context) => callModel(input as CallModelInput, context) });
