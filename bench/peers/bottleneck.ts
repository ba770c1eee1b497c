/**
 * bottleneck with a token-weighted reservoir, one limiter per worker instance: the reservoir holds the
 * quota, each job weighs its charge (prompt tokens with the deployment's tokenizer + max_tokens, the
 * same count Azure takes), and the reservoir is refilled to the quota every window, as bottleneck's
 * docs show for per-minute limits. Calls go through the SDK with its default retries.
 * Interactive requests use bottleneck's own priority in the same limiter (0, ahead of the batch's 5).
 */
import Bottleneck from 'bottleneck';
import { chargeFor } from '../../src/lib/model/charge.js';
import { Contender, runAll, sdkClient } from '../contender.js';

const BATCH_PRIORITY = 5;
const INTERACTIVE_PRIORITY = 0;

export const bottleneck: Contender = async (context) => {
  const { tokensPerWindow, windowMs } = context.scenario;
  // In provisioned mode the operator's only lever is the budget: the threshold's share of the capacity.
  const budget = Math.floor(tokensPerWindow * (context.scenario.ptuThreshold ?? 1));
  const workers = Array.from({ length: context.scenario.producers }, () => ({
    client: sdkClient(context),
    limiter: new Bottleneck({ reservoir: budget, reservoirRefreshAmount: budget, reservoirRefreshInterval: windowMs }),
  }));
  const { submittedAt, outcomes } = await runAll(context, (job) => {
    const worker = workers[job.producer]!;
    const options = { weight: chargeFor(job.request, context.model), priority: job.interactive ? INTERACTIVE_PRIORITY : BATCH_PRIORITY };
    return worker.limiter.schedule(options, () => worker.client.chat.completions.create({ model: context.deployment, ...job.request }));
  });
  await Promise.all(workers.map((w) => w.limiter.stop({ dropWaitingJobs: true })));
  return { submittedAt, outcomes, notes: { reservoirPerWindow: budget, refreshIntervalMs: windowMs, sdkMaxRetries: 2 } };
};
