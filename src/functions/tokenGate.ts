/**
 * Durable entity `tokenGate`, one per deployment (the entity key): the only place the global count
 * lives. Every instance of the app asks it for slots, so all of them share one picture of the quota.
 * Entities are not replayed, so reading the wall clock here is safe; the gate itself stays pure.
 */
import * as df from 'durable-functions';
import { EntityContext, EntityHandler } from 'durable-functions';
import { AppSettings, breakerConfigFor, gateConfigForKey } from '../lib/config.js';
import { GATE_OPERATIONS, GateEntityOptions, GateEntityState, GateResult, runGateOperation } from '../lib/gate/operations.js';
import { AcquireDecision } from '../lib/gate/types.js';
import { isOpenAICompatibleGateKey } from '../lib/model/providers.js';
import { telemetry } from '../lib/telemetry/metrics.js';
import { appSettings } from '../lib/settings.js';
import { ENTITY_NAMES } from './names.js';

export const tokenGate: EntityHandler<GateEntityState> = (context: EntityContext<GateEntityState>): void => {
  const outcome = runGateOperation(
    context.df.getState(),
    () => gateConfigForKey(appSettings(), context.df.entityKey),
    context.df.operationName ?? '',
    context.df.getInput(),
    Date.now(),
    entityOptionsFor(appSettings(), context.df.entityKey),
  );
  if (outcome.state !== undefined) context.df.setState(outcome.state);
  recordGateMetrics(context.df.entityKey, context.df.operationName ?? '', context.df.getInput(), outcome.result);
  if (!outcome.result.ok) {
    context.warn(`tokenGate ${context.df.entityKey} ${context.df.operationName}: ${outcome.result.error.code}: ${outcome.result.error.message}`);
  }
  context.df.return(outcome.result);
};

/**
 * The deployment's circuit breaker (AZURE_OPENAI_DEPLOYMENTS / BREAKER_*), with its gate's lease as the
 * probe timeout. An OpenAI-compatible provider's gate starts from the app's settings and then follows
 * the limits the provider's headers state; an Azure deployment's quota is only ever its settings.
 */
export function entityOptionsFor(settings: AppSettings, key: string): GateEntityOptions {
  const adopt: GateEntityOptions = isOpenAICompatibleGateKey(key) ? { adoptProviderLimits: true } : {};
  return settings.breaker === null ? adopt : { ...adopt, breaker: breakerConfigFor(settings.breaker, gateConfigForKey(settings, key)) };
}

/**
 * The gate's metrics, from the operation's input and its answer (the gate itself stays pure). An
 * entity runs each operation once per batch, but a batch re-executed after a crash before its state
 * was saved records again: metrics may double count then, which is acceptable for counters and
 * histograms watched as rates and percentiles (the state, which is exact, does not).
 * Utilization is recorded only as the header reported it (on a settle or a `reportUtilization`): the
 * PTU monitor records its own readings where it reads them, so the entity does not count them twice.
 */
export function recordGateMetrics(deployment: string, operation: string, input: unknown, result: GateResult<unknown>): void {
  if (!result.ok) return;
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  if (operation === GATE_OPERATIONS.acquire) {
    // The gate defaults a missing priority to batch; the result is ok, so the input was valid.
    const priority = o.priority === 'interactive' ? 'interactive' : 'batch';
    const decision = result.value as AcquireDecision;
    telemetry.gateDecision(deployment, priority, decision.kind);
    if (decision.kind === 'granted') {
      telemetry.gateWait(deployment, priority, decision.waitMs);
      if (typeof o.tokens === 'number') telemetry.tokensCharged(deployment, priority, o.tokens);
    }
  } else if (operation === GATE_OPERATIONS.reportUtilization || operation === GATE_OPERATIONS.settle) {
    const header = operation === GATE_OPERATIONS.settle || o.source === undefined || o.source === 'header';
    if (header && typeof o.utilization === 'number') telemetry.ptuUtilization(deployment, 'header', o.utilization);
  }
}

df.app.entity(ENTITY_NAMES.tokenGate, tokenGate);
