/** Local Event Hubs: partitions, consumer groups, batches, checkpoints, and what a restart keeps. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHubsOptions, LocalEventHubs, PartitionBatch } from '../../../src/local/services/eventHubs.js';

let dir: string;
const open: LocalEventHubs[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'event-hubs-'));
});
afterEach(() => {
  for (const hubs of open.splice(0)) hubs.close();
  rmSync(dir, { recursive: true, force: true });
});

function hubs(options: Partial<EventHubsOptions> = {}): LocalEventHubs {
  const h = new LocalEventHubs({ dir, ...options });
  open.push(h);
  return h;
}

/** A consumer that records every batch it gets. */
function recorder(onBatch: (batch: PartitionBatch) => Promise<void> | void = () => undefined) {
  const batches: PartitionBatch[] = [];
  const handler = async (batch: PartitionBatch) => {
    batches.push(batch);
    await onBatch(batch);
  };
  const bodies = () => batches.flatMap((b) => b.events.map((e) => e.body));
  const byPartition = () => {
    const out: Record<string, unknown[]> = {};
    for (const b of batches) (out[b.partitionId] ??= []).push(...b.events.map((e) => e.body));
    return out;
  };
  return { batches, handler, bodies, byPartition };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('LocalEventHubs', () => {
  it('spreads events round-robin over the partitions, in order within each', async () => {
    const h = hubs({ partitions: 3 });
    const c = recorder();
    h.subscribe('jobs', '$Default', c.handler);
    h.send('jobs', range(0, 7));
    await vi.waitFor(() => expect(c.bodies()).toHaveLength(7));
    expect(c.byPartition()).toEqual({ '0': [0, 3, 6], '1': [1, 4], '2': [2, 5] });
    expect(h.describe('jobs').map((p) => p.events)).toEqual([3, 2, 2]);
    // The round robin carries on across sends.
    h.send('jobs', [7, 8]);
    await vi.waitFor(() => expect(c.bodies()).toHaveLength(9));
    expect(c.byPartition()).toEqual({ '0': [0, 3, 6], '1': [1, 4, 7], '2': [2, 5, 8] });
    for (const b of c.batches) {
      expect(b.hub).toBe('jobs');
      expect(b.consumerGroup).toBe('$Default');
      expect(b.events.every((e) => typeof e.enqueuedTimeUtc === 'string' && !Number.isNaN(Date.parse(e.enqueuedTimeUtc)))).toBe(true);
    }
    await vi.waitFor(() => expect(h.lag('jobs')).toBe(0));
    expect(h.describe('jobs').map((p) => p.checkpoints)).toEqual([{ $Default: 3 }, { $Default: 3 }, { $Default: 3 }]);
  });

  it('numbers events per partition from 0 and delivers them in sequence', async () => {
    const h = hubs({ partitions: 2, maxBatchSize: 3 });
    const c = recorder();
    h.subscribe('jobs', '$Default', c.handler);
    for (let i = 0; i < 20; i++) h.send('jobs', [i]);
    await vi.waitFor(() => expect(c.bodies()).toHaveLength(20));
    for (const id of ['0', '1']) {
      const seqs = c.batches.filter((b) => b.partitionId === id).flatMap((b) => b.events.map((e) => e.sequenceNumber));
      expect(seqs).toEqual(range(0, 10));
    }
  });

  it('never hands a partition more than maxBatchSize events at once, nor two batches of one partition at a time', async () => {
    const h = hubs({ partitions: 2, maxBatchSize: 4 });
    const busy = new Set<string>();
    let overlapped = false;
    const c = recorder(async (batch) => {
      if (busy.has(batch.partitionId)) overlapped = true;
      busy.add(batch.partitionId);
      await new Promise((r) => setTimeout(r, 2));
      busy.delete(batch.partitionId);
    });
    h.send('jobs', range(0, 21)); // 11 and 10 events, before anyone reads
    h.subscribe('jobs', '$Default', c.handler);
    await vi.waitFor(() => expect(c.bodies()).toHaveLength(21));
    expect(overlapped).toBe(false);
    expect(Math.max(...c.batches.map((b) => b.events.length))).toBe(4);
    expect(c.batches.filter((b) => b.partitionId === '0').map((b) => b.events.length)).toEqual([4, 4, 3]);
    expect(c.batches.filter((b) => b.partitionId === '1').map((b) => b.events.length)).toEqual([4, 4, 2]);
  });

  it('gathers events sent while a batch runs into the next batch', async () => {
    const h = hubs({ partitions: 1, maxBatchSize: 100 });
    const gate = deferred();
    const c = recorder((b) => (b.events[0]!.sequenceNumber === 0 ? gate.promise : undefined));
    h.subscribe('jobs', '$Default', c.handler);
    h.send('jobs', ['a']);
    await vi.waitFor(() => expect(c.batches).toHaveLength(1));
    h.send('jobs', ['b']);
    h.send('jobs', ['c', 'd']);
    gate.resolve();
    await vi.waitFor(() => expect(c.bodies()).toHaveLength(4));
    expect(c.batches.map((b) => b.events.map((e) => e.body))).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('checkpoints after a failing batch too: the host does not retry it', async () => {
    const errors: { error: unknown; batch: PartitionBatch }[] = [];
    const h = hubs({ partitions: 1, maxBatchSize: 2, onError: (error, batch) => errors.push({ error, batch }) });
    const c = recorder((b) => {
      if (b.events.some((e) => e.body === 'poison')) throw new Error('cannot handle');
    });
    h.subscribe('jobs', '$Default', c.handler);
    h.send('jobs', ['a', 'poison', 'b', 'c']);
    await vi.waitFor(() => expect(h.lag('jobs')).toBe(0));
    expect(c.batches.map((b) => b.events.map((e) => e.body))).toEqual([['a', 'poison'], ['b', 'c']]);
    expect(errors).toHaveLength(1);
    expect((errors[0]!.error as Error).message).toBe('cannot handle');
    expect(errors[0]!.batch.events.map((e) => e.body)).toEqual(['a', 'poison']);
    expect(h.describe('jobs')[0]!.checkpoints).toEqual({ $Default: 4 });
    // Checkpointed on disk as well: a restart does not bring the failed batch back.
    h.close();
    const again = hubs({ partitions: 1, maxBatchSize: 2 });
    const c2 = recorder();
    again.subscribe('jobs', '$Default', c2.handler);
    await new Promise((r) => setTimeout(r, 20));
    expect(c2.batches).toEqual([]);
    expect(again.lag('jobs')).toBe(0);
  });

  it('a handler that throws synchronously is treated like one that rejects', async () => {
    const h = hubs({ partitions: 1, onError: () => undefined });
    let calls = 0;
    h.subscribe('jobs', '$Default', (() => {
      calls += 1;
      throw new Error('sync');
    }) as unknown as (b: PartitionBatch) => Promise<void>);
    h.send('jobs', [1, 2]);
    await vi.waitFor(() => expect(h.describe('jobs')[0]!.checkpoints).toEqual({ $Default: 2 }));
    expect(calls).toBe(1);
  });

  it('after a restart resumes at the checkpoint: only events not checkpointed come again', async () => {
    const h = hubs({ partitions: 2, maxBatchSize: 2 });
    const stuck = deferred();
    // Partition 0 hangs in its second batch when the process "dies"; partition 1 finishes.
    const c = recorder((b) => (b.partitionId === '0' && b.events[0]!.sequenceNumber === 2 ? stuck.promise : undefined));
    h.subscribe('jobs', '$Default', c.handler);
    h.send('jobs', range(0, 10)); // p0: 0 2 4 6 8, p1: 1 3 5 7 9
    await vi.waitFor(() => expect(h.describe('jobs').map((p) => p.checkpoints.$Default)).toEqual([2, 5]));
    expect(c.byPartition()).toEqual({ '0': [0, 2, 4, 6], '1': [1, 3, 5, 7, 9] });
    h.close(); // the crash: the batch in flight is never checkpointed
    stuck.resolve();
    await new Promise((r) => setTimeout(r, 10));

    const restarted = hubs({ partitions: 2, maxBatchSize: 2 });
    expect(restarted.describe('jobs').map((p) => p.events)).toEqual([5, 5]);
    const c2 = recorder();
    restarted.subscribe('jobs', '$Default', c2.handler);
    await vi.waitFor(() => expect(restarted.lag('jobs')).toBe(0));
    // At least once: the batch in flight comes again, then what was never read; nothing checkpointed does.
    expect(c2.byPartition()).toEqual({ '0': [4, 6, 8] });
    expect(c2.batches[0]!.events.map((e) => e.sequenceNumber)).toEqual([2, 3]);
    expect(restarted.describe('jobs').map((p) => p.checkpoints.$Default)).toEqual([5, 5]);

    // New events go on numbering after the old ones, round robin kept even.
    restarted.send('jobs', ['x', 'y']);
    await vi.waitFor(() => expect(restarted.lag('jobs')).toBe(0));
    expect(c2.batches.slice(-2).map((b) => [b.partitionId, b.events.map((e) => [e.sequenceNumber, e.body])])).toEqual(
      expect.arrayContaining([
        ['0', [[5, 'x']]],
        ['1', [[5, 'y']]],
      ]),
    );
  });

  it('after a restart keeps the round robin even, starting at the partition with the fewest events', async () => {
    const h = hubs({ partitions: 3 });
    h.send('jobs', range(0, 4)); // 2 1 1
    h.close();
    const restarted = hubs({ partitions: 3 });
    restarted.send('jobs', ['a', 'b']);
    expect(restarted.describe('jobs').map((p) => p.events)).toEqual([2, 2, 2]);
  });

  it('keeps events sent while nobody listens, for a consumer group that subscribes later', async () => {
    const h = hubs({ partitions: 2 });
    h.send('jobs', ['a', 'b', 'c']);
    expect(h.lag('jobs')).toBe(0); // no consumer group yet
    const c = recorder();
    h.subscribe('jobs', '$Default', c.handler);
    await vi.waitFor(() => expect(c.bodies()).toHaveLength(3));
  });

  it('a second consumer group reads every event independently, with its own checkpoints', async () => {
    const h = hubs({ partitions: 2, maxBatchSize: 10 });
    const gate = deferred();
    const fast = recorder();
    const slow = recorder(() => gate.promise);
    h.subscribe('jobs', '$Default', fast.handler);
    h.subscribe('jobs', 'audit/group', slow.handler);
    h.send('jobs', range(0, 6));
    await vi.waitFor(() => expect(h.describe('jobs').map((p) => p.checkpoints)).toEqual([
      { $Default: 3, 'audit/group': 0 },
      { $Default: 3, 'audit/group': 0 },
    ]));
    expect(fast.bodies().sort()).toEqual(range(0, 6));
    expect(h.lag('jobs')).toBe(6);
    gate.resolve();
    await vi.waitFor(() => expect(h.lag('jobs')).toBe(0));
    expect(slow.bodies().sort()).toEqual(range(0, 6));
    expect(slow.batches.every((b) => b.consumerGroup === 'audit/group')).toBe(true);

    // Checkpoints are per group on disk too: a restart with only the second group has nothing new for it.
    h.send('jobs', ['late']);
    await vi.waitFor(() => expect(h.lag('jobs')).toBe(0));
    h.close();
    const restarted = hubs({ partitions: 2, maxBatchSize: 10 });
    const other = recorder();
    restarted.subscribe('jobs', 'audit/group', other.handler);
    const fresh = recorder();
    restarted.subscribe('jobs', 'newcomer', fresh.handler);
    await vi.waitFor(() => expect(fresh.bodies()).toHaveLength(7));
    expect(other.batches).toEqual([]);
  });

  it('keeps hubs apart', async () => {
    const h = hubs({ partitions: 1 });
    const a = recorder();
    const b = recorder();
    h.subscribe('a', '$Default', a.handler);
    h.subscribe('b', '$Default', b.handler);
    h.send('a', [1]);
    h.send('b', [2, 3]);
    await vi.waitFor(() => expect(b.bodies()).toHaveLength(2));
    expect(a.bodies()).toEqual([1]);
    h.close();
    const restarted = hubs({ partitions: 1 });
    expect(restarted.describe('a')[0]!.events).toBe(1);
    expect(restarted.describe('b')[0]!.events).toBe(2);
  });

  it('in memory (dir null) works the same and a new instance starts empty', async () => {
    const h = hubs({ dir: null, partitions: 2, maxBatchSize: 1, onError: () => undefined });
    const c = recorder((b) => {
      if (b.events[0]!.body === 1) throw new Error('x');
    });
    h.subscribe('jobs', '$Default', c.handler);
    h.send('jobs', range(0, 4));
    await vi.waitFor(() => expect(h.lag('jobs')).toBe(0));
    expect(c.byPartition()).toEqual({ '0': [0, 2], '1': [1, 3] });
    expect(h.describe('jobs').map((p) => p.checkpoints.$Default)).toEqual([2, 2]);
    h.close();
    const fresh = hubs({ dir: null, partitions: 2 });
    expect(fresh.describe('jobs').map((p) => p.events)).toEqual([0, 0]);
  });

  it('delivers nothing more once closed', async () => {
    const h = hubs({ partitions: 1, maxBatchSize: 1 });
    const first = deferred();
    const c = recorder((b) => (b.events[0]!.sequenceNumber === 0 ? first.promise : undefined));
    h.subscribe('jobs', '$Default', c.handler);
    h.send('jobs', [0, 1, 2]);
    await vi.waitFor(() => expect(c.batches).toHaveLength(1));
    h.close();
    first.resolve();
    await new Promise((r) => setTimeout(r, 10));
    expect(c.batches).toHaveLength(1);
    expect(h.describe('jobs')[0]!.checkpoints).toEqual({ $Default: 0 });
  });
});
