/**
 * The app's metrics, on the OpenTelemetry API: without a registered SDK every call is a no-op, so the
 * domain can record freely and the host decides where it goes (Azure Monitor in Azure, a file on the
 * local runtime, an in-memory reader in tests). Attribute sets are small and closed so that metric
 * cardinality stays bounded: deployment, priority, outcome, source, queue; never ids or prompt text.
 */
import { metrics } from '@opentelemetry/api';

export const METER_NAME = 'tokengate';

export const METRIC_NAMES = {
  tokensCharged: 'tokengate.tokens.charged',
  tokensUsed: 'tokengate.tokens.used',
  gateWait: 'tokengate.gate.wait',
  gateDecisions: 'tokengate.gate.decisions',
  modelCalls: 'tokengate.model.calls',
  ptuUtilization: 'tokengate.ptu.utilization',
  jobsFinished: 'tokengate.jobs.finished',
  queueLag: 'tokengate.queue.lag',
} as const;

export type Priority = 'batch' | 'interactive';
export type GateDecisionKind = 'granted' | 'retry' | 'rejected';
/** What a model call came back with: 200, throttled (429), a server error, or no answer at all. */
export type CallResult = 'ok' | 'throttled' | 'server_error' | 'client_error' | 'timeout' | 'connection';
export type UtilizationOrigin = 'header' | 'monitor';
export type JobOutcome = 'completed' | 'failed';

const meter = () => metrics.getMeter(METER_NAME);

// Instruments are created per call: the API hands back the same instrument for the same name, and a
// provider registered after this module loaded (as the Functions worker does) is still used.
export const telemetry = {
  tokensCharged(deployment: string, priority: Priority, tokens: number): void {
    meter().createCounter(METRIC_NAMES.tokensCharged, { unit: '{token}', description: 'Tokens the gate charged at admission (the estimate Azure counts).' }).add(tokens, { deployment, priority });
  },
  tokensUsed(deployment: string, tokens: number): void {
    meter().createCounter(METRIC_NAMES.tokensUsed, { unit: '{token}', description: 'Tokens the model reported it used.' }).add(tokens, { deployment });
  },
  gateWait(deployment: string, priority: Priority, waitMs: number): void {
    meter().createHistogram(METRIC_NAMES.gateWait, { unit: 'ms', description: 'Time from asking the gate to the granted slot.' }).record(waitMs, { deployment, priority });
  },
  gateDecision(deployment: string, priority: Priority, kind: GateDecisionKind): void {
    meter().createCounter(METRIC_NAMES.gateDecisions, { description: 'Gate answers: granted, retry later, rejected.' }).add(1, { deployment, priority, decision: kind });
  },
  modelCall(deployment: string, priority: Priority, result: CallResult): void {
    meter().createCounter(METRIC_NAMES.modelCalls, { description: 'Model calls by result; throttled counts the 429s.' }).add(1, { deployment, priority, result });
  },
  ptuUtilization(deployment: string, origin: UtilizationOrigin, utilization: number): void {
    meter().createHistogram(METRIC_NAMES.ptuUtilization, { unit: '1', description: 'PTU utilization (0-1) as the header or Azure Monitor reported it.' }).record(utilization, { deployment, source: origin });
  },
  jobFinished(deployment: string, priority: Priority, outcome: JobOutcome): void {
    meter().createCounter(METRIC_NAMES.jobsFinished, { description: 'Jobs that reached a final state.' }).add(1, { deployment, priority, outcome });
  },
  /** Lag from the enqueued time a trigger's metadata carries (ISO text); anything unreadable is skipped. */
  queueLagSince(queue: string, enqueuedTimeUtc: unknown, now: number): void {
    const at = Date.parse(String(enqueuedTimeUtc ?? ''));
    if (Number.isFinite(at)) telemetry.queueLag(queue, now - at);
  },
  queueLag(queue: string, lagMs: number): void {
    meter().createHistogram(METRIC_NAMES.queueLag, { unit: 'ms', description: 'Time a message waited in its queue or hub before a trigger picked it up.' }).record(Math.max(0, lagMs), { queue });
  },
};
