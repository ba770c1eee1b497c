/**
 * A port of the openai-cookbook's examples/api_request_parallel_processor.py, logic kept as written:
 * - one main loop: take the next request (the retry queue first, then the "file"), refresh the request
 *   and token capacity (CookbookCapacity), send when both suffice, sleep 1 ms;
 * - token estimate `num_tokens_consumed_from_request`: per message 4 + the tokens of every value
 *   (role and content; −1 for a name), + 2 for the reply, + n × max_tokens (15 when absent), with the
 *   deployment's encoding;
 * - an error answer goes back on the retry queue until `max_attempts` (5) sends were spent; an error
 *   whose code is '429' stamps `time_of_last_rate_limit_error`, and the loop then pauses until 15 s
 *   (scaled with the window: a quarter of it) have passed since;
 * - the loop ends when nothing is in progress.
 * Differences forced by the bench: calls go through the openai SDK (AzureOpenAI, its retries off, since
 * the script does its own) instead of aiohttp; the minute is the bench window; limits are the full
 * quota (the script's docs suggest leaving 25–50% headroom, which would cap it at 50–75% by design).
 * Interactive requests are not something the script handles: they call the SDK directly (default retries).
 */
import { APIError, AzureOpenAI } from 'openai';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodingFor } from '../../src/lib/model/tokenizer.js';
import { Contender, RunContext, runAll, sdkClient, sleep } from '../contender.js';
import { requestsPerWindow, scaledFromMinute } from '../scenarios.js';
import { BenchJob } from '../workload.js';
import { CookbookCapacity } from './cookbookCapacity.js';

export const SECONDS_TO_PAUSE_AFTER_RATE_LIMIT_ERROR = 15;
export const SECONDS_TO_SLEEP_EACH_LOOP = 0.001;
export const MAX_ATTEMPTS = 5;

interface ChatLike {
  readonly messages: readonly Readonly<Record<string, unknown>>[];
  readonly max_tokens?: number;
  readonly n?: number;
}

/** `num_tokens_consumed_from_request` for chat completions. */
export function numTokensConsumedFromRequest(request: ChatLike, model: string): number {
  const encode = encodingFor(model) === 'cl100k_base' ? encodeCl100k : encodeO200k;
  const completionTokens = (request.n ?? 1) * (request.max_tokens ?? 15);
  let numTokens = 0;
  for (const message of request.messages) {
    numTokens += 4;
    for (const [key, value] of Object.entries(message)) {
      numTokens += encode(String(value)).length;
      if (key === 'name') numTokens -= 1;
    }
  }
  numTokens += 2;
  return numTokens + completionTokens;
}

interface StatusTracker {
  numTasksStarted: number;
  numTasksInProgress: number;
  numTasksSucceeded: number;
  numTasksFailed: number;
  numRateLimitErrors: number;
  numApiErrors: number;
  numOtherErrors: number;
  timeOfLastRateLimitError: number;
}

interface ApiRequest {
  readonly taskId: number;
  readonly job: BenchJob;
  readonly tokenConsumption: number;
  attemptsLeft: number;
  readonly errors: string[];
}

interface Settlement {
  resolve(): void;
  reject(error: Error): void;
}

/** `process_api_requests_from_file` over one worker's share of the batch; settles each job's promise. */
async function processApiRequests(
  requests: readonly BenchJob[],
  client: AzureOpenAI,
  context: RunContext,
  settle: ReadonlyMap<string, Settlement>,
): Promise<StatusTracker> {
  // One tracker per worker instance: the script's state lives in its own process.
  const status: StatusTracker = {
    numTasksStarted: 0,
    numTasksInProgress: 0,
    numTasksSucceeded: 0,
    numTasksFailed: 0,
    numRateLimitErrors: 0,
    numApiErrors: 0,
    numOtherErrors: 0,
    timeOfLastRateLimitError: 0,
  };
  const { scenario } = context;
  const budget = scenario.ptuThreshold ?? 1;
  const capacity = new CookbookCapacity(requestsPerWindow(scenario) * budget, scenario.tokensPerWindow * budget, scenario.windowMs, Date.now());
  const pauseMs = scaledFromMinute(scenario, SECONDS_TO_PAUSE_AFTER_RATE_LIMIT_ERROR * 1000);
  const retryQueue: ApiRequest[] = [];
  const file = requests[Symbol.iterator]();
  let fileNotFinished = true;
  let nextRequest: ApiRequest | null = null;
  let taskId = 0;

  const callApi = async (request: ApiRequest) => {
    let error: string | null = null;
    try {
      await client.chat.completions.create({ model: context.deployment, ...request.job.request });
    } catch (caught) {
      if (caught instanceof APIError && caught.status !== undefined) {
        // An error body from the API.
        status.numApiErrors += 1;
        error = `${caught.status} ${String(caught.code)}`;
        if (caught.code === '429') {
          status.timeOfLastRateLimitError = Date.now();
          status.numRateLimitErrors += 1;
          status.numApiErrors -= 1;
        }
      } else {
        status.numOtherErrors += 1;
        error = caught instanceof Error ? caught.message : String(caught);
      }
    }
    if (error !== null) {
      request.errors.push(error);
      if (request.attemptsLeft > 0) retryQueue.push(request);
      else {
        status.numTasksInProgress -= 1;
        status.numTasksFailed += 1;
        settle.get(request.job.tag)?.reject(new Error(`failed after ${MAX_ATTEMPTS} attempts: ${request.errors.join(', ')}`));
      }
    } else {
      status.numTasksInProgress -= 1;
      status.numTasksSucceeded += 1;
      settle.get(request.job.tag)?.resolve();
    }
  };

  for (;;) {
    if (nextRequest === null) {
      if (retryQueue.length > 0) nextRequest = retryQueue.shift()!;
      else if (fileNotFinished) {
        const read = file.next();
        if (read.done) fileNotFinished = false;
        else {
          nextRequest = {
            taskId: taskId++,
            job: read.value,
            tokenConsumption: numTokensConsumedFromRequest(read.value.request, context.model),
            attemptsLeft: MAX_ATTEMPTS,
            errors: [],
          };
          status.numTasksStarted += 1;
          status.numTasksInProgress += 1;
        }
      }
    }

    capacity.update(Date.now());

    if (nextRequest !== null && capacity.tryTake(nextRequest.tokenConsumption)) {
      nextRequest.attemptsLeft -= 1;
      void callApi(nextRequest);
      nextRequest = null;
    }

    if (status.numTasksInProgress === 0) break;
    if (Date.now() > context.deadline) break;

    await sleep(SECONDS_TO_SLEEP_EACH_LOOP * 1000);

    const sinceRateLimitError = Date.now() - status.timeOfLastRateLimitError;
    if (sinceRateLimitError < pauseMs) await sleep(pauseMs - sinceRateLimitError);
  }
  return status;
}

export const cookbook: Contender = async (context) => {
  const settle = new Map<string, Settlement>();
  const promises = new Map<string, Promise<void>>();
  for (const job of context.jobs) {
    if (job.interactive) continue;
    promises.set(job.tag, new Promise<void>((resolve, reject) => settle.set(job.tag, { resolve, reject })));
  }
  const direct = sdkClient(context);
  const processors: Promise<StatusTracker>[] = [];
  const run = runAll(context, (job) => (job.interactive ? direct.chat.completions.create({ model: context.deployment, ...job.request }) : promises.get(job.tag)!));
  for (let producer = 0; producer < context.scenario.producers; producer++) {
    const share = context.jobs.filter((job) => !job.interactive && job.producer === producer);
    processors.push(processApiRequests(share, sdkClient(context, { maxRetries: 0 }), context, settle));
  }
  const { submittedAt, outcomes } = await run;
  const trackers = await Promise.all(processors);
  const total = (key: keyof StatusTracker) => trackers.reduce((sum, t) => sum + t[key], 0);
  return {
    submittedAt,
    outcomes,
    notes: {
      maxAttempts: MAX_ATTEMPTS,
      pauseAfterRateLimitMs: scaledFromMinute(context.scenario, SECONDS_TO_PAUSE_AFTER_RATE_LIMIT_ERROR * 1000),
      rateLimitErrors: total('numRateLimitErrors'),
      apiErrors: total('numApiErrors'),
      otherErrors: total('numOtherErrors'),
    },
  };
};
