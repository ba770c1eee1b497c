/**
 * The adapters the functions use, built once from the settings: the Azure implementations by
 * default, or whatever the local runtime (or a test) installs with `useServices` before work arrives.
 */
import { AzureOpenAI } from 'openai';
import { AppSettings } from './config.js';
import { ChatCompletionRequest } from './jobs/job.js';
import { AttemptOutcome } from './jobs/retryPolicy.js';
import { createModelClient } from './model/client.js';
import { CallOptions, callChatCompletion } from './model/invoke.js';
import { ProbeResult, probeModel } from './model/probe.js';
import { appSettings } from './settings.js';
import { createCosmosJobStore } from './store/cosmosJobStore.js';
import { JobStore } from './store/jobStore.js';

export interface ModelGateway {
  /** One chat completion, classified; `missed` (nothing sent) only when `options.sendBy` passed first. Never throws. */
  complete(request: ChatCompletionRequest, options?: CallOptions): Promise<AttemptOutcome>;
  /** A call that costs no tokens: is the endpoint there and does it let us in? Never throws. */
  probe(): Promise<ProbeResult>;
}

export interface Services {
  readonly settings: AppSettings;
  readonly store: JobStore;
  readonly model: ModelGateway;
}

export class MissingSettingError extends Error {
  override readonly name = 'MissingSettingError';
}

let current: Promise<Services> | undefined;

export function useServices(services: Services): void {
  current = Promise.resolve(services);
}

export function services(): Promise<Services> {
  current ??= azureServices(appSettings());
  return current;
}

export function azureModelGateway(client: AzureOpenAI, accountClient: AzureOpenAI): ModelGateway {
  return { complete: (request, options) => callChatCompletion(client, request, options), probe: () => probeModel(accountClient) };
}

/**
 * The model gateway for the configured deployment. `endpoint` and `apiKey` may be overridden (the local
 * runtime points them at its simulator); everything else comes from the settings.
 */
export function modelGatewayFor(settings: AppSettings, overrides: { endpoint?: string; apiKey?: string } = {}): ModelGateway {
  const endpoint = overrides.endpoint ?? settings.openai.endpoint;
  if (endpoint === null) throw new MissingSettingError('AZURE_OPENAI_ENDPOINT is not set: there is no model to call');
  const options = {
    endpoint,
    apiVersion: settings.openai.apiVersion,
    apiKey: overrides.apiKey ?? settings.openai.apiKey,
    timeoutMs: settings.openai.timeoutMs,
    managedIdentityClientId: settings.managedIdentityClientId,
  };
  return azureModelGateway(createModelClient({ ...options, deployment: settings.deployment }), createModelClient(options));
}

/** The Cosmos job store of the settings (Entra ID; a key only for emulators). */
export function cosmosStoreFor(settings: AppSettings): Promise<JobStore> {
  const { store } = settings;
  if (store.endpoint === null) throw new MissingSettingError('COSMOS_ENDPOINT is not set: there is no job store');
  return createCosmosJobStore({ endpoint: store.endpoint, databaseId: store.databaseId, key: store.key, managedIdentityClientId: settings.managedIdentityClientId });
}

async function azureServices(settings: AppSettings): Promise<Services> {
  const model = modelGatewayFor(settings);
  return { settings, store: await cosmosStoreFor(settings), model };
}
