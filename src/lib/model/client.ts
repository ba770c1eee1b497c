/**
 * The one Azure OpenAI client the app sends chat completions through.
 *
 * Auth is an API key when one is configured, otherwise Microsoft Entra ID (managed identity in Azure,
 * developer credentials locally) through `DefaultAzureCredential`.
 */
import { DefaultAzureCredential, getBearerTokenProvider } from '@azure/identity';
import { AzureOpenAI } from 'openai';
import { guardedFetch } from './sendByGuard.js';

export const COGNITIVE_SERVICES_SCOPE = 'https://cognitiveservices.azure.com/.default';

export interface ModelClientOptions {
  /** The resource endpoint, e.g. `https://my-resource.openai.azure.com/` (the client adds `/openai`). */
  readonly endpoint: string;
  /** Omitted only for account-level calls such as the health probe's model list. */
  readonly deployment?: string;
  readonly apiVersion: string;
  /** API key auth when set (non-empty); Entra ID when null. */
  readonly apiKey: string | null;
  /** Per-call timeout; a call that runs longer fails with `APIConnectionTimeoutError`. */
  readonly timeoutMs: number;
  /** Client id of a user-assigned managed identity (Entra ID auth only). */
  readonly managedIdentityClientId?: string | null;
}

/**
 * Note that the SDK still fills options we leave out from the environment (`OPENAI_BASE_URL`,
 * `AZURE_OPENAI_API_KEY`): with `AZURE_OPENAI_API_KEY` set while `apiKey` is null the constructor
 * throws (key and token provider are mutually exclusive), which fails fast on an ambiguous setup.
 */
export function createModelClient(options: ModelClientOptions): AzureOpenAI {
  const common = {
    endpoint: options.endpoint,
    apiVersion: options.apiVersion,
    ...(options.deployment !== undefined ? { deployment: options.deployment } : {}),
    // One retry layer only: the gate charged quota for exactly one call, and our orchestration decides
    // when (and whether) to try again after asking the gate. The SDK's own retries (2 by default, on
    // 408/409/429/5xx and connection errors) would send calls the gate never granted, spending quota
    // behind its back and hiding the 429s and utilization it needs to see.
    maxRetries: 0,
    timeout: options.timeoutMs,
    // Refuses a call whose send-by moment passed on its way through the SDK (see sendByGuard.ts).
    fetch: guardedFetch,
  };
  const apiKey = options.apiKey?.trim();
  if (apiKey) return new AzureOpenAI({ ...common, apiKey });

  const clientId = options.managedIdentityClientId?.trim();
  const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  return new AzureOpenAI({
    ...common,
    azureADTokenProvider: getBearerTokenProvider(credential, COGNITIVE_SERVICES_SCOPE),
  });
}
