/**
 * Where a submission's jobs go. Without a queue: the app's deployment, exactly as before. With one: the
 * queue's first provider, whose gate key becomes the jobs' `deployment`; with several, the jobs also
 * record the whole list, and `runJob` asks their gates in order (spillover: all but the last only for a
 * slot within the spillover wait) and calls the provider whose gate granted. The largest acceptable
 * charge is the smaller of the app's quota and the queue's own token limit, since a charge above either
 * could never be admitted.
 */
import { Priority } from '../gate/types.js';
import { ProviderConfig, gateKeyFor, tokenizerModelFor } from '../model/providers.js';
import { Queue, QueueRef, queueRefOf } from './queue.js';

export interface AppModel {
  readonly deployment: string;
  readonly model: string;
  /** The deployment's quota: the largest charge its gate can ever admit. */
  readonly tokensPerMinute: number;
}

export interface Route {
  /** The jobs' gate key. */
  readonly deployment: string;
  /** The tokenizer's model. */
  readonly model: string;
  readonly maxCharge: number;
  readonly maxChargeName: string;
  readonly queue: QueueRef | null;
  readonly provider: ProviderConfig | null;
  /** The queue's providers in order when it has more than one (spillover); null otherwise. */
  readonly providers: readonly ProviderConfig[] | null;
  /** The queue's priority, for submissions that name none; null without a queue. */
  readonly priority: Priority | null;
}

export function routeFor(queue: Queue | null, app: AppModel): Route {
  if (queue === null) {
    return { deployment: app.deployment, model: app.model, maxCharge: app.tokensPerMinute, maxChargeName: "the deployment's whole quota", queue: null, provider: null, providers: null, priority: null };
  }
  // A queue without providers uses the app's deployment, under its own limits.
  const provider: ProviderConfig = queue.providers[0] ?? { type: 'azure_openai', deployment: app.deployment, model: app.model };
  const model = provider.type === 'azure_openai' && provider.model === null && provider.deployment === app.deployment ? app.model : tokenizerModelFor(provider);
  const queueLimit = queue.limits.tokens;
  const byQueue = queueLimit !== null && queueLimit < app.tokensPerMinute;
  return {
    deployment: gateKeyFor(provider),
    model,
    maxCharge: byQueue ? queueLimit : app.tokensPerMinute,
    maxChargeName: byQueue ? `queue "${queue.name}"'s limit per ${queue.limits.windowSeconds} s` : "the deployment's whole quota",
    queue: queueRefOf(queue),
    provider,
    providers: queue.providers.length > 1 ? queue.providers : null,
    priority: queue.priority,
  };
}
