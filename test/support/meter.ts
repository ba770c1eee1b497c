/** An in-memory meter provider installed as the global one for a test file, and what it collected. */
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll } from 'vitest';
import { MetricPoint, flatten } from '../../src/local/telemetry.js';

export function useInMemoryMeter(): () => Promise<MetricPoint[]> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  beforeAll(() => {
    metrics.disable();
    metrics.setGlobalMeterProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    metrics.disable();
  });
  return async () => {
    await reader.forceFlush();
    const all = exporter.getMetrics();
    return all.length === 0 ? [] : flatten(all[all.length - 1]!);
  };
}
