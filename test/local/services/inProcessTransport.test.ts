/**
 * The local Cosmos server reached in process (the runtime's default) answers the real SDK exactly as
 * over HTTPS: the same documents, system properties, status codes (404, 409, 412), continuation pages,
 * queries, patches and deletes; and writes made either way are journaled the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Container, CosmosClient, ErrorResponse } from '@azure/cosmos';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOBS_CONTAINER } from '../../../src/lib/store/cosmosJobStore.js';
import { Journal } from '../../../src/local/persistence/journal.js';
import { EMULATOR_KEY, LocalCosmos, startLocalCosmos } from '../../../src/local/services/localCosmos.js';

let dir: string;
const running: LocalCosmos[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cosmos-transport-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(transport: 'in-process' | 'https', journal?: string): Promise<LocalCosmos> {
  const cosmos = await startLocalCosmos('db', { transport, ...(journal ? { journalPath: journal } : {}) });
  running.push(cosmos);
  return cosmos;
}

const statusOf = async (work: Promise<unknown>): Promise<number | undefined> => {
  try {
    await work;
    return 200;
  } catch (error) {
    return (error as ErrorResponse).code as number | undefined;
  }
};

/** One scripted session against a container; returns what the SDK saw, without volatile fields. */
async function session(jobs: Container): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (let n = 0; n < 7; n++) {
    const { statusCode } = await jobs.items.create({ id: `job-${n}`, batchId: 'b', status: n % 2 ? 'queued' : 'running', n, text: `ünïcödé ${n} ✓` });
    seen.push(statusCode);
  }
  seen.push(await statusOf(jobs.items.create({ id: 'job-0', batchId: 'b' })));
  const read = await jobs.item('job-1', 'job-1').read();
  seen.push(read.statusCode, Object.keys(read.resource ?? {}).sort(), read.resource?.text);
  seen.push((await jobs.item('nope', 'nope').read()).statusCode);
  seen.push(await statusOf(jobs.item('job-1', 'job-1').replace({ ...read.resource, n: 100 }, { accessCondition: { type: 'IfMatch', condition: '"stale"' } })));
  const replaced = await jobs.item('job-1', 'job-1').replace({ ...read.resource, n: 101 }, { accessCondition: { type: 'IfMatch', condition: read.resource!._etag } });
  seen.push(replaced.statusCode, replaced.resource?.n, replaced.etag !== read.etag);
  const patched = await jobs.item('job-2', 'job-2').patch([{ op: 'set', path: '/status', value: 'completed' }]);
  seen.push(patched.statusCode, patched.resource?.status);
  seen.push((await jobs.items.upsert({ id: 'job-7', batchId: 'b', status: 'queued', n: 7 })).statusCode);
  seen.push((await jobs.item('job-3', 'job-3').delete()).statusCode);
  seen.push(await statusOf(jobs.item('job-3', 'job-3').delete()));
  const count = await jobs.items
    .query<number>({ query: 'SELECT VALUE COUNT(1) FROM c WHERE c.batchId = @b AND ARRAY_CONTAINS(@s, c.status)', parameters: [{ name: '@b', value: 'b' }, { name: '@s', value: ['queued', 'running'] }] })
    .fetchAll();
  seen.push(count.resources);
  const pages: string[][] = [];
  const iterator = jobs.items.query<{ id: string }>('SELECT c.id FROM c ORDER BY c.n ASC', { maxItemCount: 3 });
  while (iterator.hasMoreResults()) {
    const page = await iterator.fetchNext();
    if (page.resources.length > 0) pages.push(page.resources.map((r) => r.id));
  }
  seen.push(pages);
  return seen;
}

describe('the local Cosmos server in process', () => {
  it('answers the SDK as it does over HTTPS', async () => {
    const inProcess = await start('in-process');
    const https = await start('https');
    const a = await session(inProcess.database.container(JOBS_CONTAINER));
    const b = await session(https.database.container(JOBS_CONTAINER));
    expect(a).toEqual(b);
    expect(a[7]).toBe(409);
    expect(a[11]).toBe(404);
    expect(a[12]).toBe(412);
  });

  it('serves one set of documents to in-process and network clients alike', async () => {
    const cosmos = await start('in-process');
    await cosmos.database.container(JOBS_CONTAINER).items.create({ id: 'shared', batchId: 'b', status: 'queued' });
    const client = new CosmosClient({ endpoint: cosmos.endpoint, key: EMULATOR_KEY, connectionPolicy: { enableEndpointDiscovery: false }, agent: new (await import('node:https')).Agent({ rejectUnauthorized: false }) });
    const { resource } = await client.database('db').container(JOBS_CONTAINER).item('shared', 'shared').read();
    expect(resource?.status).toBe('queued');
  });

  it('journals writes before answering, as over HTTPS', async () => {
    const path = join(dir, 'db.jsonl');
    const cosmos = await start('in-process', path);
    await cosmos.database.container(JOBS_CONTAINER).items.create({ id: 'kept', batchId: 'b', status: 'queued' });
    // The create has been answered: its record is already in the file.
    expect(Journal.read<{ doc?: { id: string } }>(path).some((r) => r.doc?.id === 'kept')).toBe(true);
  });
});
