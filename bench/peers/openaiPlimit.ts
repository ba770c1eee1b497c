/**
 * What most users write first: the openai SDK with its default retries (2, honouring retry-after-ms),
 * its calls run through p-limit for concurrency. It knows nothing about tokens or quota.
 *
 * Each producer is a worker instance with its own p-limit. Interactive requests do not queue behind
 * the batch in p-limit (that would make them wait for the whole backlog): they call the SDK directly.
 */
import { Contender, runAll, sdkClient } from '../contender.js';

export const PLIMIT_CONCURRENCY = Number(process.env.BENCH_PLIMIT_CONCURRENCY ?? 10);

export const openaiPlimit: Contender = async (context) => {
  const { default: pLimit } = await import('p-limit');
  const workers = Array.from({ length: context.scenario.producers }, () => ({ client: sdkClient(context), limit: pLimit(PLIMIT_CONCURRENCY) }));
  const direct = sdkClient(context);
  const { submittedAt, outcomes } = await runAll(context, (job) => {
    if (job.interactive) return direct.chat.completions.create({ model: context.deployment, ...job.request });
    const worker = workers[job.producer]!;
    return worker.limit(() => worker.client.chat.completions.create({ model: context.deployment, ...job.request }));
  });
  return { submittedAt, outcomes, notes: { concurrency: PLIMIT_CONCURRENCY, sdkMaxRetries: 2 } };
};
