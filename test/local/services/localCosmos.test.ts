/**
 * The local Cosmos server's journal: documents written through the real store and SDK survive a
 * close and a start on the same journal, deletes stay deleted, and servers in one process keep to
 * their own journals.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatchOperation } from '@azure/cosmos';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Batch, Job } from '../../../src/lib/jobs/job.js';
import { BATCHES_CONTAINER, JOBS_CONTAINER } from '../../../src/lib/store/cosmosJobStore.js';
import { Journal } from '../../../src/local/persistence/journal.js';
import { LocalCosmos, startLocalCosmos } from '../../../src/local/services/localCosmos.js';

const T0 = '2030-01-01T00:00:00.000Z';
const T1 = '2030-01-01T00:00:05.000Z';

let dir: string;
const running = new Set<LocalCosmos>();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'local-cosmos-'));
});
afterEach(async () => {
  await Promise.all([...running].map((c) => c.close()));
  running.clear();
  rmSync(dir, { recursive: true, force: true });
});

async function start(databaseId: string, journalPath?: string): Promise<LocalCosmos> {
  const cosmos = await startLocalCosmos(databaseId, journalPath ? { journalPath } : {});
  running.add(cosmos);
  return cosmos;
}
async function stop(cosmos: LocalCosmos): Promise<void> {
  running.delete(cosmos);
  await cosmos.close();
}

function makeJob(batchId: string, n: number): Job {
  return {
    id: `${batchId}-job-${n}`,
    batchId,
    customId: `request-${n}`,
    kind: 'chat',
    priority: 'batch',
    deployment: 'gpt-4o',
    request: { messages: [{ role: 'user', content: `question ${n} ✓` }], max_tokens: 16 },
    charge: 30,
    status: 'queued',
    attempts: 0,
    result: null,
    usage: null,
    error: null,
    metadata: { n },
    createdAt: T0,
    updatedAt: T0,
    completedAt: null,
  };
}
const makeBatch = (id: string, total: number): Batch => ({ id, total, priority: 'batch', metadata: null, webhook: null, createdAt: T0 });

async function seed(cosmos: LocalCosmos, batchId: string, count: number): Promise<Job[]> {
  const jobs = Array.from({ length: count }, (_, n) => makeJob(batchId, n));
  await cosmos.store.createBatch(makeBatch(batchId, count), jobs);
  return jobs;
}

async function allIds(cosmos: LocalCosmos, container: string): Promise<string[]> {
  const { resources } = await cosmos.database.container(container).items.query<string>('SELECT VALUE c.id FROM c').fetchAll();
  return resources.sort();
}

type Line = { c: string; doc?: { id: string }; del?: string };
const journalLines = (path: string) => Journal.read<Line>(path);

describe('startLocalCosmos with a journal', () => {
  it('brings back documents created, replaced, patched and upserted; deletes stay deleted', async () => {
    const path = join(dir, 'cosmos', 'db.jsonl');
    const first = await start('db', path);
    expect(first.restored).toBe(0);
    const jobs = await seed(first, 'b1', 4);
    // Replace (the store's optimistic update).
    await first.store.updateJob(jobs[0]!.id, { status: 'completed', attempts: 1, result: { ok: true }, at: T1 });
    // Patch, through the SDK.
    const patch: PatchOperation[] = [{ op: 'set', path: '/metadata', value: { patched: true } }];
    await first.database.container(JOBS_CONTAINER).item(jobs[1]!.id, jobs[1]!.id).patch(patch);
    // Delete.
    await first.database.container(JOBS_CONTAINER).item(jobs[2]!.id, jobs[2]!.id).delete();
    // Upsert of a new document and of an existing one.
    await first.database.container(BATCHES_CONTAINER).items.upsert({ id: 'extra', total: 0, note: 'new' });
    await first.database.container(BATCHES_CONTAINER).items.upsert({ id: 'extra', total: 1, note: 'upserted' });
    expect(await first.store.claimBatchCompletion('b1', T1)).toBe(true);
    await stop(first);

    const second = await start('db', path);
    expect(second.restored).toBe(5); // 3 jobs and 2 batch documents
    expect(await allIds(second, JOBS_CONTAINER)).toEqual([jobs[0]!.id, jobs[1]!.id, jobs[3]!.id]);
    expect(await second.store.getJob(jobs[0]!.id)).toEqual({ ...jobs[0], status: 'completed', attempts: 1, result: { ok: true }, updatedAt: T1, completedAt: T1 });
    expect(await second.store.getJob(jobs[1]!.id)).toEqual({ ...jobs[1], metadata: { patched: true } });
    expect(await second.store.getJob(jobs[2]!.id)).toBeUndefined();
    expect(await second.store.getJob(jobs[3]!.id)).toEqual(jobs[3]);
    expect(await second.store.getBatch('b1')).toEqual({ ...makeBatch('b1', 4), completedAt: T1 });
    const { resource: extra } = await second.database.container(BATCHES_CONTAINER).item('extra', 'extra').read<{ id: string; total: number; note: string }>();
    expect(extra).toMatchObject({ id: 'extra', total: 1, note: 'upserted' });
    // The store works on the restored documents: etags, queries, a second completion claim refused.
    expect(await second.store.claimBatchCompletion('b1', T1)).toBe(false);
    expect(await second.store.countByStatus('b1')).toEqual({ queued: 2, waiting: 0, running: 0, completed: 1, failed: 0 });
    await second.store.updateJob(jobs[3]!.id, { status: 'running', at: T1 });
    await stop(second);

    // The start compacted the journal to one record per live document; later writes follow it.
    const lines = journalLines(path);
    expect(lines.slice(0, 5).every((l) => l.doc !== undefined)).toBe(true);
    expect(lines).toHaveLength(6); // + the replace of the running job, as one record

    const third = await start('db', path);
    expect(third.restored).toBe(5);
    expect((await third.store.getJob(jobs[3]!.id))?.status).toBe('running');
    expect(await third.store.getJob(jobs[2]!.id)).toBeUndefined();
  });

  it('a document deleted and created again keeps its last version', async () => {
    const path = join(dir, 'db.jsonl');
    const first = await start('db', path);
    const container = first.database.container(BATCHES_CONTAINER);
    await container.items.create({ id: 'x', v: 1 });
    await container.item('x', 'x').delete();
    await container.items.create({ id: 'x', v: 2 });
    await container.items.create({ id: 'y', v: 1 });
    await container.item('y', 'y').delete();
    await stop(first);
    const second = await start('db', path);
    expect(second.restored).toBe(1);
    expect(await allIds(second, BATCHES_CONTAINER)).toEqual(['x']);
    const { resource } = await second.database.container(BATCHES_CONTAINER).item('x', 'x').read<{ v: number }>();
    expect(resource?.v).toBe(2);
  });

  it('journals a replace as one record, so a crash in the middle cannot lose the document', async () => {
    const path = join(dir, 'db.jsonl');
    const first = await start('db', path);
    const [job] = await seed(first, 'b', 1);
    const before = journalLines(path).length;
    await first.store.updateJob(job!.id, { status: 'waiting', at: T1 });
    await first.database.container(JOBS_CONTAINER).items.upsert({ ...job!, status: 'running' });
    const written = journalLines(path).slice(before);
    expect(written.map((l) => (l.doc ? `doc ${l.doc.id}` : `del ${String(l.del)}`))).toEqual([`doc ${job!.id}`, `doc ${job!.id}`]);
    // Whichever line a kill -9 tears, the job is still there on the next start.
    await stop(first);
    const content = readFileSync(path, 'utf8');
    writeFileSync(path, content.slice(0, content.length - 10)); // the last replace torn mid-line
    const second = await start('db', path);
    expect((await second.store.getJob(job!.id))?.status).toBe('waiting');
  });

  it('ignores a torn last line left by a crash', async () => {
    const path = join(dir, 'db.jsonl');
    const first = await start('db', path);
    const jobs = await seed(first, 'b', 2);
    await stop(first);
    appendFileSync(path, `{"c":"jobs","pk":"b-job-9","doc":{"id":"b-job-9","batchId":"b","sta`);
    const second = await start('db', path);
    expect(second.restored).toBe(3);
    expect(await allIds(second, JOBS_CONTAINER)).toEqual(jobs.map((j) => j.id).sort());
    // The torn bytes are gone from the file: new writes are whole lines that read back.
    await second.database.container(BATCHES_CONTAINER).items.create({ id: 'after' });
    await stop(second);
    const third = await start('db', path);
    expect(third.restored).toBe(4);
    expect(await allIds(third, BATCHES_CONTAINER)).toEqual(['after', 'b']);
  });

  it('keeps documents written in bulk (executeBulkOperations)', async () => {
    const path = join(dir, 'db.jsonl');
    const first = await start('db', path);
    const jobs = await seed(first, 'bulk', 101); // above the store's point-create limit
    await stop(first);
    const second = await start('db', path);
    expect(second.restored).toBe(102);
    expect(await second.store.countByStatus('bulk')).toMatchObject({ queued: 101 });
    expect(await second.store.getJob(jobs[100]!.id)).toEqual(jobs[100]);
  });
});

describe('startLocalCosmos, several servers in one process', () => {
  it('never writes into another server’s journal', async () => {
    const pathA = join(dir, 'a.jsonl');
    const pathC = join(dir, 'c.jsonl');
    const [a, b, c] = await Promise.all([start('db', pathA), start('db'), start('db', pathC)]);
    // Interleaved and concurrent writes on all three.
    await Promise.all([seed(a, 'in-a', 3), seed(b, 'in-b', 3), seed(c, 'in-c', 3)]);
    await Promise.all([
      a.store.updateJob('in-a-job-0', { status: 'waiting', at: T1 }),
      b.store.updateJob('in-b-job-0', { status: 'waiting', at: T1 }),
      c.database.container(JOBS_CONTAINER).item('in-c-job-1', 'in-c-job-1').delete(),
      b.database.container(JOBS_CONTAINER).item('in-b-job-1', 'in-b-job-1').delete(),
    ]);
    const idsIn = (path: string) => [...new Set(journalLines(path).map((l) => l.doc?.id ?? l.del ?? ''))].sort();
    expect(idsIn(pathA)).toEqual(['in-a', 'in-a-job-0', 'in-a-job-1', 'in-a-job-2']);
    expect(idsIn(pathC)).toEqual(['in-c', 'in-c-job-0', 'in-c-job-1', 'in-c-job-2']);
    await Promise.all([stop(a), stop(b), stop(c)]);

    const [a2, b2, c2] = await Promise.all([start('db', pathA), start('db'), start('db', pathC)]);
    expect([a2.restored, b2.restored, c2.restored]).toEqual([4, 0, 3]);
    expect(await allIds(a2, JOBS_CONTAINER)).toEqual(['in-a-job-0', 'in-a-job-1', 'in-a-job-2']);
    expect(await allIds(b2, JOBS_CONTAINER)).toEqual([]);
    expect(await allIds(c2, JOBS_CONTAINER)).toEqual(['in-c-job-0', 'in-c-job-2']);
    expect((await a2.store.getJob('in-a-job-0'))?.status).toBe('waiting');
  });

  it('without a journal keeps nothing across a restart', async () => {
    const first = await start('db');
    await seed(first, 'gone', 1);
    await stop(first);
    const second = await start('db');
    expect(second.restored).toBe(0);
    expect(await allIds(second, JOBS_CONTAINER)).toEqual([]);
  });
});
