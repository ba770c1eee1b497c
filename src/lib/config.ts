/**
 * Every setting the app reads, parsed and validated once. A bad value fails fast with an error that
 * names the setting, so a misconfigured deployment never starts counting with nonsense limits.
 */
import { BreakerConfig } from './gate/breaker.js';
import { DEFAULT_LEASE_MS, GateConfig, GateConfigInput, GATE_MODES, GateMode, gateConfigFrom, leaseMsOf } from './gate/config.js';
import { DeploymentEntry, parseDeploymentList } from './deployments.js';
import { RetryPolicy } from './jobs/retryPolicy.js';
import { DEFAULT_SUBMISSION_LIMITS, SubmissionLimits } from './jobs/submission.js';

export type Env = Readonly<Record<string, string | undefined>>;

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid settings: ${problems.join('; ')}`);
  }
}

export interface AppSettings {
  /** Deployment whose quota the gate guards; also the gate entity's key. */
  readonly deployment: string;
  /** Model family of the deployment, chooses the tokenizer. */
  readonly model: string;
  /** `max_tokens` given to requests that set none, so what we charge is what Azure charges. */
  readonly defaultMaxTokens: number;
  readonly gate: GateConfig;
  readonly openai: ModelSettings;
  readonly store: StoreSettings;
  /** Client id of the user-assigned managed identity that Entra ID sign-ins use; null for the default. */
  readonly managedIdentityClientId: string | null;
  /** Key for the batch webhooks' HMAC signatures; null: webhooks are not sent. */
  readonly webhookSecret: string | null;
  /** Lets webhooks call loopback and private addresses (local runs); off in Azure. */
  readonly webhookAllowPrivateNetworks: boolean;
  /** What one `POST /api/producer` may carry. */
  readonly limits: SubmissionLimits;
  /** Fixed into each job's orchestration when it starts. */
  readonly retry: RetryPolicy;
  /** Where the PTU monitor reads the deployment's utilization from Azure Monitor. */
  readonly monitor: MonitorSettings;
  /** The synchronous routes (completion, chat, the Azure-OpenAI-compatible one). */
  readonly sync: SyncSettings;
  /**
   * Every deployment the gate guards for the model, in priority order; the first is `deployment` and
   * has `gate`. One entry unless AZURE_OPENAI_DEPLOYMENTS lists several.
   */
  readonly deployments: readonly DeploymentSettings[];
  /** How long a job may wait for a slot on a deployment before it tries the next one (the last waits as long as it must). */
  readonly spilloverWaitMs: number;
  /**
   * How long before its granted start a job's durable timer fires; the call then waits in process until
   * the start, so late timers and queues do not make it late. Fixed into each job when it starts.
   */
  readonly wakeLeadMs: number;
  /** Each deployment's circuit breaker, kept in its gate entity; null: none. */
  readonly breaker: BreakerSettings | null;
}

export interface SyncSettings {
  /** Longest wait for a slot a synchronous call accepts; beyond it, an immediate 429 with the honest retry time. */
  readonly maxWaitMs: number;
}

export interface DeploymentSettings {
  readonly name: string;
  readonly gate: GateConfig;
}

/** The breaker's settings; the probe's timeout is each gate's lease (a call settles within it or never). */
export type BreakerSettings = Omit<BreakerConfig, 'probeTimeoutMs'>;

/** The breaker of one deployment's gate. */
export function breakerConfigFor(settings: BreakerSettings, gate: GateConfig): BreakerConfig {
  return { ...settings, probeTimeoutMs: leaseMsOf(gate) };
}

/** The gate configuration of the deployment a gate entity is keyed by; any other key: the app's own gate. */
export function gateConfigForKey(settings: AppSettings, key: string): GateConfig {
  return settings.deployments.find((d) => d.name === key)?.gate ?? settings.gate;
}

/**
 * The deployments a job of gate key `deployment` tries, in order, when it has a choice: the whole list
 * for a job of one of its deployments, undefined otherwise (one deployment, or another provider's gate).
 */
export function failoverOrderFor(settings: AppSettings, deployment: string): readonly string[] | undefined {
  if (settings.deployments.length < 2 || !settings.deployments.some((d) => d.name === deployment)) return undefined;
  return settings.deployments.map((d) => d.name);
}

export interface ModelSettings {
  /** Azure OpenAI endpoint; null when unset (the local runtime then starts its simulator). */
  readonly endpoint: string | null;
  readonly apiVersion: string;
  /** Key auth only when set; otherwise Entra ID (managed identity in Azure). */
  readonly apiKey: string | null;
  readonly timeoutMs: number;
}

export interface MonitorSettings {
  /** ARM id of the Azure OpenAI account whose utilization metric is read; null: the monitor is off. */
  readonly resourceId: string | null;
  /** Regional Azure Monitor metrics endpoint, `https://<region>.metrics.monitor.azure.com`. */
  readonly metricsEndpoint: string | null;
}

export interface StoreSettings {
  /** Cosmos DB account endpoint; null when unset (the local runtime then uses its own store). */
  readonly endpoint: string | null;
  readonly databaseId: string;
  /** Only for emulators: Azure uses Entra ID and has key auth disabled. */
  readonly key: string | null;
}

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const raw = this.env[name]?.trim();
    return raw === undefined || raw === '' ? fallback : raw;
  }

  number(name: string, fallback: number | undefined, check: (n: number) => boolean, rule: string): number | undefined {
    const raw = this.env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    // Plain decimals only: Number() would also take "0x10" or "1e3" for a typo.
    const value = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(value) || !check(value)) {
      this.problems.push(`${name} must be ${rule} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  optional(name: string): string | null {
    const raw = this.env[name]?.trim();
    return raw === undefined || raw === '' ? null : raw;
  }

  url(name: string): string | null {
    const raw = this.optional(name);
    if (raw === null) return null;
    try {
      const url = new URL(raw);
      if (url.protocol === 'https:' || url.protocol === 'http:') return raw;
    } catch {
      // reported below
    }
    this.problems.push(`${name} must be an http(s) URL (got "${raw}")`);
    return null;
  }

  oneOf<T extends string>(name: string, options: readonly T[], fallback: T): T {
    const raw = this.string(name, fallback);
    if ((options as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${options.join(', ')} (got "${raw}")`);
    return fallback;
  }
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const positive = (n: number) => n > 0;
const nonNegativeInteger = (n: number) => Number.isInteger(n) && n >= 0;
/** Seconds that are still at least `ms` milliseconds once rounded to whole milliseconds. */
const secondsOfAtLeast = (ms: number) => (n: number) => Math.round(n * 1000) >= ms;
const positiveInteger = (n: number) => Number.isInteger(n) && n > 0;
const fraction = (n: number) => n > 0 && n <= 1;
const reserveFraction = (n: number) => n >= 0 && n < 1;
const ACCOUNT_RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.CognitiveServices\/accounts\/[^/]+$/i;

export function loadSettings(env: Env = process.env): AppSettings {
  const read = new Reader(env);
  const mode: GateMode = read.oneOf('GATE_MODE', GATE_MODES, 'standard');
  const tokensPerMinute = read.number('GATE_TOKENS_PER_MINUTE', 30_000, positiveInteger, 'a whole number of tokens above 0')!;
  const rpmPer1000Tpm = read.number('GATE_RPM_PER_1000_TPM', 6, positive, 'a number above 0')!;
  const requestsPerMinute = read.number(
    'GATE_REQUESTS_PER_MINUTE',
    Math.max(1, Math.floor((tokensPerMinute / 1000) * rpmPer1000Tpm)),
    positiveInteger,
    'a whole number above 0',
  )!;
  const windowSeconds = read.number('GATE_WINDOW_SECONDS', 60, secondsOfAtLeast(60), 'at least 0.06 seconds')!;
  const horizonSeconds = read.number('GATE_HORIZON_SECONDS', 2 * windowSeconds, secondsOfAtLeast(1), 'at least 0.001 seconds')!;
  const startToleranceMs = read.number('GATE_START_TOLERANCE_MS', 1000, nonNegativeInteger, 'a whole number of milliseconds, 0 or more')!;
  const wakeLeadMs = read.number('GATE_WAKE_LEAD_MS', 1000, nonNegativeInteger, 'a whole number of milliseconds, 0 or more')!;
  const ptuMaxUtilization = read.number('PTU_MAX_UTILIZATION', 0.7, fraction, 'a fraction in (0, 1]')!;
  const interactiveReserve = read.number('GATE_INTERACTIVE_RESERVE', 0.2, reserveFraction, 'a fraction in [0, 1)')!;
  // Empty: derived from the quota (gate/config.ts says how); 0 switches the limit or the pacing off.
  const maxInFlight = read.number('GATE_MAX_IN_FLIGHT', undefined, nonNegativeInteger, 'a whole number, 0 or more (0: no limit)');
  const minIntervalMs = read.number('GATE_MIN_INTERVAL_MS', undefined, nonNegativeInteger, 'a whole number of milliseconds, 0 or more (0: no pacing)');
  const leaseSeconds = read.number('GATE_LEASE_SECONDS', undefined, secondsOfAtLeast(1), 'a number of seconds of at least 0.001');
  const defaultMaxTokens = read.number('GATE_DEFAULT_MAX_TOKENS', 1024, positiveInteger, 'a whole number above 0')!;
  const modelEndpoint = read.url('AZURE_OPENAI_ENDPOINT');
  const apiVersion = read.string('AZURE_OPENAI_API_VERSION', '2024-10-21');
  const apiKey = read.optional('AZURE_OPENAI_API_KEY');
  const modelTimeoutSeconds = read.number('MODEL_TIMEOUT_SECONDS', 120, secondsOfAtLeast(1), 'a number of seconds of at least 0.001')!;
  const cosmosEndpoint = read.url('COSMOS_ENDPOINT');
  const databaseId = read.string('COSMOS_DATABASE', 'tokengate');
  const cosmosKey = read.optional('COSMOS_KEY');
  const maxAttempts = read.number('JOB_MAX_ATTEMPTS', 6, positiveInteger, 'a whole number above 0')!;
  const baseDelayMs = read.number('JOB_RETRY_BASE_MS', 1000, positiveInteger, 'a whole number of milliseconds above 0')!;
  const maxDelayMs = read.number('JOB_RETRY_MAX_MS', 60_000, positiveInteger, 'a whole number of milliseconds above 0')!;
  const managedIdentityClientId = read.optional('AZURE_CLIENT_ID');
  const webhookSecret = read.optional('WEBHOOK_SIGNING_SECRET');
  const webhookAllowPrivateNetworks = read.oneOf('WEBHOOK_ALLOW_PRIVATE_NETWORKS', ['true', 'false'] as const, 'false') === 'true';
  const maxItems = read.number('PRODUCER_MAX_ITEMS', DEFAULT_SUBMISSION_LIMITS.maxItems, positiveInteger, 'a whole number above 0')!;
  const maxBodyBytes = read.number('PRODUCER_MAX_BODY_BYTES', DEFAULT_SUBMISSION_LIMITS.maxBodyBytes, positiveInteger, 'a whole number of bytes above 0')!;
  const listed = parseDeploymentList(read.string('AZURE_OPENAI_DEPLOYMENTS', ''));
  read.problems.push(...listed.problems);
  // With a list, its first entry is the app's deployment (the producer's jobs start there).
  const deployment = listed.entries[0]?.name ?? read.string('AZURE_OPENAI_DEPLOYMENT', 'gpt-4o');
  const model = read.string('AZURE_OPENAI_MODEL', read.string('AZURE_OPENAI_DEPLOYMENT', deployment));
  const syncMaxWaitSeconds = read.number('SYNC_MAX_WAIT_SECONDS', 30, (n) => n >= 0 && n <= 200, 'a number of seconds from 0 to 200 (the Azure front end cuts HTTP calls at 230 s)')!;
  const spilloverWaitSeconds = read.number('DEPLOYMENT_SPILLOVER_WAIT_SECONDS', 2, (n) => n >= 0, 'a number of seconds, 0 or more')!;
  const breakerThreshold = read.number('BREAKER_FAILURE_THRESHOLD', 5, nonNegativeInteger, 'a whole number, 0 or more (0: no circuit breaker)')!;
  // Empty: the token window and half of it (60 s and 30 s), so runs with short windows recover as fast.
  const breakerWindowSeconds = read.number('BREAKER_WINDOW_SECONDS', windowSeconds, secondsOfAtLeast(1), 'a number of seconds of at least 0.001')!;
  const breakerCoolDownSeconds = read.number('BREAKER_COOLDOWN_SECONDS', windowSeconds / 2, secondsOfAtLeast(1), 'a number of seconds of at least 0.001')!;
  const monitorResourceId = read.optional('AZURE_OPENAI_RESOURCE_ID');
  const metricsEndpoint = read.url('AZURE_MONITOR_METRICS_ENDPOINT');
  if (monitorResourceId !== null && !ACCOUNT_RESOURCE_ID.test(monitorResourceId)) {
    read.problems.push(
      `AZURE_OPENAI_RESOURCE_ID must be an account's ARM id, /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.CognitiveServices/accounts/<name> (got "${monitorResourceId}")`,
    );
  }
  // The metrics API takes bearer tokens, which the client sends over https only.
  if (metricsEndpoint !== null && new URL(metricsEndpoint).protocol !== 'https:') {
    read.problems.push(`AZURE_MONITOR_METRICS_ENDPOINT must be an https URL (got "${metricsEndpoint}")`);
  }
  if (monitorResourceId !== null && metricsEndpoint === null) {
    read.problems.push('AZURE_MONITOR_METRICS_ENDPOINT must be set when AZURE_OPENAI_RESOURCE_ID is: https://<region>.metrics.monitor.azure.com');
  }
  if (minIntervalMs !== undefined && minIntervalMs > Math.round(windowSeconds * 1000)) {
    read.problems.push(`GATE_MIN_INTERVAL_MS must be at most the window, GATE_WINDOW_SECONDS (got "${minIntervalMs}")`);
  }
  // A lease that lapses while its call may still run would let the in-flight count undercount.
  const leaseMs = leaseSeconds === undefined ? undefined : Math.round(leaseSeconds * 1000);
  if ((leaseMs ?? DEFAULT_LEASE_MS) <= Math.round(modelTimeoutSeconds * 1000) + startToleranceMs) {
    read.problems.push(
      `GATE_LEASE_SECONDS (${(leaseMs ?? DEFAULT_LEASE_MS) / 1000} s) must be longer than MODEL_TIMEOUT_SECONDS plus GATE_START_TOLERANCE_MS, or a slot is released while its call still runs`,
    );
  }
  if (read.problems.length > 0) throw new SettingsError(read.problems);
  const gateInput: GateConfigInput = {
    mode,
    tokensPerMinute,
    requestsPerMinute,
    windowMs: Math.round(windowSeconds * 1000),
    horizonMs: Math.round(horizonSeconds * 1000),
    ptuMaxUtilization,
    interactiveReserve,
    startToleranceMs,
    // Only when set, so an unset one keeps following the quota (also through the entity's `configure`).
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
    ...(minIntervalMs !== undefined ? { minIntervalMs } : {}),
    ...(leaseMs !== undefined ? { leaseMs } : {}),
  };
  const deployments = deploymentsFrom(listed.entries, deployment, gateInput, rpmPer1000Tpm);

  return {
    deployment,
    model,
    defaultMaxTokens,
    openai: { endpoint: modelEndpoint, apiVersion, apiKey, timeoutMs: Math.round(modelTimeoutSeconds * 1000) },
    store: { endpoint: cosmosEndpoint, databaseId, key: cosmosKey },
    managedIdentityClientId,
    webhookSecret,
    webhookAllowPrivateNetworks,
    limits: { ...DEFAULT_SUBMISSION_LIMITS, maxItems, maxBodyBytes },
    retry: { maxAttempts, baseDelayMs, maxDelayMs: Math.max(maxDelayMs, baseDelayMs) },
    monitor: { resourceId: monitorResourceId, metricsEndpoint },
    sync: { maxWaitMs: Math.round(syncMaxWaitSeconds * 1000) },
    deployments,
    spilloverWaitMs: Math.round(spilloverWaitSeconds * 1000),
    wakeLeadMs,
    breaker:
      breakerThreshold === 0
        ? null
        : {
            failureThreshold: breakerThreshold,
            windowMs: Math.round(breakerWindowSeconds * 1000),
            coolDownMs: Math.round(breakerCoolDownSeconds * 1000),
            // Each failed probe doubles the cool-down, up to ten times the first.
            maxCoolDownMs: Math.round(breakerCoolDownSeconds * 10_000),
          },
    // The first deployment's gate: the app's own (also the one the producer checks charges against).
    gate: deployments[0]!.gate,
  };
}

/**
 * One gate configuration per deployment: the list's mode, quota and PTU threshold over the shared
 * GATE_* settings (window, horizon, tolerance, reserve, ...), or the app's one deployment.
 */
function deploymentsFrom(
  entries: readonly DeploymentEntry[],
  deployment: string,
  base: GateConfigInput,
  rpmPer1000Tpm: number,
): DeploymentSettings[] {
  if (entries.length === 0) return [{ name: deployment, gate: gateConfigFrom(base) }];
  return entries.map((entry) => ({
    name: entry.name,
    gate: gateConfigFrom({
      ...base,
      mode: entry.mode,
      tokensPerMinute: entry.tokensPerMinute,
      requestsPerMinute: entry.requestsPerMinute ?? Math.max(1, Math.floor((entry.tokensPerMinute / 1000) * rpmPer1000Tpm)),
      ptuMaxUtilization: entry.ptuMaxUtilization ?? base.ptuMaxUtilization,
    }),
  }));
}
