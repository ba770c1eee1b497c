/**
 * A local stand-in for the regional Azure Monitor metrics endpoint: HTTPS on 127.0.0.1 with a
 * throwaway self-signed certificate (the SDK's bearer-token policy refuses plain http), answering
 * `metrics:getBatch` with whatever the test scripts, in the shape the real service returns.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/identity';

export const SUBSCRIPTION = '00000000-1111-2222-3333-444444444444';
export const RESOURCE_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-tokengate/providers/Microsoft.CognitiveServices/accounts/aoai-tokengate`;
export const STATIC_TOKEN = 'static-test-token';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  /** Never answer (for timeouts). */
  readonly hang?: boolean;
}

export interface MetricsServer {
  readonly endpoint: string;
  /** The certificate to trust (`tlsOptions: { ca }`). */
  readonly ca: string;
  readonly received: ReceivedRequest[];
  reply: Reply | ((request: ReceivedRequest) => Reply);
  close(): Promise<void>;
}

function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startMetricsServer(): Promise<MetricsServer> {
  const { key, cert } = selfSignedCertificate();
  const received: ReceivedRequest[] = [];
  const state: { reply: MetricsServer['reply'] } = { reply: { status: 200, body: { values: [] } } };
  const server = https.createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      const request: ReceivedRequest = {
        method: req.method ?? '',
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        authorization: req.headers.authorization,
        body: text === '' ? undefined : JSON.parse(text),
      };
      received.push(request);
      const reply = typeof state.reply === 'function' ? state.reply(request) : state.reply;
      if (reply.hang) return;
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: cert,
    received,
    get reply() {
      return state.reply;
    },
    set reply(value) {
      state.reply = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The client is real; only the token is static. */
export const staticCredential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: STATIC_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export interface SeriesSpec {
  readonly deployment: string;
  /** Epoch ms of each 1-minute grain's start; `maximum` absent: a minute without a value. */
  readonly points: readonly { readonly at: number; readonly maximum?: number }[];
}

/** Azure writes seven fractional digits: "2026-11-23T11:57:00.0000000Z". */
const azureTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.0000000Z');

/** A `metrics:getBatch` 200 body for the utilization metric, split by deployment. */
export function utilizationResponse(
  series: readonly SeriesSpec[],
  window: { start: number; end: number },
  metric: { errorCode?: string; errorMessage?: string } = {},
): unknown {
  return {
    values: [
      {
        starttime: azureTime(window.start).replace('.0000000', ''),
        endtime: azureTime(window.end).replace('.0000000', ''),
        interval: 'PT1M',
        namespace: 'Microsoft.CognitiveServices/accounts',
        resourceregion: 'swedencentral',
        resourceid: RESOURCE_ID,
        value: [
          {
            id: `${RESOURCE_ID}/providers/Microsoft.Insights/metrics/AzureOpenAIProvisionedManagedUtilizationV2`,
            type: 'Microsoft.Insights/metrics',
            name: { value: 'AzureOpenAIProvisionedManagedUtilizationV2', localizedValue: 'Provisioned-managed Utilization V2' },
            displayDescription: 'Utilization % for a provisoned-managed deployment, calculated as (PTUs consumed/PTUs deployed)*100.',
            unit: 'Percent',
            errorCode: metric.errorCode ?? 'Success',
            ...(metric.errorMessage ? { errorMessage: metric.errorMessage } : {}),
            timeseries: series.map((s) => ({
              metadatavalues: [{ name: { value: 'modeldeploymentname', localizedValue: 'modeldeploymentname' }, value: s.deployment }],
              data: s.points.map((p) => ({ timeStamp: azureTime(p.at), ...(p.maximum !== undefined ? { maximum: p.maximum } : {}) })),
            })),
          },
        ],
      },
    ],
  };
}

export const errorResponse = (code: string, message: string) => ({ error: { code, message } });
