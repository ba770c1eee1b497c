/**
 * `GET /api/dashboard/data`: one snapshot of every deployment's gate, the jobs still open per
 * deployment, the newest batches' progress and the latest failures. The page polls it and keeps the
 * history itself. Ids, counts, times and upstream error codes only: never prompt or completion text,
 * never metadata or webhook URLs.
 */
import { FINAL_STATUSES, StatusCounts } from '../jobs/job.js';
import { BatchSummary, FailedJobSummary, JobStore, OPEN_STATUSES, OpenJobCounts } from '../store/jobStore.js';
import { GateView, gateView } from './gateView.js';

export const DASHBOARD_POLL_MS = 2_000;
export const DEFAULT_LIMITS = { batches: 6, failures: 10 } as const;
/** Upstream error messages are shown, cut short: they are the provider's words, not the caller's. */
export const MAX_ERROR_MESSAGE = 200;

/** Service Bus and Event Hub depth would need extra roles to read; the store's open jobs are what is known. */
export const QUEUE_DEPTH_SOURCE = "jobs not yet completed or failed, counted in the job store (the hubs' and queues' own depth is not read)";

export interface DeploymentView {
  readonly name: string;
  /** Null when there is no gate yet (nothing asked it) or its state could not be read: `gateNote` says which. */
  readonly gate: GateView | null;
  readonly gateNote: string | null;
  readonly jobs: OpenJobCounts;
  /** Queued + waiting + running. */
  readonly queueDepth: number;
}

export interface BatchProgress extends BatchSummary {
  readonly counts: StatusCounts;
  readonly finished: number;
  readonly done: boolean;
}

export interface DashboardData {
  readonly generatedAt: string;
  readonly pollMs: number;
  readonly queueDepthSource: string;
  readonly deployments: readonly DeploymentView[];
  readonly batches: readonly BatchProgress[];
  readonly failures: readonly FailedJobSummary[];
  /** What could not be read this time (the rest is still shown). */
  readonly problems: readonly string[];
}

export type DashboardStore = Pick<JobStore, 'recentBatches' | 'recentFailures' | 'countOpenJobs' | 'countByStatus'>;

export interface DashboardSources {
  readonly deployments: readonly string[];
  readonly store: DashboardStore;
  /** The `tokenGate` entity's stored state for a deployment; undefined when it has none. */
  readGate(deployment: string): Promise<unknown>;
  readonly now: number;
  /** Counts of finished batches never change: kept here so a poll does not count them again. */
  readonly finishedCounts?: FinishedCountsCache;
}

/** A small bounded cache of finished batches' counts, kept across polls in one instance. */
export class FinishedCountsCache {
  private readonly counts = new Map<string, StatusCounts>();
  constructor(private readonly capacity = 100) {}

  get(id: string): StatusCounts | undefined {
    return this.counts.get(id);
  }

  set(id: string, counts: StatusCounts): void {
    this.counts.delete(id);
    this.counts.set(id, counts);
    // A Map iterates in insertion order: the first key is the oldest.
    while (this.counts.size > this.capacity) this.counts.delete(this.counts.keys().next().value as string);
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const noOpenJobs: OpenJobCounts = { queued: 0, waiting: 0, running: 0 };

export function batchProgress(batch: BatchSummary, counts: StatusCounts): BatchProgress {
  const finished = FINAL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  return { ...batch, counts, finished, done: finished >= batch.total };
}

export function failureView(failure: FailedJobSummary): FailedJobSummary {
  if (!failure.error || failure.error.message.length <= MAX_ERROR_MESSAGE) return failure;
  return { ...failure, error: { ...failure.error, message: `${failure.error.message.slice(0, MAX_ERROR_MESSAGE - 1)}…` } };
}

async function deploymentView(name: string, sources: DashboardSources, problems: string[]): Promise<DeploymentView> {
  const [gate, jobs] = await Promise.all([
    sources.readGate(name).then(
      (stored): { gate: GateView | null; note: string | null } => {
        if (stored === undefined || stored === null) return { gate: null, note: 'no gate state yet: nothing has asked this gate for a slot' };
        try {
          return { gate: gateView(stored, sources.now), note: null };
        } catch (error) {
          problems.push(`gate ${name}: ${messageOf(error)}`);
          return { gate: null, note: `the gate state could not be read: ${messageOf(error)}` };
        }
      },
      (error: unknown) => {
        problems.push(`gate ${name}: ${messageOf(error)}`);
        return { gate: null, note: `the gate could not be reached: ${messageOf(error)}` };
      },
    ),
    sources.store.countOpenJobs(name).catch((error: unknown) => {
      problems.push(`open jobs of ${name}: ${messageOf(error)}`);
      return noOpenJobs;
    }),
  ]);
  return { name, gate: gate.gate, gateNote: gate.note, jobs, queueDepth: OPEN_STATUSES.reduce((sum, status) => sum + jobs[status], 0) };
}

async function countsOf(batch: BatchSummary, sources: DashboardSources): Promise<StatusCounts> {
  const cached = sources.finishedCounts?.get(batch.id);
  if (cached) return cached;
  const counts = await sources.store.countByStatus(batch.id);
  const finished = FINAL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  if (finished >= batch.total) sources.finishedCounts?.set(batch.id, counts);
  return counts;
}

export async function dashboardData(sources: DashboardSources, limits: { batches: number; failures: number } = DEFAULT_LIMITS): Promise<DashboardData> {
  // One list per part, joined in page order afterwards: the parts finish in any order.
  const deploymentProblems = sources.deployments.map((): string[] => []);
  const otherProblems: { batches?: string; failures?: string } = {};
  const [deployments, batches, failures] = await Promise.all([
    Promise.all(sources.deployments.map((name, i) => deploymentView(name, sources, deploymentProblems[i]!))),
    sources.store
      .recentBatches(limits.batches)
      .then((recent) => Promise.all(recent.map(async (batch) => batchProgress(batch, await countsOf(batch, sources)))))
      .catch((error: unknown) => {
        otherProblems.batches = `batches: ${messageOf(error)}`;
        return [];
      }),
    sources.store.recentFailures(limits.failures).catch((error: unknown) => {
      otherProblems.failures = `failures: ${messageOf(error)}`;
      return [];
    }),
  ]);
  const problems = [...deploymentProblems.flat(), ...[otherProblems.batches, otherProblems.failures].filter((p): p is string => p !== undefined)];
  return {
    generatedAt: new Date(sources.now).toISOString(),
    pollMs: DASHBOARD_POLL_MS,
    queueDepthSource: QUEUE_DEPTH_SOURCE,
    deployments,
    batches,
    failures: failures.map(failureView),
    problems,
  };
}

