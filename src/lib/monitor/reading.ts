/**
 * PTU utilization as Azure Monitor reports it, turned into what the gate accepts. Pure: the metrics
 * response comes in as plain data, so every decision (which series, which point, too old) is testable
 * without a client.
 */
import { UtilizationReport } from '../gate/types.js';

export const UTILIZATION_METRIC = 'AzureOpenAIProvisionedManagedUtilizationV2';
export const COGNITIVE_SERVICES_NAMESPACE = 'Microsoft.CognitiveServices/accounts';
export const DEPLOYMENT_DIMENSION = 'ModelDeploymentName';
/**
 * Maximum, not average: the bucket drains at most at its PTU rate, so the level at the end of a minute
 * is at least that minute's peak drained from the minute's start. Reported with the grain's start as
 * `measuredAt`, it is a lower bound on the real level, which is what a raise-only signal needs.
 */
export const UTILIZATION_AGGREGATION = 'maximum';
export const METRIC_GRAIN = 'PT1M';
/** Newest point older than this counts as missing: Monitor values usually land within 1–3 minutes. */
export const DEFAULT_MAX_AGE_MS = 5 * 60_000;
/** How far back each query looks, so a point a few minutes late is still found (and seen as late). */
export const DEFAULT_LOOKBACK_MS = 15 * 60_000;

/** Why no utilization could be reported for a deployment. */
export type MissingReason =
  /** The query worked but the deployment has no datapoint with a value in the lookback. */
  | 'no_data'
  /** The newest value is older than the allowed age. */
  | 'late'
  /** The metric came back with an error code of its own (e.g. unknown metric for this resource). */
  | 'metric_error';

export type FailureReason =
  /** 401/403: the identity lacks Monitoring Reader on the account, or the token was refused. */
  | 'forbidden'
  /** 429 from the metrics API. */
  | 'throttled'
  /** 408, 5xx, or no answer at all (connection refused, timeout). */
  | 'unavailable'
  /** No token: the credential could not sign in. */
  | 'credential'
  /** Any other status, or a body the client could not read. */
  | 'bad_response';

export type UtilizationReading =
  | { readonly kind: 'observed'; readonly utilization: number; readonly measuredAt: number }
  | { readonly kind: 'missing'; readonly reason: MissingReason; readonly detail: string }
  | { readonly kind: 'failed'; readonly reason: FailureReason; readonly status: number | null; readonly detail: string };

export interface DeploymentReading {
  readonly deployment: string;
  readonly reading: UtilizationReading;
}

/** Where utilization comes from. Never throws: every failure is a reading. */
export interface UtilizationReader {
  read(deployments: readonly string[], now: number): Promise<readonly DeploymentReading[]>;
}

/** The shape of one resource's result, as `@azure/monitor-query-metrics` returns it (structurally). */
export interface MetricsResult {
  readonly resourceId?: string;
  readonly metrics: readonly MetricData[];
}
export interface MetricData {
  readonly id: string;
  /** The SDK puts the localized name here when there is one, so match on `id` too. */
  readonly name: string;
  readonly unit?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly timeseries: readonly MetricSeries[];
}
export interface MetricSeries {
  readonly metadatavalues?: readonly { readonly name?: string; readonly value?: string }[];
  readonly data?: readonly { readonly timeStamp: Date; readonly maximum?: number; readonly average?: number }[];
}

export interface ReadingOptions {
  readonly now: number;
  readonly maxAgeMs?: number;
}

/** OData filter selecting the deployments' series (split by deployment, one series each). */
export function deploymentFilter(deployments: readonly string[]): string {
  return deployments.map((d) => `${DEPLOYMENT_DIMENSION} eq '${d.replace(/'/g, "''")}'`).join(' or ');
}

const sameName = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();

function utilizationMetric(results: readonly MetricsResult[]): MetricData | undefined {
  const metrics = results.flatMap((r) => r.metrics);
  const named = metrics.find((m) => sameName(m.name, UTILIZATION_METRIC) || m.id.toLowerCase().endsWith(`/${UTILIZATION_METRIC.toLowerCase()}`));
  // Only this metric is ever asked for, so a lone metric under a localized name and unusual id is it.
  return named ?? (metrics.length === 1 ? metrics[0] : undefined);
}

/** The series for one deployment; a series without the dimension is an aggregate and is never used. */
function seriesOf(metric: MetricData, deployment: string): MetricSeries[] {
  return metric.timeseries.filter((s) =>
    (s.metadatavalues ?? []).some((m) => sameName(m.name, DEPLOYMENT_DIMENSION) && sameName(m.value, deployment)),
  );
}

/** One reading per deployment, in the order asked. */
export function readingsFrom(results: readonly MetricsResult[], deployments: readonly string[], options: ReadingOptions): DeploymentReading[] {
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const metric = utilizationMetric(results);
  return deployments.map((deployment) => ({ deployment, reading: readingOf(metric, deployment, options.now, maxAgeMs) }));
}

function readingOf(metric: MetricData | undefined, deployment: string, now: number, maxAgeMs: number): UtilizationReading {
  if (!metric) return { kind: 'missing', reason: 'no_data', detail: `no ${UTILIZATION_METRIC} in the response` };
  if (metric.errorCode !== undefined && metric.errorCode !== 'Success') {
    return { kind: 'missing', reason: 'metric_error', detail: `${metric.errorCode}${metric.errorMessage ? `: ${metric.errorMessage}` : ''}` };
  }
  let newest: { at: number; value: number } | undefined;
  for (const series of seriesOf(metric, deployment)) {
    for (const point of series.data ?? []) {
      const value = point.maximum;
      const at = point.timeStamp.getTime();
      // Minutes without traffic come back as a timestamp with no value: skip them, never read them as 0.
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || !Number.isFinite(at)) continue;
      if (newest === undefined || at > newest.at) newest = { at, value };
    }
  }
  if (newest === undefined) return { kind: 'missing', reason: 'no_data', detail: `no value for deployment ${deployment}` };
  const ageMs = now - newest.at;
  if (ageMs > maxAgeMs) {
    return { kind: 'missing', reason: 'late', detail: `newest value is from ${new Date(newest.at).toISOString()}, ${Math.round(ageMs / 1000)} s old` };
  }
  // The metric is a percentage; the gate works in fractions.
  return { kind: 'observed', utilization: newest.value / 100, measuredAt: Math.min(newest.at, now) };
}

export function monitorReport(reading: Extract<UtilizationReading, { kind: 'observed' }>): UtilizationReport {
  return { utilization: reading.utilization, measuredAt: reading.measuredAt, source: 'monitor' };
}

/** A reading's condition, coarse enough that a steady problem keeps one key from minute to minute. */
export function conditionOf(reading: UtilizationReading): string {
  switch (reading.kind) {
    case 'observed':
      return 'observed';
    case 'missing':
      return `missing:${reading.reason}`;
    case 'failed':
      return `failed:${reading.reason}:${reading.status ?? '-'}`;
  }
}

/**
 * Remembers each deployment's last condition so a problem is logged when it starts and when it ends,
 * not every minute it lasts.
 */
export class ConditionLog {
  private readonly last = new Map<string, string>();

  /** The previous condition when this one differs from it (undefined before the first), or null when unchanged. */
  change(deployment: string, reading: UtilizationReading): { readonly previous: string | undefined } | null {
    const next = conditionOf(reading);
    const previous = this.last.get(deployment);
    if (previous === next) return null;
    this.last.set(deployment, next);
    return { previous };
  }
}
