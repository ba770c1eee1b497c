/** The pure half of the monitor: response → reading, and the monitor's settings. */
import { describe, expect, it } from 'vitest';
import { SettingsError, loadSettings } from '../../../src/lib/config.js';
import { ConditionLog, MetricsResult, deploymentFilter, monitorSetupFor, readingsFrom } from '../../../src/lib/monitor/index.js';

const NOW = Date.parse('2026-11-23T12:00:30Z');
const at = (hhmm: string) => new Date(`2026-11-23T${hhmm}:00Z`);
const ID = '/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Insights/metrics/AzureOpenAIProvisionedManagedUtilizationV2';

function result(timeseries: MetricsResult['metrics'][number]['timeseries'], name = 'Provisioned-managed Utilization V2'): MetricsResult[] {
  return [{ metrics: [{ id: ID, name, unit: 'Percent', errorCode: 'Success', timeseries }] }];
}
const dim = (deployment: string) => [{ name: 'modeldeploymentname', value: deployment }];

describe('readingsFrom', () => {
  it('takes the newest point with a value, never an unsplit aggregate, in percent → fraction', () => {
    const readings = readingsFrom(
      result([
        { data: [{ timeStamp: at('12:00'), maximum: 100 }] },
        { metadatavalues: dim('GPT-4o'), data: [{ timeStamp: at('11:58'), maximum: 12.5 }, { timeStamp: at('11:57'), maximum: 50 }, { timeStamp: at('11:59') }] },
      ]),
      ['gpt-4o'],
      { now: NOW },
    );
    expect(readings).toEqual([{ deployment: 'gpt-4o', reading: { kind: 'observed', utilization: 0.125, measuredAt: at('11:58').getTime() } }]);
  });

  it('honours the allowed age', () => {
    const series = result([{ metadatavalues: dim('d'), data: [{ timeStamp: at('11:59'), maximum: 10 }] }]);
    expect(readingsFrom(series, ['d'], { now: NOW, maxAgeMs: 60_000 })[0]!.reading).toMatchObject({ kind: 'missing', reason: 'late' });
    expect(readingsFrom(series, ['d'], { now: NOW, maxAgeMs: 90_000 })[0]!.reading).toMatchObject({ kind: 'observed' });
  });

  it('ignores another metric in the response', () => {
    const results: MetricsResult[] = [
      { metrics: [{ id: '/x/providers/Microsoft.Insights/metrics/AzureOpenAIRequests', name: 'Azure OpenAI Requests', timeseries: [{ metadatavalues: dim('d'), data: [{ timeStamp: at('12:00'), maximum: 5 }] }] }] },
      { metrics: [{ id: ID, name: 'x', timeseries: [] }] },
    ];
    expect(readingsFrom(results, ['d'], { now: NOW })[0]!.reading).toMatchObject({ kind: 'missing', reason: 'no_data' });
  });
});

describe('deploymentFilter', () => {
  it('selects each deployment by its dimension, quoting as OData does', () => {
    expect(deploymentFilter(['a', "b'c"])).toBe("ModelDeploymentName eq 'a' or ModelDeploymentName eq 'b''c'");
  });
});

describe('ConditionLog', () => {
  it('reports a change of condition once, not each repetition', () => {
    const log = new ConditionLog();
    const missing = { kind: 'missing', reason: 'late', detail: 'x' } as const;
    expect(log.change('d', missing)).toEqual({ previous: undefined });
    expect(log.change('d', { ...missing, detail: 'y' })).toBeNull();
    expect(log.change('d', { kind: 'observed', utilization: 0.1, measuredAt: 0 })).toEqual({ previous: 'missing:late' });
    expect(log.change('e', missing)).toEqual({ previous: undefined });
  });
});

describe('monitor settings', () => {
  const id = '/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a';

  it('are off by default', () => {
    expect(loadSettings({}).monitor).toEqual({ resourceId: null, metricsEndpoint: null });
    expect(monitorSetupFor(loadSettings({ GATE_MODE: 'provisioned' }))).toMatchObject({ enabled: false });
  });

  it('turn the monitor on for a provisioned gate with an account and an endpoint', () => {
    const settings = loadSettings({ GATE_MODE: 'provisioned', AZURE_OPENAI_RESOURCE_ID: id, AZURE_MONITOR_METRICS_ENDPOINT: 'https://swedencentral.metrics.monitor.azure.com' });
    expect(settings.monitor).toEqual({ resourceId: id, metricsEndpoint: 'https://swedencentral.metrics.monitor.azure.com' });
    expect(monitorSetupFor(settings)).toMatchObject({ enabled: true, deployments: ['gpt-4o'] });
  });

  it('stop the app on a malformed account id, an http endpoint, or an account without an endpoint', () => {
    expect(() => loadSettings({ AZURE_OPENAI_RESOURCE_ID: 'aoai-tokengate', AZURE_MONITOR_METRICS_ENDPOINT: 'https://x.metrics.monitor.azure.com' })).toThrow(/AZURE_OPENAI_RESOURCE_ID/);
    expect(() => loadSettings({ AZURE_OPENAI_RESOURCE_ID: id, AZURE_MONITOR_METRICS_ENDPOINT: 'http://x.metrics.monitor.azure.com' })).toThrow(/AZURE_MONITOR_METRICS_ENDPOINT must be an https URL/);
    expect(() => loadSettings({ AZURE_OPENAI_RESOURCE_ID: id })).toThrow(SettingsError);
  });
});
