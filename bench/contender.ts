/** What every contender is given and what it reports: the same jobs, the same kind of deployment. */
import { AzureOpenAI } from 'openai';
import type { RecordedCall } from './recorder.js';
import { Scenario } from './scenarios.js';
import { BenchJob } from './workload.js';

export const CONTENDERS = ['tokengate', 'openai-plimit', 'bottleneck', 'cookbook'] as const;
export type ContenderId = (typeof CONTENDERS)[number];

export interface RunContext {
  readonly scenario: Scenario;
  /** The recorder in front of this contender's own simulator. */
  readonly endpoint: string;
  readonly deployment: string;
  readonly apiVersion: string;
  readonly model: string;
  /** Batch jobs (arriveAtMs 0) and interactive ones (arriveAtMs > 0). */
  readonly jobs: readonly BenchJob[];
  /** Epoch ms after which unfinished jobs count as lost. */
  readonly deadline: number;
  /** What the recorder has seen so far (for a contender's own diagnostics). */
  readonly recorded: () => Promise<readonly RecordedCall[]>;
}

export interface JobOutcome {
  readonly tag: string;
  /** A completion came back to the caller. */
  readonly ok: boolean;
  /** When the caller handed the job over (batch: the submission; interactive: its arrival). */
  readonly submittedAt: number;
  /** When the caller had its answer (or its final error); null if it never finished. */
  readonly doneAt: number | null;
  readonly error: string | null;
}

export interface ContenderResult {
  /** When the batch was submitted: the origin of drain time. */
  readonly submittedAt: number;
  readonly outcomes: readonly JobOutcome[];
  /** Contender-specific facts worth keeping (configuration, counters). */
  readonly notes: Readonly<Record<string, string | number>>;
}

export type Contender = (context: RunContext) => Promise<ContenderResult>;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The client a user of the SDK writes: the SDK's defaults (2 retries honouring retry-after) unless told otherwise. */
export function sdkClient(context: RunContext, options: { maxRetries?: number } = {}): AzureOpenAI {
  return new AzureOpenAI({
    endpoint: context.endpoint,
    apiKey: 'bench',
    apiVersion: context.apiVersion,
    deployment: context.deployment,
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
  });
}

export function describeError(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'status' in error) return `${String((error as { status: unknown }).status)} ${error instanceof Error ? error.name : ''}`.trim();
  return error instanceof Error ? error.name : String(error);
}

/**
 * Runs `call` for every job at its arrival (batch jobs at once), records outcomes, and stops waiting at
 * the deadline. `call` resolves when the job has its answer and rejects with its final error.
 */
export async function runAll(context: RunContext, call: (job: BenchJob) => Promise<unknown>): Promise<{ submittedAt: number; outcomes: JobOutcome[] }> {
  const submittedAt = Date.now();
  const outcomes = new Map<string, JobOutcome>();
  const pending = context.jobs.map(async (job) => {
    if (job.arriveAtMs > 0) await sleep(submittedAt + job.arriveAtMs - Date.now());
    const started = job.arriveAtMs > 0 ? Date.now() : submittedAt;
    outcomes.set(job.tag, { tag: job.tag, ok: false, submittedAt: started, doneAt: null, error: 'unfinished at the deadline' });
    try {
      await call(job);
      outcomes.set(job.tag, { tag: job.tag, ok: true, submittedAt: started, doneAt: Date.now(), error: null });
    } catch (error) {
      outcomes.set(job.tag, { tag: job.tag, ok: false, submittedAt: started, doneAt: Date.now(), error: describeError(error) });
    }
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(pending), new Promise<void>((resolve) => (timer = setTimeout(resolve, context.deadline - Date.now())))]);
  clearTimeout(timer);
  return { submittedAt, outcomes: context.jobs.map((job) => outcomes.get(job.tag) ?? { tag: job.tag, ok: false, submittedAt, doneAt: null, error: 'never started' }) };
}
