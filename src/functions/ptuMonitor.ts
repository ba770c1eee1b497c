/**
 * Timer, every minute: reads each provisioned deployment's `AzureOpenAIProvisionedManagedUtilizationV2`
 * from Azure Monitor and signals it to that deployment's `tokenGate` (source `monitor`, which only ever
 * raises the gate's level). A missing, late or failed reading reports nothing: the gate then runs on its
 * own estimate and the response headers, as it does without the monitor. Problems are logged when they
 * start and end, not every minute.
 */
import { app, InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { GATE_OPERATIONS } from '../lib/gate/operations.js';
import { ConditionLog, monitorReport, monitorSetup } from '../lib/monitor/index.js';
import { ENTITY_NAMES } from './names.js';
import { telemetry } from '../lib/telemetry/metrics.js';

export interface PtuMonitorOutcome {
  readonly deployment: string;
  readonly outcome: 'reported' | 'missing' | 'failed' | 'signal_failed';
}

const conditions = new ConditionLog();
let announcedOff: string | undefined;

export async function ptuMonitor(_timer: Timer, context: InvocationContext): Promise<PtuMonitorOutcome[]> {
  const setup = monitorSetup();
  if (!setup.enabled) {
    if (announcedOff !== setup.reason) context.info(`ptuMonitor: off: ${setup.reason}`);
    announcedOff = setup.reason;
    return [];
  }
  announcedOff = undefined;
  const readings = await setup.reader.read(setup.deployments, Date.now());
  const outcomes: PtuMonitorOutcome[] = [];
  for (const { deployment, reading } of readings) {
    const change = conditions.change(deployment, reading);
    if (reading.kind !== 'observed') {
      const line = `ptuMonitor ${deployment}: ${reading.kind === 'missing' ? 'no utilization' : 'query failed'} (${reading.reason}${reading.kind === 'failed' && reading.status !== null ? ` ${reading.status}` : ''}): ${reading.detail}; nothing reported`;
      if (change) context.warn(line);
      else context.debug(line);
      outcomes.push({ deployment, outcome: reading.kind });
      continue;
    }
    const report = monitorReport(reading);
    telemetry.ptuUtilization(deployment, 'monitor', report.utilization);
    if (change) context.info(`ptuMonitor ${deployment}: reporting utilization${change.previous ? ` again (was ${change.previous})` : ''}`);
    context.debug(`ptuMonitor ${deployment}: utilization ${(report.utilization * 100).toFixed(1)}% at ${new Date(report.measuredAt).toISOString()}`);
    try {
      await df.getClient(context).signalEntity(new df.EntityId(ENTITY_NAMES.tokenGate, deployment), GATE_OPERATIONS.reportUtilization, report);
      outcomes.push({ deployment, outcome: 'reported' });
    } catch (error) {
      // One deployment's gate being unreachable must not keep the others from their reports.
      context.error(`ptuMonitor ${deployment}: signalling the gate failed: ${error instanceof Error ? error.message : String(error)}`);
      outcomes.push({ deployment, outcome: 'signal_failed' });
    }
  }
  return outcomes;
}

app.timer('ptuMonitor', {
  schedule: '0 */1 * * * *',
  extraInputs: [df.input.durableClient()],
  handler: async (timer, context) => {
    await ptuMonitor(timer, context);
  },
});
