/**
 * Where the app's metrics go on the local runtime: an OpenTelemetry meter provider whose reader
 * writes a snapshot of every metric, each interval, as one JSON line to `telemetry/metrics.jsonl` in
 * the data folder (what Azure Monitor gets in Azure), and keeps the latest snapshot for /local/status.
 * The global provider can be set once per process; a later runtime in the same process (tests) takes
 * over the same provider's output.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';

export interface MetricPoint {
  readonly name: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Counters: the running total. Histograms: count, sum, min, max. */
  readonly value: number | { readonly count: number; readonly sum: number; readonly min?: number; readonly max?: number };
}

export function flatten(resourceMetrics: ResourceMetrics): MetricPoint[] {
  return resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.flatMap((metric): MetricPoint[] =>
      metric.dataPointType === DataPointType.HISTOGRAM
        ? metric.dataPoints.map((p) => ({ name: metric.descriptor.name, attributes: p.attributes, value: { count: p.value.count, sum: p.value.sum ?? 0, min: p.value.min, max: p.value.max } }))
        : metric.dataPointType === DataPointType.SUM || metric.dataPointType === DataPointType.GAUGE
          ? metric.dataPoints.map((p) => ({ name: metric.descriptor.name, attributes: p.attributes, value: p.value }))
          : [],
    ),
  );
}

class FileExporter implements PushMetricExporter {
  path: string | null = null;
  latest: MetricPoint[] = [];

  export(resourceMetrics: ResourceMetrics, done: (result: { code: number }) => void): void {
    this.latest = flatten(resourceMetrics);
    try {
      if (this.path && this.latest.length > 0) appendFileSync(this.path, `${JSON.stringify({ at: new Date().toISOString(), metrics: this.latest })}\n`);
      done({ code: 0 });
    } catch {
      // Metrics are diagnostics: a data folder that went away must not take the runtime down.
      done({ code: 1 });
    }
  }

  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

class SnapshotReader extends MetricReader {
  constructor(private readonly exporter: FileExporter) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }

  async flush(): Promise<void> {
    const { resourceMetrics } = await this.collect();
    await new Promise<void>((resolve) => this.exporter.export(resourceMetrics, () => resolve()));
  }

  protected async onForceFlush(): Promise<void> {
    await this.flush();
  }

  protected async onShutdown(): Promise<void> {}
}

let shared: { exporter: FileExporter; reader: SnapshotReader } | null = null;

export interface LocalTelemetry {
  /** The latest snapshot (collected now). */
  snapshot(): Promise<MetricPoint[]>;
  /** Writes a last snapshot, then nothing more goes to this data folder. */
  stop(): Promise<void>;
}

export function startLocalTelemetry(dataDir: string, intervalMs = 10_000): LocalTelemetry {
  if (!shared) {
    const exporter = new FileExporter();
    const reader = new SnapshotReader(exporter);
    // Replaces whatever an earlier module instance registered (vitest re-imports modules per file).
    metrics.disable();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    shared = { exporter, reader };
  }
  const { exporter, reader } = shared;
  mkdirSync(join(dataDir, 'telemetry'), { recursive: true });
  const path = join(dataDir, 'telemetry', 'metrics.jsonl');
  exporter.path = path;
  const timer = setInterval(() => void reader.flush(), intervalMs);
  timer.unref();
  return {
    async snapshot() {
      await reader.flush();
      return exporter.latest;
    },
    async stop() {
      clearInterval(timer);
      await reader.flush();
      if (exporter.path === path) exporter.path = null;
    },
  };
}
