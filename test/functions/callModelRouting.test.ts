/**
 * callModel sends each job where it was routed: the default path through the app's gateway, a queue's
 * Azure deployment through the same account (endpoint, auth) under that deployment's name. A local
 * server speaking the Azure OpenAI protocol records the path of every call.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callModel } from '../../src/functions/callModel.js';
import { loadSettings } from '../../src/lib/config.js';
import { newJobs } from '../../src/lib/jobs/newJobs.js';
import { ProviderConfig } from '../../src/lib/model/providers.js';
import { modelGatewayFor, useServices } from '../../src/lib/services.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';

let cosmos: LocalCosmos;
let server: http.Server;
const paths: string[] = [];
const context = () => new InvocationContext({ invocationId: 'r', functionName: 'callModel', logHandler: () => undefined });

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-routing');
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      paths.push(new URL(req.url ?? '/', 'http://x').pathname);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const settings = loadSettings({ AZURE_OPENAI_ENDPOINT: endpoint, AZURE_OPENAI_API_KEY: 'routing-test-key', AZURE_OPENAI_DEPLOYMENT: 'gpt-4o', MODEL_TIMEOUT_SECONDS: '5' });
  useServices({ settings, store: cosmos.store, model: modelGatewayFor(settings) });
});
afterAll(async () => {
  await cosmos.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function jobRoutedTo(provider: ProviderConfig | null): Promise<string> {
  const { batch, jobs } = newJobs(
    { items: [{ customId: null, request: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 } }], priority: 'batch', metadata: null, webhook: null },
    {
      deployment: provider?.type === 'azure_openai' ? provider.deployment : 'gpt-4o',
      model: 'gpt-4o',
      defaultMaxTokens: 10,
      maxCharge: 100_000,
      kind: 'chat',
      now: new Date(),
      ...(provider ? { provider, queue: { id: 'queue_x', name: 'x' } } : {}),
    },
  );
  await cosmos.store.createBatch(batch, jobs);
  return jobs[0]!.id;
}

describe('callModel routing', () => {
  it('takes the default path for a job without a provider, and for the app deployment named by a queue', async () => {
    for (const provider of [null, { type: 'azure_openai', deployment: 'gpt-4o', model: null } as const]) {
      const jobId = await jobRoutedTo(provider);
      expect(await callModel({ jobId, sendBy: Date.now() + 10_000, attempt: 1 }, context())).toMatchObject({ kind: 'completed' });
      expect(paths[paths.length - 1]).toBe('/openai/deployments/gpt-4o/chat/completions');
    }
  });

  it("sends a queue's other Azure deployment to that deployment on the same account", async () => {
    const jobId = await jobRoutedTo({ type: 'azure_openai', deployment: 'gpt-4o-mini-eu', model: 'gpt-4o-mini' });
    expect(await callModel({ jobId, sendBy: Date.now() + 10_000, attempt: 1 }, context())).toMatchObject({ kind: 'completed' });
    expect(paths[paths.length - 1]).toBe('/openai/deployments/gpt-4o-mini-eu/chat/completions');
  });
});
