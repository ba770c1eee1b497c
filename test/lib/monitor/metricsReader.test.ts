/**
 * The Azure reader with the real MetricsClient (pipeline, auth policy, serializer, deserializer) against
 * a local HTTPS server answering in the metrics:getBatch shape. Only the token is fake; time is injected.
 */
import { CredentialUnavailableError, TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MetricsUtilizationReader, createMetricsClient } from '../../../src/lib/monitor/index.js';
import {
  MetricsServer,
  RESOURCE_ID,
  STATIC_TOKEN,
  SUBSCRIPTION,
  errorResponse,
  staticCredential,
  startMetricsServer,
  utilizationResponse,
} from './support/metricsServer.js';

const NOW = Date.parse('2026-11-23T12:00:30Z');
const minute = (m: number) => Date.parse(`2026-11-23T11:${String(m).padStart(2, '0')}:00Z`);
const window = { start: NOW - 15 * 60_000, end: NOW };
let server: MetricsServer;

function reader(options: { credential?: TokenCredential; endpoint?: string; timeoutMs?: number } = {}) {
  const client = createMetricsClient({
    endpoint: options.endpoint ?? server.endpoint,
    credential: options.credential ?? staticCredential,
    clientOptions: { tlsOptions: { ca: server.ca } },
  });
  return new MetricsUtilizationReader(client, { resourceId: RESOURCE_ID, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
}

beforeAll(async () => {
  server = await startMetricsServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.received.length = 0;
});

describe('MetricsUtilizationReader', () => {
  it('sends one getBatch query for the account, filtered by deployment, and reads the newest value as a fraction', async () => {
    server.reply = {
      status: 200,
      body: utilizationResponse([{ deployment: 'gpt-4o', points: [{ at: minute(56), maximum: 40 }, { at: minute(57), maximum: 63.2 }, { at: minute(58) }, { at: minute(59) }] }], window),
    };
    expect(await reader().read(['gpt-4o'], NOW)).toEqual([{ deployment: 'gpt-4o', reading: { kind: 'observed', utilization: 0.632, measuredAt: minute(57) } }]);

    expect(server.received).toHaveLength(1);
    const request = server.received[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/subscriptions/${SUBSCRIPTION}/metrics:getBatch`);
    expect(request.authorization).toBe(`Bearer ${STATIC_TOKEN}`);
    expect(request.body).toEqual({ resourceids: [RESOURCE_ID] });
    expect(Object.fromEntries(request.query)).toMatchObject({
      metricnamespace: 'Microsoft.CognitiveServices/accounts',
      metricnames: 'AzureOpenAIProvisionedManagedUtilizationV2',
      aggregation: 'maximum',
      interval: 'PT1M',
      filter: "ModelDeploymentName eq 'gpt-4o'",
      starttime: new Date(NOW - 15 * 60_000).toISOString(),
      endtime: new Date(NOW).toISOString(),
      'api-version': '2024-02-01',
    });
  });

  it('takes only the deployment\'s own series', async () => {
    server.reply = {
      status: 200,
      body: utilizationResponse(
        [
          { deployment: 'other-ptu', points: [{ at: minute(58), maximum: 99 }] },
          { deployment: 'gpt-4o', points: [{ at: minute(57), maximum: 20 }] },
        ],
        window,
      ),
    };
    expect(await reader().read(['gpt-4o', 'absent'], NOW)).toEqual([
      { deployment: 'gpt-4o', reading: { kind: 'observed', utilization: 0.2, measuredAt: minute(57) } },
      { deployment: 'absent', reading: expect.objectContaining({ kind: 'missing', reason: 'no_data' }) },
    ]);
    expect(server.received[0]!.query.get('filter')).toBe("ModelDeploymentName eq 'gpt-4o' or ModelDeploymentName eq 'absent'");
  });

  it('reports missing when the metric has no series, or only minutes without a value', async () => {
    server.reply = { status: 200, body: utilizationResponse([], window) };
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'missing', reason: 'no_data' });
    server.reply = { status: 200, body: utilizationResponse([{ deployment: 'gpt-4o', points: [{ at: minute(58) }, { at: minute(59) }] }], window) };
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'missing', reason: 'no_data' });
    server.reply = { status: 200, body: { values: [] } };
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'missing', reason: 'no_data' });
  });

  it('reports late when the newest value is older than five minutes', async () => {
    server.reply = { status: 200, body: utilizationResponse([{ deployment: 'gpt-4o', points: [{ at: minute(54), maximum: 80 }, { at: minute(55) }] }], window) };
    // 11:54:00 is 6.5 minutes before now.
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'missing', reason: 'late' });
    // The same point read at 11:58:30 is 4.5 minutes old: fresh enough.
    expect((await reader().read(['gpt-4o'], minute(58) + 30_000))[0]!.reading).toMatchObject({ kind: 'observed', utilization: 0.8 });
  });

  it('reports missing when the metric itself carries an error', async () => {
    server.reply = { status: 200, body: utilizationResponse([], window, { errorCode: 'MetricNotFound', errorMessage: 'no such metric for this resource' }) };
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toEqual({ kind: 'missing', reason: 'metric_error', detail: 'MetricNotFound: no such metric for this resource' });
  });

  it('degrades on 403, 429 and 500 by status, without retrying', async () => {
    const cases = [
      [403, 'AuthorizationFailed', 'forbidden'],
      [401, 'InvalidAuthenticationToken', 'forbidden'],
      [429, 'TooManyRequests', 'throttled'],
      [500, 'InternalServerError', 'unavailable'],
      [400, 'BadRequest', 'bad_response'],
    ] as const;
    for (const [status, code, reason] of cases) {
      server.received.length = 0;
      server.reply = { status, body: errorResponse(code, `${code} for the test`) };
      expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'failed', reason, status });
      expect(server.received).toHaveLength(1);
    }
  });

  it('degrades when the body is not the expected shape', async () => {
    server.reply = { status: 200, body: { values: [{ starttime: 'x', endtime: 'y', value: [{ id: 'm', name: { value: 'm' } }] }] } };
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'failed', reason: 'bad_response', status: null });
    server.reply = { status: 200, body: 'not json' };
    expect((await reader().read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'failed', reason: 'bad_response' });
  });

  it('degrades when the endpoint does not answer: refused or too slow', async () => {
    expect((await reader({ endpoint: 'https://127.0.0.1:1' }).read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'failed', reason: 'unavailable', status: null });
    server.reply = { status: 200, hang: true };
    const started = Date.now();
    expect((await reader({ timeoutMs: 300 }).read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'failed', reason: 'unavailable', status: null });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('degrades when there is no token', async () => {
    const noIdentity: TokenCredential = {
      getToken: async () => {
        throw new CredentialUnavailableError('no managed identity endpoint');
      },
    };
    expect((await reader({ credential: noIdentity }).read(['gpt-4o'], NOW))[0]!.reading).toMatchObject({ kind: 'failed', reason: 'credential' });
    expect(server.received).toHaveLength(0);
  });
});
