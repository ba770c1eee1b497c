/**
 * The ptuMonitor timer handler, invoked as the host would (InvocationContext with a durableClient
 * input): a real DurableClient (df.getClient) signals the gate over the extension's HTTP API, served
 * here by a small capture server, and the real MetricsClient reads a local metrics server. Time is a
 * fake clock; nothing sleeps.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { InvocationContext, LogLevel, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ptuMonitor } from '../../src/functions/ptuMonitor.js';
import { loadSettings } from '../../src/lib/config.js';
import { GATE_OPERATIONS, GateEntityState, runGateOperation } from '../../src/lib/gate/operations.js';
import { GateStatus } from '../../src/lib/gate/types.js';
import { monitorSetupFor, useMonitorSetup } from '../../src/lib/monitor/index.js';
import {
  MetricsServer,
  RESOURCE_ID,
  errorResponse,
  staticCredential,
  startMetricsServer,
  utilizationResponse,
} from '../lib/monitor/support/metricsServer.js';

interface Signal {
  readonly entity: string;
  readonly key: string;
  readonly op: string | null;
  readonly input: unknown;
}

/** The durable extension's `entities/{name}/{key}?op=` endpoint, recording each signal. */
async function startSignalCapture() {
  const signals: Signal[] = [];
  const state = { status: 202 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const [kind, entity, key] = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (req.method === 'POST' && kind === 'entities' && entity && key && state.status === 202) {
        signals.push({ entity, key, op: url.searchParams.get('op'), input: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      }
      res.writeHead(state.status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    signals,
    state,
    clientData: { taskHubName: 'tokengate', creationUrls: {}, managementUrls: {}, baseUrl: base, requiredQueryStringParameters: '', rpcBaseUrl: base },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const NOW = Date.parse('2026-11-23T12:00:30Z');
const at = (hhmm: string) => Date.parse(`2026-11-23T${hhmm}:00Z`);
const window = { start: NOW - 15 * 60_000, end: NOW };
const timer: Timer = { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
const durableClient = df.input.durableClient();
const provisioned = loadSettings({
  GATE_MODE: 'provisioned',
  AZURE_OPENAI_DEPLOYMENT: 'gpt-4o',
  AZURE_OPENAI_RESOURCE_ID: RESOURCE_ID,
  // Replaced per test by the local server's address; the shape is what the setting must look like.
  AZURE_MONITOR_METRICS_ENDPOINT: 'https://swedencentral.metrics.monitor.azure.com',
});

let metrics: MetricsServer;
let capture: Awaited<ReturnType<typeof startSignalCapture>>;
let logs: { level: LogLevel; text: string }[];

function invocation(): InvocationContext {
  const context = new InvocationContext({
    invocationId: 'timer',
    functionName: 'ptuMonitor',
    options: { extraInputs: [durableClient] },
    logHandler: (level, ...args) => logs.push({ level, text: args.map(String).join(' ') }),
  });
  context.extraInputs.set(durableClient, capture.clientData);
  return context;
}

const run = () => ptuMonitor(timer, invocation());
const logged = (level: LogLevel) => logs.filter((l) => l.level === level).map((l) => l.text);

function useLocalMetrics() {
  const settings = { ...provisioned, monitor: { ...provisioned.monitor, metricsEndpoint: metrics.endpoint } };
  useMonitorSetup(monitorSetupFor(settings, { credential: staticCredential, clientOptions: { tlsOptions: { ca: metrics.ca } } }));
}

beforeAll(async () => {
  metrics = await startMetricsServer();
  capture = await startSignalCapture();
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterAll(async () => {
  vi.useRealTimers();
  await metrics.close();
  await capture.close();
});
beforeEach(() => {
  logs = [];
  capture.signals.length = 0;
  capture.state.status = 202;
  metrics.received.length = 0;
});

describe('ptuMonitor', () => {
  it('does nothing for a standard gate, and says so once', async () => {
    useMonitorSetup(monitorSetupFor(loadSettings({ AZURE_OPENAI_RESOURCE_ID: RESOURCE_ID, AZURE_MONITOR_METRICS_ENDPOINT: metrics.endpoint })));
    expect(await run()).toEqual([]);
    expect(await run()).toEqual([]);
    expect(logged('information')).toEqual(['ptuMonitor: off: gate mode is standard: there is no PTU utilization to watch']);
    expect(metrics.received).toHaveLength(0);
    expect(capture.signals).toHaveLength(0);
  });

  it('does nothing without an account to query (the local runtime), and says so once', async () => {
    useMonitorSetup(monitorSetupFor(loadSettings({ GATE_MODE: 'provisioned' })));
    expect(await run()).toEqual([]);
    expect(await run()).toEqual([]);
    expect(logged('information')).toHaveLength(1);
    expect(logged('information')[0]).toContain('AZURE_OPENAI_RESOURCE_ID is not set');
    expect(capture.signals).toHaveLength(0);
  });

  it('signals the deployment\'s gate with the monitor\'s value, which the gate accepts', async () => {
    useLocalMetrics();
    metrics.reply = {
      status: 200,
      body: utilizationResponse(
        [
          { deployment: 'other-ptu', points: [{ at: at('12:00'), maximum: 100 }] },
          { deployment: 'gpt-4o', points: [{ at: at('11:59'), maximum: 50 }, { at: at('12:00'), maximum: 90 }] },
        ],
        window,
      ),
    };
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'reported' }]);
    expect(metrics.received).toHaveLength(1);
    expect(capture.signals).toEqual([
      { entity: 'tokenGate', key: 'gpt-4o', op: GATE_OPERATIONS.reportUtilization, input: { utilization: 0.9, measuredAt: at('12:00'), source: 'monitor' } },
    ]);

    // The gate takes the signal as sent: 90% at 12:00:00, drained for the 30 s since, is about 40% now.
    const applied = runGateOperation(undefined, () => provisioned.gate, capture.signals[0]!.op!, capture.signals[0]!.input, NOW);
    expect(applied.result).toEqual({ ok: true, value: null });
    const status = runGateOperation(applied.state as GateEntityState, () => provisioned.gate, GATE_OPERATIONS.status, null, NOW);
    expect(status.result.ok && (status.result.value as GateStatus).utilization).toBeCloseTo(0.4, 1);
  });

  it('reports nothing while the metric is missing or late, warning once per change of condition', async () => {
    useLocalMetrics();
    // Empty: no datapoint at all.
    metrics.reply = { status: 200, body: utilizationResponse([], window) };
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'missing' }]);
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'missing' }]);
    // Late: a value, but from 11:50.
    metrics.reply = { status: 200, body: utilizationResponse([{ deployment: 'gpt-4o', points: [{ at: at('11:50'), maximum: 70 }] }], window) };
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'missing' }]);
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'missing' }]);
    expect(capture.signals).toHaveLength(0);
    const warnings = logged('warning');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('no utilization (no_data)');
    expect(warnings[1]).toContain('no utilization (late)');

    // Back: reported again, and the recovery is logged once.
    metrics.reply = { status: 200, body: utilizationResponse([{ deployment: 'gpt-4o', points: [{ at: at('11:58'), maximum: 70 }] }], window) };
    logs = [];
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'reported' }]);
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'reported' }]);
    expect(logged('information')).toEqual(['ptuMonitor gpt-4o: reporting utilization again (was missing:late)']);
    expect(capture.signals.map((s) => s.input)).toEqual([
      { utilization: 0.7, measuredAt: at('11:58'), source: 'monitor' },
      { utilization: 0.7, measuredAt: at('11:58'), source: 'monitor' },
    ]);
  });

  it('degrades on 403 and 500 from the metrics API: nothing reported, logged once each, never thrown', async () => {
    useLocalMetrics();
    metrics.reply = { status: 403, body: errorResponse('AuthorizationFailed', "The client does not have authorization to perform action 'Microsoft.Insights/metrics/read'") };
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'failed' }]);
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'failed' }]);
    metrics.reply = { status: 500, body: errorResponse('InternalServerError', 'try later') };
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'failed' }]);
    expect(capture.signals).toHaveLength(0);
    const warnings = logged('warning');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('query failed (forbidden 403)');
    expect(warnings[1]).toContain('query failed (unavailable 500)');
    expect(logs.map((l) => l.text).join('\n')).not.toContain('static-test-token');
  });

  it('logs an error and carries on when the gate cannot be signalled', async () => {
    useLocalMetrics();
    metrics.reply = { status: 200, body: utilizationResponse([{ deployment: 'gpt-4o', points: [{ at: at('11:59'), maximum: 30 }] }], window) };
    capture.state.status = 500;
    expect(await run()).toEqual([{ deployment: 'gpt-4o', outcome: 'signal_failed' }]);
    expect(logged('error')).toHaveLength(1);
    expect(logged('error')[0]).toContain('signalling the gate failed');
  });
});
