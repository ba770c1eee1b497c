/**
 * The Azure Monitor implementation of UtilizationReader: one `metrics:getBatch` query per tick for the
 * Azure OpenAI account, split by deployment, through `@azure/monitor-query-metrics`.
 */
import { AuthenticationError, CredentialUnavailableError, DefaultAzureCredential, TokenCredential } from '@azure/identity';
import { MetricsClient, MetricsClientOptions, MetricsQueryResourcesOptions } from '@azure/monitor-query-metrics';
import {
  COGNITIVE_SERVICES_NAMESPACE,
  DEFAULT_LOOKBACK_MS,
  DeploymentReading,
  FailureReason,
  METRIC_GRAIN,
  UTILIZATION_AGGREGATION,
  UTILIZATION_METRIC,
  UtilizationReader,
  UtilizationReading,
  deploymentFilter,
  readingsFrom,
} from './reading.js';

export const DEFAULT_QUERY_TIMEOUT_MS = 20_000;

export interface MetricsReaderOptions {
  /** ARM id of the Azure OpenAI (Cognitive Services) account. */
  readonly resourceId: string;
  readonly maxAgeMs?: number;
  readonly lookbackMs?: number;
  readonly timeoutMs?: number;
}

export class MetricsUtilizationReader implements UtilizationReader {
  constructor(
    private readonly client: MetricsClient,
    private readonly options: MetricsReaderOptions,
  ) {}

  async read(deployments: readonly string[], now: number): Promise<readonly DeploymentReading[]> {
    if (deployments.length === 0) return [];
    // `requestOptions` is not in the public options type, but the client passes the options through
    // to the request (checked for 1.0.0 and by a test): without a timeout a hung query would hold the
    // timer, and the timer does not fire again while an invocation runs.
    const query: MetricsQueryResourcesOptions & { requestOptions: { timeout: number } } = {
      startTime: new Date(now - (this.options.lookbackMs ?? DEFAULT_LOOKBACK_MS)),
      endTime: new Date(now),
      interval: METRIC_GRAIN,
      aggregation: UTILIZATION_AGGREGATION,
      filter: deploymentFilter(deployments),
      // `top` caps the series per resource (10 by default) once a filter is given.
      top: Math.max(10, deployments.length),
      requestOptions: { timeout: this.options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS },
    };
    try {
      const results = await this.client.queryResources([this.options.resourceId], [UTILIZATION_METRIC], COGNITIVE_SERVICES_NAMESPACE, query);
      return readingsFrom(results, deployments, { now, ...(this.options.maxAgeMs !== undefined ? { maxAgeMs: this.options.maxAgeMs } : {}) });
    } catch (error) {
      const failed = failureOf(error);
      return deployments.map((deployment) => ({ deployment, reading: failed }));
    }
  }
}

interface RestErrorLike extends Error {
  readonly statusCode?: number;
  readonly code?: string;
}

/**
 * RestError is recognised by its name rather than `instanceof`: the class lives in
 * `@azure/core-rest-pipeline`, which this app does not depend on directly (the library's own
 * `isRestError` makes the same check).
 */
function isRestError(error: unknown): error is RestErrorLike {
  return error instanceof Error && error.name === 'RestError';
}

function reasonForStatus(status: number): FailureReason {
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 429) return 'throttled';
  if (status === 408 || status >= 500) return 'unavailable';
  return 'bad_response';
}

export function failureOf(error: unknown): UtilizationReading {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof CredentialUnavailableError || error instanceof AuthenticationError) {
    return { kind: 'failed', reason: 'credential', status: null, detail: `${error.name}: ${message}` };
  }
  if (isRestError(error)) {
    if (typeof error.statusCode === 'number') {
      return { kind: 'failed', reason: reasonForStatus(error.statusCode), status: error.statusCode, detail: message };
    }
    // No status: the request never got an answer (refused, reset, DNS) or its body was unreadable.
    return { kind: 'failed', reason: error.code === 'PARSE_ERROR' ? 'bad_response' : 'unavailable', status: null, detail: `${error.code ?? 'RestError'}: ${message}` };
  }
  if (error instanceof Error && error.name === 'AbortError') return { kind: 'failed', reason: 'unavailable', status: null, detail: `timed out: ${message}` };
  // The client's deserializer throws TypeError on a body without the fields it expects.
  return { kind: 'failed', reason: 'bad_response', status: null, detail: error instanceof Error ? `${error.name}: ${message}` : message };
}

export interface MetricsClientSetup {
  /** Regional data-plane endpoint, `https://<region>.metrics.monitor.azure.com`. */
  readonly endpoint: string;
  readonly managedIdentityClientId?: string | null;
  /** Tests: a static-token credential instead of DefaultAzureCredential. */
  readonly credential?: TokenCredential;
  /** Tests: e.g. `tlsOptions` to trust a local server's certificate. */
  readonly clientOptions?: MetricsClientOptions;
}

export function createMetricsClient(setup: MetricsClientSetup): MetricsClient {
  const clientId = setup.managedIdentityClientId?.trim();
  const credential = setup.credential ?? new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  return new MetricsClient(setup.endpoint, credential, {
    // The timer is the retry loop: the next tick asks again, and a value retried into the next
    // minute is worth less than a fresh one.
    retryOptions: { maxRetries: 0 },
    ...setup.clientOptions,
  });
}
