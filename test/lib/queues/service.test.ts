/**
 * Queue operations on the Cosmos store (a local Cosmos-protocol server): create/update by name with
 * etags, a fixed id, conditional deletes, lookups by name or id. Two stores (two clients) on one
 * database stand for two instances of the app writing at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueInput, parseQueueInput } from '../../../src/lib/queues/queue.js';
import { QueueWriteConflictError } from '../../../src/lib/queues/queueStore.js';
import { QueueConflictError, deleteQueue, etagMatches, httpEtag, resolveQueue, upsertQueue } from '../../../src/lib/queues/service.js';
import { QUEUES_CONTAINER } from '../../../src/lib/queues/cosmosQueueStore.js';
import { CosmosJobStore, createCosmosJobStore } from '../../../src/lib/store/cosmosJobStore.js';
import { EMULATOR_KEY, LocalCosmos, startLocalCosmos } from '../../support/localCosmos.js';
import https from 'node:https';

let cosmos: LocalCosmos;
let store: CosmosJobStore;
let other: CosmosJobStore;
const none = { ifMatch: null, ifNoneMatch: null };
const input = (name: string, extra: Record<string, unknown> = {}): QueueInput => parseQueueInput({ queue_name: name, ...extra });

async function conflictOf(promise: Promise<unknown>): Promise<QueueConflictError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(QueueConflictError);
    return error as QueueConflictError;
  }
  throw new Error('expected a QueueConflictError');
}

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-queues');
  store = cosmos.store;
  other = await createCosmosJobStore({ endpoint: cosmos.endpoint, databaseId: 'tokengate-queues', key: EMULATOR_KEY, agent: new https.Agent({ rejectUnauthorized: false }) });
});
afterAll(() => cosmos.close());

describe('the queues container', () => {
  it('is created with the others, partitioned by /id, and a queue document is keyed by its name', async () => {
    const { resource } = await cosmos.database.container(QUEUES_CONTAINER).read();
    expect(resource?.partitionKey?.paths).toEqual(['/id']);
    const { stored } = await upsertQueue(store, input('doc-shape', { id: 'qid-doc' }), none);
    const { resource: doc } = await cosmos.database.container(QUEUES_CONTAINER).item('doc-shape', 'doc-shape').read<Record<string, unknown>>();
    expect(doc).toMatchObject({ id: 'doc-shape', queueId: 'qid-doc', limits: { windowSeconds: 60 } });
    expect(stored.queue.id).toBe('qid-doc');
  });
});

describe('upsertQueue', () => {
  it('creates, then updates in place: same id and created_at, new etag', async () => {
    const first = await upsertQueue(store, input('reports', { limit: 1000 }), none, () => new Date('2030-01-01T00:00:00Z'));
    expect(first.created).toBe(true);
    expect(first.stored.queue).toMatchObject({ name: 'reports', limits: { tokens: 1000 }, createdAt: '2030-01-01T00:00:00.000Z' });
    expect(first.stored.queue.id).toMatch(/^queue_[A-Za-z0-9_-]{16}$/);
    const second = await upsertQueue(store, input('reports', { limit: 2000 }), none, () => new Date('2030-01-02T00:00:00Z'));
    expect(second.created).toBe(false);
    expect(second.stored.queue).toMatchObject({ id: first.stored.queue.id, limits: { tokens: 2000 }, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-02T00:00:00.000Z' });
    expect(second.stored.etag).not.toBe(first.stored.etag);
    expect((await store.getQueue('reports'))?.etag).toBe(second.stored.etag);
  });

  it('with If-Match, updates only the version named: a stale etag is 412 and changes nothing', async () => {
    const { stored } = await upsertQueue(store, input('etagged', { limit: 1 }), none);
    const tag = httpEtag(stored.etag);
    const updated = await upsertQueue(store, input('etagged', { limit: 2 }), { ifMatch: tag, ifNoneMatch: null });
    // The first writer's etag is now stale: a second update based on it loses.
    const stale = await conflictOf(upsertQueue(other, input('etagged', { limit: 3 }), { ifMatch: tag, ifNoneMatch: null }));
    expect([stale.status, stale.code]).toEqual([412, 'precondition_failed']);
    expect((await store.getQueue('etagged'))?.queue.limits.tokens).toBe(2);
    // The current one (weak form and lists too) wins; `*` matches any existing version.
    await upsertQueue(other, input('etagged', { limit: 4 }), { ifMatch: `"nope", W/${httpEtag(updated.stored.etag)}`, ifNoneMatch: null });
    await upsertQueue(store, input('etagged', { limit: 5 }), { ifMatch: '*', ifNoneMatch: null });
    expect((await store.getQueue('etagged'))?.queue.limits.tokens).toBe(5);
    // If-Match on a queue that does not exist creates nothing.
    expect((await conflictOf(upsertQueue(store, input('never-made'), { ifMatch: tag, ifNoneMatch: null }))).status).toBe(412);
    expect(await store.getQueue('never-made')).toBeUndefined();
  });

  it('with If-None-Match: *, only creates', async () => {
    await upsertQueue(store, input('create-only'), { ifMatch: null, ifNoneMatch: '*' });
    expect((await conflictOf(upsertQueue(store, input('create-only'), { ifMatch: null, ifNoneMatch: '*' }))).status).toBe(412);
  });

  it('keeps an id fixed and unique', async () => {
    await upsertQueue(store, input('fixed', { id: 'fixed-id' }), none);
    expect((await upsertQueue(store, input('fixed'), none)).stored.queue.id).toBe('fixed-id');
    const changed = await conflictOf(upsertQueue(store, input('fixed', { id: 'another-id' }), none));
    expect([changed.status, changed.code]).toEqual([409, 'id_conflict']);
    const taken = await conflictOf(upsertQueue(store, input('thief', { id: 'fixed-id' }), none));
    expect([taken.status, taken.code]).toEqual([409, 'id_conflict']);
    expect(await store.getQueue('thief')).toBeUndefined();
  });

  it('without preconditions, concurrent writers never fail and the last one wins whole', async () => {
    await upsertQueue(store, input('contended'), none);
    const writes = Array.from({ length: 4 }, (_, i) => upsertQueue(i % 2 === 0 ? store : other, input('contended', { limit: 100 + i, requests_per_window: 10 + i }), none));
    const results = await Promise.all(writes);
    expect(results.every((r) => !r.created)).toBe(true);
    const final = (await store.getQueue('contended'))!.queue;
    // Whole, never a mix of two writers' fields.
    expect(final.limits.requests! - final.limits.tokens!).toBe(10 - 100);
  });
});

describe('the store under the service', () => {
  it('refuses a replace with a stale etag and a create of a taken name', async () => {
    const { stored } = await upsertQueue(store, input('raw'), none);
    await upsertQueue(other, input('raw', { limit: 9 }), none);
    await expect(store.replaceQueue(stored.queue, stored.etag)).rejects.toBeInstanceOf(QueueWriteConflictError);
    await expect(store.createQueue(stored.queue)).rejects.toMatchObject({ reason: 'exists' });
  });
});

describe('deleteQueue and lookups', () => {
  it('deletes, honouring If-Match; an unknown queue is false', async () => {
    const { stored } = await upsertQueue(store, input('doomed'), none);
    expect((await conflictOf(deleteQueue(store, 'doomed', '"stale"'))).status).toBe(412);
    expect(await deleteQueue(store, 'doomed', httpEtag(stored.etag))).toBe(true);
    expect(await store.getQueue('doomed')).toBeUndefined();
    expect(await deleteQueue(store, 'doomed', null)).toBe(false);
    expect(await deleteQueue(store, 'doomed', '*')).toBe(false);
  });

  it('resolves a submission\'s queue by name, then by id; anything else is unknown', async () => {
    await upsertQueue(store, input('by-name', { id: 'by-id' }), none);
    expect((await resolveQueue(store, 'by-name'))?.id).toBe('by-id');
    expect((await resolveQueue(store, 'by-id'))?.name).toBe('by-name');
    expect(await resolveQueue(store, 'missing')).toBeUndefined();
    expect(await resolveQueue(store, 'a/b?c')).toBeUndefined();
  });

  it('lists every queue by name', async () => {
    const names = (await store.listQueues()).map((q) => q.queue.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['by-name', 'reports', 'etagged']));
  });

  it('matches ETags like HTTP: quoted, weak or not, lists and *', () => {
    expect(httpEtag('abc')).toBe('"abc"');
    expect(httpEtag('"abc"')).toBe('"abc"');
    expect(etagMatches('"abc"', 'abc')).toBe(true);
    expect(etagMatches('W/"abc"', '"abc"')).toBe(true);
    expect(etagMatches('"x", "abc"', 'abc')).toBe(true);
    expect(etagMatches('*', 'anything')).toBe(true);
    expect(etagMatches('"abd"', 'abc')).toBe(false);
  });
});
