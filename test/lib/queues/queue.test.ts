/** The queue body: every field validated, every problem named, secrets refused; the routing it implies. */
import { describe, expect, it } from 'vitest';
import { QueueValidationError, parseQueueInput, queueBody } from '../../../src/lib/queues/queue.js';
import { routeFor } from '../../../src/lib/queues/routing.js';

function issues(body: unknown): string[] {
  try {
    parseQueueInput(body);
  } catch (error) {
    expect(error).toBeInstanceOf(QueueValidationError);
    return (error as QueueValidationError).issues.map((i) => i.field);
  }
  throw new Error('expected a QueueValidationError');
}

const openai = { type: 'openai_compatible', base_url: 'https://api.openai.com/v1/', model: 'gpt-4o-mini', api_key_setting: 'PROVIDER_OPENAI_API_KEY' };

describe('parseQueueInput', () => {
  it('takes the seed shape: name, id, providers, limit per time_window, requests per window, priority', () => {
    const input = parseQueueInput({
      queue_name: 'reports',
      id: 'q-reports',
      providers: [{ type: 'azure_openai', deployment: 'gpt-4o-eu' }, openai],
      limit: 20_000,
      time_window: 30,
      requests_per_window: 40,
      priority: 'interactive',
    });
    expect(input).toEqual({
      id: 'q-reports',
      name: 'reports',
      providers: [
        { type: 'azure_openai', deployment: 'gpt-4o-eu', model: null },
        // The trailing slash goes: the client appends /chat/completions.
        { type: 'openai_compatible', baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini', apiKeySetting: 'PROVIDER_OPENAI_API_KEY' },
      ],
      limits: { tokens: 20_000, requests: 40, windowSeconds: 30 },
      priority: 'interactive',
    });
  });

  it('defaults: no id, no providers (the app deployment), no limits, a 60 s window, batch priority', () => {
    expect(parseQueueInput({ queue_name: 'q1' })).toEqual({ id: null, name: 'q1', providers: [], limits: { tokens: null, requests: null, windowSeconds: 60 }, priority: 'batch' });
  });

  it('names every bad field at once', () => {
    expect(
      issues({
        queue_name: 'bad name/',
        id: '',
        limit: 0,
        time_window: -1,
        requests_per_window: 1.5,
        priority: 'urgent',
        limt: 5,
      }),
    ).toEqual(['limt', 'queue_name', 'id', 'limit', 'requests_per_window', 'time_window', 'priority']);
    expect(issues([])).toEqual(['']);
    expect(issues({})).toEqual(['queue_name']);
  });

  it('validates each provider by its type', () => {
    expect(
      issues({
        queue_name: 'q',
        providers: [
          { type: 'bedrock' },
          { type: 'azure_openai' },
          { type: 'openai_compatible', base_url: 'http://example.com/v1', model: 'm', api_key_setting: 'PROVIDER_X' },
          { type: 'openai_compatible', base_url: 'https://user:pw@example.com/v1', model: 'm', api_key_setting: 'PROVIDER_X' },
          { type: 'openai_compatible', base_url: 'https://example.com/v1?key=1', model: '', api_key_setting: 'PROVIDER_X' },
          'not an object',
        ],
      }),
    ).toEqual(['providers[0].type', 'providers[1].deployment', 'providers[2].base_url', 'providers[3].base_url', 'providers[4].model', 'providers[4].base_url', 'providers[5]']);
    expect(issues({ queue_name: 'q', providers: 'gpt-4o' })).toEqual(['providers']);
    expect(issues({ queue_name: 'q', providers: Array.from({ length: 9 }, () => openai) })).toEqual(['providers']);
    // Local servers over plain http on loopback are fine.
    expect(parseQueueInput({ queue_name: 'q', providers: [{ ...openai, base_url: 'http://127.0.0.1:8000/v1' }] }).providers[0]).toMatchObject({ baseUrl: 'http://127.0.0.1:8000/v1' });
  });

  it('never takes a secret: only the name of a PROVIDER_ app setting holding it', () => {
    expect(issues({ queue_name: 'q', providers: [{ ...openai, api_key: 'sk-live-123' }] })).toEqual(['providers[0].api_key']);
    try {
      parseQueueInput({ queue_name: 'q', providers: [{ ...openai, api_key: 'sk-live-123' }] });
    } catch (error) {
      expect((error as Error).message).toMatch(/secrets are never stored/);
      expect((error as Error).message).not.toContain('sk-live-123');
    }
    // Settings of the app's own (a queue could otherwise send them to any endpoint) and odd names are refused.
    for (const setting of ['COSMOS_KEY', 'WEBHOOK_SIGNING_SECRET', 'AZURE_OPENAI_API_KEY', 'PROVIDER_', 'PROVIDER_X-KEY', 'sk-123', undefined]) {
      expect(issues({ queue_name: 'q', providers: [{ ...openai, api_key_setting: setting }] })).toEqual(['providers[0].api_key_setting']);
    }
  });

  it('shows the setting name, never a value, in the API body', () => {
    const input = parseQueueInput({ queue_name: 'q', providers: [openai] });
    const body = queueBody({ ...input, id: 'queue_1', createdAt: 't0', updatedAt: 't1' }, '"e1"');
    expect(body).toEqual({
      id: 'queue_1',
      queue_name: 'q',
      providers: [{ type: 'openai_compatible', base_url: 'https://api.openai.com/v1', model: 'gpt-4o-mini', api_key_setting: 'PROVIDER_OPENAI_API_KEY' }],
      limit: null,
      time_window: 60,
      requests_per_window: null,
      priority: 'batch',
      created_at: 't0',
      updated_at: 't1',
      etag: '"e1"',
    });
  });
});

describe('routeFor', () => {
  const app = { deployment: 'gpt-4o', model: 'gpt-4o', tokensPerMinute: 30_000 };
  const queue = (body: Record<string, unknown>) => ({ ...parseQueueInput({ queue_name: 'q', ...body }), id: 'queue_1', createdAt: 't', updatedAt: 't' });

  it('leaves the default path alone without a queue', () => {
    expect(routeFor(null, app)).toEqual({ deployment: 'gpt-4o', model: 'gpt-4o', maxCharge: 30_000, maxChargeName: "the deployment's whole quota", queue: null, provider: null, providers: null, priority: null });
  });

  it("routes a queue with several providers to the first, and lists them all, in order, for spillover", () => {
    const second = { type: 'openai_compatible', base_url: 'https://llm.example.com/v1', model: 'llama-3.1-70b', api_key_setting: 'PROVIDER_EXAMPLE_KEY' };
    const route = routeFor(queue({ providers: [openai, second, { type: 'azure_openai', deployment: 'gpt-4o-eu' }] }), app);
    expect(route.deployment).toBe('api.openai.com/gpt-4o-mini');
    expect(route.provider).toEqual({ type: 'openai_compatible', baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini', apiKeySetting: 'PROVIDER_OPENAI_API_KEY' });
    expect(route.providers).toEqual([
      route.provider,
      { type: 'openai_compatible', baseUrl: 'https://llm.example.com/v1', model: 'llama-3.1-70b', apiKeySetting: 'PROVIDER_EXAMPLE_KEY' },
      { type: 'azure_openai', deployment: 'gpt-4o-eu', model: null },
    ]);
    // A single provider (or none) has nothing to spill over to: nothing more is recorded.
    expect(routeFor(queue({ providers: [openai] }), app).providers).toBeNull();
    expect(routeFor(queue({}), app).providers).toBeNull();
  });

  it("routes to the queue's first provider, keyed for its gate, charged within the queue's limit", () => {
    const route = routeFor(queue({ providers: [openai, { type: 'azure_openai', deployment: 'x' }], limit: 5000, priority: 'interactive' }), app);
    expect(route).toMatchObject({
      deployment: 'api.openai.com/gpt-4o-mini',
      model: 'gpt-4o-mini',
      maxCharge: 5000,
      queue: { id: 'queue_1', name: 'q' },
      provider: { type: 'openai_compatible', model: 'gpt-4o-mini' },
      priority: 'interactive',
    });
    expect(route.maxChargeName).toMatch(/queue "q"'s limit per 60 s/);
  });

  it("uses the app's deployment (and its model) for a queue without providers; the quota binds when it is smaller", () => {
    expect(routeFor(queue({ limit: 100_000 }), app)).toMatchObject({
      deployment: 'gpt-4o',
      model: 'gpt-4o',
      maxCharge: 30_000,
      provider: { type: 'azure_openai', deployment: 'gpt-4o', model: 'gpt-4o' },
    });
  });
});
