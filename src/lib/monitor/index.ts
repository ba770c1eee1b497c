/**
 * What the PTU monitor watches and how it reads it, decided once from the settings, or installed by a
 * test with `useMonitorSetup`. Off (with the reason, for one log line) unless the gate is provisioned
 * and an account to query is configured; the local runtime has no metrics endpoint, so it is off there.
 */
import { AppSettings } from '../config.js';
import { appSettings } from '../settings.js';
import { MetricsClientSetup, MetricsReaderOptions, MetricsUtilizationReader, createMetricsClient } from './metricsReader.js';
import { UtilizationReader } from './reading.js';

export * from './reading.js';
export { MetricsUtilizationReader, createMetricsClient, failureOf } from './metricsReader.js';

export type MonitorSetup =
  | { readonly enabled: true; readonly deployments: readonly string[]; readonly reader: UtilizationReader }
  | { readonly enabled: false; readonly reason: string };

/** Provisioned deployments whose gate the monitor feeds. Only one is configured today. */
export function provisionedDeployments(settings: AppSettings): readonly string[] {
  return settings.gate.mode === 'provisioned' ? [settings.deployment] : [];
}

export function monitorSetupFor(
  settings: AppSettings,
  overrides: Pick<MetricsClientSetup, 'credential' | 'clientOptions'> & Omit<MetricsReaderOptions, 'resourceId'> = {},
): MonitorSetup {
  const deployments = provisionedDeployments(settings);
  if (deployments.length === 0) return { enabled: false, reason: `gate mode is ${settings.gate.mode}: there is no PTU utilization to watch` };
  const { resourceId, metricsEndpoint } = settings.monitor;
  if (resourceId === null || metricsEndpoint === null) {
    return { enabled: false, reason: 'AZURE_OPENAI_RESOURCE_ID is not set: utilization comes from response headers only' };
  }
  const { credential, clientOptions, ...readerOptions } = overrides;
  const client = createMetricsClient({
    endpoint: metricsEndpoint,
    managedIdentityClientId: settings.managedIdentityClientId,
    ...(credential ? { credential } : {}),
    ...(clientOptions ? { clientOptions } : {}),
  });
  return { enabled: true, deployments, reader: new MetricsUtilizationReader(client, { resourceId, ...readerOptions }) };
}

let current: MonitorSetup | undefined;

export function useMonitorSetup(setup: MonitorSetup): void {
  current = setup;
}

export function monitorSetup(): MonitorSetup {
  current ??= monitorSetupFor(appSettings());
  return current;
}
