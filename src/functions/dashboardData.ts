/**
 * `GET /api/dashboard/data`: one snapshot for the dashboard page: every deployment's gate (read from
 * its `tokenGate` entity, which answers reads without queueing behind operations), open jobs per
 * deployment, the newest batches' progress and the latest failures. Ids, counts and error codes only.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { FinishedCountsCache, dashboardData as snapshot } from '../lib/dashboard/snapshot.js';
import { services } from '../lib/services.js';
import { ENTITY_NAMES } from './names.js';

/** Kept per instance: finished batches are counted once, not on every poll. */
const finishedCounts = new FinishedCountsCache();

export async function dashboardData(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { settings, store } = await services();
  const client = df.getClient(context);
  const data = await snapshot({
    deployments: [settings.deployment],
    store,
    readGate: async (deployment) => {
      const read = await client.readEntityState<unknown>(new df.EntityId(ENTITY_NAMES.tokenGate, deployment));
      return read.entityExists ? read.entityState : undefined;
    },
    now: Date.now(),
    finishedCounts,
  });
  return { status: 200, headers: { 'cache-control': 'no-store' }, jsonBody: data };
}

app.http('dashboardData', {
  methods: ['GET'],
  route: 'dashboard/data',
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: dashboardData,
});
