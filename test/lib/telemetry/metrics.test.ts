/**
 * The app's metrics reach whatever meter provider the host registers (here an in-memory reader, as the
 * local runtime's file reader and Azure Monitor's exporter do), with bounded attributes; the Azure
 * workbook charts every metric the code records; log lines carry correlation ids.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { correlated } from '../../../src/lib/telemetry/correlation.js';
import { METRIC_NAMES, telemetry } from '../../../src/lib/telemetry/metrics.js';
import { useInMemoryMeter } from '../../support/meter.js';

const collected = useInMemoryMeter();

describe('app metrics', () => {
  it('records counters and histograms with their attributes', async () => {
    telemetry.tokensCharged('gpt-4o', 'batch', 500);
    telemetry.tokensCharged('gpt-4o', 'batch', 250);
    telemetry.tokensCharged('gpt-4o', 'interactive', 40);
    telemetry.gateWait('gpt-4o', 'batch', 1200);
    telemetry.gateWait('gpt-4o', 'batch', 300);
    telemetry.modelCall('gpt-4o', 'batch', 'throttled');
    telemetry.jobFinished('gpt-4o', 'batch', 'completed');
    telemetry.queueLag('jobs', -5);
    const points = await collected();
    const find = (name: string, attributes: Record<string, unknown>) => points.find((p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
    expect(find(METRIC_NAMES.tokensCharged, { deployment: 'gpt-4o', priority: 'batch' })?.value).toBe(750);
    expect(find(METRIC_NAMES.tokensCharged, { priority: 'interactive' })?.value).toBe(40);
    expect(find(METRIC_NAMES.gateWait, { priority: 'batch' })?.value).toMatchObject({ count: 2, sum: 1500, min: 300, max: 1200 });
    expect(find(METRIC_NAMES.modelCalls, { result: 'throttled' })?.value).toBe(1);
    expect(find(METRIC_NAMES.jobsFinished, { outcome: 'completed' })?.value).toBe(1);
    // A clock step backwards never records a negative lag.
    expect(find(METRIC_NAMES.queueLag, { queue: 'jobs' })?.value).toMatchObject({ count: 1, min: 0 });
    for (const point of points) for (const key of Object.keys(point.attributes)) expect(['deployment', 'priority', 'decision', 'result', 'source', 'outcome', 'queue']).toContain(key);
  });
});

describe('the Azure Monitor workbook', () => {
  it('charts every metric the app records', () => {
    const workbook = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'infra', 'app', 'workbook.json'), 'utf8')) as { items: { content: { query?: string } }[] };
    const queries = workbook.items.map((i) => i.content.query ?? '').join('\n');
    for (const name of Object.values(METRIC_NAMES)) expect(queries, name).toContain(`'${name}'`);
  });
});

describe('correlated log lines', () => {
  it('carry the request and batch ids as searchable pairs', () => {
    expect(correlated('saveResult: job completed', { requestId: 'req_1', batchId: 'batch_2' })).toBe('saveResult: job completed request_id=req_1 batch_id=batch_2');
    expect(correlated('plain', {})).toBe('plain');
  });
});
