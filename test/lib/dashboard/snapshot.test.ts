/** The dashboard's data snapshot, assembled from a fake store and gate reads: no server, no browser. */
import { describe, expect, it, vi } from 'vitest';
import { DASHBOARD_POLL_MS, DashboardStore, FinishedCountsCache, MAX_ERROR_MESSAGE, QUEUE_DEPTH_SOURCE, dashboardData } from '../../../src/lib/dashboard/snapshot.js';
import { gateConfigFrom } from '../../../src/lib/gate/index.js';
import { runGateOperation } from '../../../src/lib/gate/operations.js';
import { StatusCounts } from '../../../src/lib/jobs/job.js';
import { BatchSummary, FailedJobSummary } from '../../../src/lib/store/jobStore.js';

const NOW = Date.parse('2030-01-01T00:01:00.000Z');
const counts = (c: Partial<StatusCounts>): StatusCounts => ({ queued: 0, waiting: 0, running: 0, completed: 0, failed: 0, ...c });
const batch = (id: string, total: number, completedAt: string | null = null): BatchSummary => ({ id, total, priority: 'batch', createdAt: '2030-01-01T00:00:00.000Z', completedAt });
const failure = (id: string, message: string): FailedJobSummary => ({
  id,
  batchId: 'b1',
  customId: null,
  deployment: 'gpt-4o',
  attempts: 6,
  error: { status: 500, code: 'InternalServerError', message },
  failedAt: '2030-01-01T00:00:30.000Z',
});

function fakeStore(overrides: Partial<DashboardStore> = {}): DashboardStore & { countByStatus: ReturnType<typeof vi.fn> } {
  const byBatch: Record<string, StatusCounts> = {
    b1: counts({ completed: 3, failed: 1 }),
    b2: counts({ queued: 2, waiting: 1, running: 1, completed: 1 }),
  };
  return {
    recentBatches: async (limit) => [batch('b1', 4, '2030-01-01T00:00:40.000Z'), batch('b2', 5)].slice(0, limit),
    recentFailures: async (limit) => [failure('j1', 'short'), failure('j2', 'x'.repeat(500))].slice(0, limit),
    countOpenJobs: async (deployment) => (deployment === 'gpt-4o' ? { queued: 2, waiting: 1, running: 1 } : { queued: 0, waiting: 0, running: 0 }),
    ...overrides,
    countByStatus: vi.fn(async (id: string) => byBatch[id] ?? counts({})),
  };
}

function gateState(): unknown {
  const config = gateConfigFrom({ mode: 'standard', tokensPerMinute: 1_000, requestsPerMinute: 60, windowMs: 60_000, horizonMs: 120_000, ptuMaxUtilization: 0.7, interactiveReserve: 0.2, startToleranceMs: 0 });
  return runGateOperation(undefined, () => config, 'acquire', { tokens: 250, priority: 'batch' }, NOW - 5_000).state;
}

describe('dashboardData', () => {
  it('shows each deployment’s gate and open jobs, the batches’ progress and the latest failures', async () => {
    const data = await dashboardData({ deployments: ['gpt-4o'], store: fakeStore(), readGate: async () => gateState(), now: NOW });
    expect(data).toMatchObject({ generatedAt: '2030-01-01T00:01:00.000Z', pollMs: DASHBOARD_POLL_MS, queueDepthSource: QUEUE_DEPTH_SOURCE, problems: [] });
    const [deployment] = data.deployments;
    expect(deployment).toMatchObject({ name: 'gpt-4o', gateNote: null, jobs: { queued: 2, waiting: 1, running: 1 }, queueDepth: 4 });
    expect(deployment!.gate).toMatchObject({ quota: 1_000, utilization: 0.25, status: { windowTokens: 250, tokensPerWindow: 1_000 } });
    expect(data.batches).toEqual([
      { ...batch('b1', 4, '2030-01-01T00:00:40.000Z'), counts: counts({ completed: 3, failed: 1 }), finished: 4, done: true },
      { ...batch('b2', 5), counts: counts({ queued: 2, waiting: 1, running: 1, completed: 1 }), finished: 1, done: false },
    ]);
    expect(data.failures.map((f) => f.id)).toEqual(['j1', 'j2']);
    expect(data.failures[0]!.error!.message).toBe('short');
    expect(data.failures[1]!.error!.message).toHaveLength(MAX_ERROR_MESSAGE);
    expect(data.failures[1]!.error!.message.endsWith('…')).toBe(true);
  });

  it('passes the limits to the store', async () => {
    const store = fakeStore();
    const data = await dashboardData({ deployments: ['gpt-4o'], store, readGate: async () => undefined, now: NOW }, { batches: 1, failures: 1 });
    expect(data.batches.map((b) => b.id)).toEqual(['b1']);
    expect(data.failures.map((f) => f.id)).toEqual(['j1']);
  });

  it('says why a gate is missing: never asked, unreachable or unreadable, and shows the rest', async () => {
    const reads: Record<string, () => Promise<unknown>> = {
      fresh: async () => undefined,
      down: async () => Promise.reject(new Error('connect ECONNREFUSED')),
      odd: async () => ({ something: 'else' }),
    };
    const data = await dashboardData({ deployments: ['fresh', 'down', 'odd'], store: fakeStore(), readGate: (name) => reads[name]!(), now: NOW });
    expect(data.deployments.map((d) => [d.name, d.gate, d.gateNote])).toEqual([
      ['fresh', null, expect.stringMatching(/no gate state yet/)],
      ['down', null, expect.stringMatching(/could not be reached: connect ECONNREFUSED/)],
      ['odd', null, expect.stringMatching(/could not be read/)],
    ]);
    expect(data.problems).toEqual([expect.stringMatching(/^gate down:/), expect.stringMatching(/^gate odd:/)]);
    expect(data.batches).toHaveLength(2);
  });

  it('reports a store that fails and still answers with what it has', async () => {
    const fail = async () => Promise.reject(new Error('store unavailable'));
    const store = fakeStore({ recentBatches: fail, recentFailures: fail, countOpenJobs: fail });
    const data = await dashboardData({ deployments: ['gpt-4o'], store, readGate: async () => gateState(), now: NOW });
    expect(data.batches).toEqual([]);
    expect(data.failures).toEqual([]);
    expect(data.deployments[0]).toMatchObject({ jobs: { queued: 0, waiting: 0, running: 0 }, queueDepth: 0 });
    expect(data.deployments[0]!.gate).not.toBeNull();
    expect(data.problems).toHaveLength(3);
  });

  it('counts a finished batch once across polls, an unfinished one on every poll', async () => {
    const store = fakeStore();
    const finishedCounts = new FinishedCountsCache();
    const sources = { deployments: [], store, readGate: async () => undefined, now: NOW, finishedCounts };
    await dashboardData(sources);
    const second = await dashboardData(sources);
    expect(store.countByStatus.mock.calls.map(([id]) => id).sort()).toEqual(['b1', 'b2', 'b2']);
    expect(second.batches[0]).toMatchObject({ id: 'b1', finished: 4, done: true });
  });
});

describe('FinishedCountsCache', () => {
  it('keeps the most recently stored entries up to its capacity', () => {
    const cache = new FinishedCountsCache(2);
    cache.set('a', counts({ completed: 1 }));
    cache.set('b', counts({ completed: 2 }));
    cache.set('a', counts({ completed: 3 }));
    cache.set('c', counts({ completed: 4 }));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual(counts({ completed: 3 }));
    expect(cache.get('c')).toEqual(counts({ completed: 4 }));
  });
});
