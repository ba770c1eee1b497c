/**
 * Hostile queue payloads (issue #8, point 3) for the two triggers, with a real DurableClient on the local
 * engine and the Cosmos store on the local server. What each trigger promises, and so what is tested:
 *
 * - processFeedback (Service Bus `feedback-in`): a message that is a feedback form starts its one job
 *   (again: nothing new); any other message fails with FeedbackFormError on every delivery, writing
 *   nothing, which is the designed dead-letter path (the Node model cannot dead-letter explicitly, so
 *   Service Bus moves it after the queue's max delivery count). No other error, for no payload: that
 *   would be retried and dead-lettered for a reason the log does not name.
 * - dispatchJobs (Event Hub `jobs`, cardinality many): never throws for a malformed event, because a
 *   throw redelivers the whole batch and blocks the partition for good. A malformed or unknown event is
 *   dropped ('unknown_job') and logged without its content; the good events in the same batch start.
 *
 * Both always settle (a hang would hold the message lock or the partition).
 */
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchJobs } from '../../src/functions/dispatchJobs.js';
import { ORCHESTRATION_NAMES } from '../../src/functions/names.js';
import { processFeedback } from '../../src/functions/processFeedback.js';
import { loadSettings } from '../../src/lib/config.js';
import { FeedbackFormError, feedbackJobId, MAX_FEEDBACK_CHARS } from '../../src/lib/jobs/feedback.js';
import { newJobs } from '../../src/lib/jobs/newJobs.js';
import { DispatchMessage } from '../../src/lib/jobs/pipeline.js';
import { useServices } from '../../src/lib/services.js';
import { ClientApi, startClientApi } from '../../src/local/durable/clientApi.js';
import { DurableEngine } from '../../src/local/durable/engine.js';
import { orchestratorExecutor } from '../../src/local/durable/orchestrationDriver.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { unreachableModel } from '../support/models.js';

let cosmos: LocalCosmos;
let engine: DurableEngine;
let api: ClientApi;
const durableClient = df.input.durableClient();
const settings = loadSettings({});

/** Stands in for runJob: holds its instance open, so the test sees only what the trigger did. */
const parked: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3_600_000));
};

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-triggers-fuzz');
  useServices({ settings, store: cosmos.store, model: unreachableModel });
  engine = new DurableEngine({ orchestrations: new Map([[ORCHESTRATION_NAMES.runJob, orchestratorExecutor(parked)]]), activities: new Map(), entities: new Map() });
  api = await startClientApi(engine);
});
afterAll(async () => {
  engine.stop();
  await api.close();
  await cosmos.close();
});

function invocation(functionName: string, triggerMetadata: Record<string, unknown>, logs: string[]): InvocationContext {
  const c = new InvocationContext({ invocationId: `${functionName}-fuzz`, functionName, triggerMetadata, options: { extraInputs: [durableClient] }, logHandler: (_level, ...parts) => logs.push(parts.map(String).join(' ')) });
  c.extraInputs.set(durableClient, api.clientData);
  return c;
}

/** Settles within `ms` or fails the test: a trigger that hangs holds its lock or its partition. */
async function settled<T>(work: Promise<T>, ms = 10_000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms)));
  try {
    return { ok: true, value: await Promise.race([work, timeout]) };
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('did not settle')) throw error;
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// processFeedback

/** The form contract, stated independently of the parser: what must be analysed, and what must fail. */
function isForm(body: unknown): boolean {
  let value = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(body.toString());
    } catch {
      return false;
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  const optional = (v: unknown, max: number) => v === undefined || v === null || (typeof v === 'string' && v.length <= max);
  return (
    typeof o.text === 'string' &&
    o.text.trim() !== '' &&
    o.text.length <= MAX_FEEDBACK_CHARS &&
    (o.rating === undefined || o.rating === null || (typeof o.rating === 'number' && Number.isInteger(o.rating) && o.rating >= 1 && o.rating <= 5)) &&
    optional(o.id, 256) &&
    optional(o.customer, 256) &&
    optional(o.channel, 64)
  );
}

const anyJson = fc.jsonValue({ maxDepth: 3 });
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !s.includes('<|')), fc.constantFrom('', '   ', '\u0000', 'x'.repeat(MAX_FEEDBACK_CHARS), 'x'.repeat(MAX_FEEDBACK_CHARS + 1)));
const formish = fc.record(
  {
    text: fc.oneof(text, anyJson),
    rating: fc.oneof(fc.integer({ min: -2, max: 7 }), fc.double({ noNaN: true, noDefaultInfinity: true }), anyJson),
    id: fc.oneof(fc.string({ maxLength: 300 }), anyJson),
    customer: fc.oneof(fc.string({ maxLength: 300 }), anyJson),
    channel: fc.oneof(fc.string({ maxLength: 80 }), anyJson),
    extra: anyJson,
  },
  { requiredKeys: [] },
);
/** Forms the contract accepts, so the accepting branch is always exercised. */
const validForm = fc.record(
  {
    text: fc.string({ minLength: 1, maxLength: 200 }).filter((t) => t.trim() !== '' && !t.includes('<|')),
    rating: fc.integer({ min: 1, max: 5 }),
    id: fc.string({ maxLength: 40 }),
    customer: fc.string({ maxLength: 40 }),
    channel: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: ['text'] },
);
const deep = (depth: number) => `{"text":"deep","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
/** A message body as the trigger may get it: parsed JSON, JSON text, raw bytes (invalid UTF-8 too). */
const feedbackBody = fc.oneof(
  { arbitrary: validForm, weight: 2 },
  { arbitrary: validForm.map((form) => JSON.stringify(form)), weight: 2 },
  formish,
  formish.map((form) => JSON.stringify(form)),
  formish.map((form) => Buffer.from(JSON.stringify(form), 'utf8')),
  anyJson,
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.uint8Array({ maxLength: 100 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom<unknown>(
    '',
    'null',
    '[]',
    '{"text":',
    deep(10_000),
    Buffer.from(deep(100_000)),
    Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    JSON.stringify({ text: 'z'.repeat(10 * 1024 * 1024) }),
    { text: 'ok', __proto__: { polluted: true } },
  ),
);

describe('processFeedback under hostile messages', () => {
  it('starts the one job of a form, fails anything else with FeedbackFormError writing nothing, on every delivery', async () => {
    let delivery = 0;
    const seen = { forms: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(feedbackBody, fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', '../..', 'a/b#?', 'x'.repeat(10_000))), async (body, rawId) => {
        const messageId = `${rawId}-${(delivery += 1)}`;
        const expected = isForm(body);
        seen[expected ? 'forms' : 'refused'] += 1;
        for (const attempt of [1, 2]) {
          const before = await cosmos.countJobs();
          const logs: string[] = [];
          const outcome = await settled(processFeedback(body, invocation('processFeedback', { messageId, deliveryCount: attempt, enqueuedTimeUtc: 'not a date' }, logs)));
          const after = await cosmos.countJobs();
          if (expected) {
            expect(outcome, String(!outcome.ok && outcome.error)).toEqual({ ok: true, value: attempt === 1 ? 'started' : 'already_started' });
            expect(after - before).toBe(attempt === 1 ? 1 : 0);
            expect((await cosmos.store.getJob(feedbackJobId(messageId)))?.kind).toBe('feedback');
          } else {
            expect(outcome.ok).toBe(false);
            expect(!outcome.ok && outcome.error).toBeInstanceOf(FeedbackFormError);
            expect(after).toBe(before);
            // The reason is logged by field, never with the message's content.
            expect(logs.join('\n')).toMatch(/cannot be analysed .*dead-letter/);
          }
        }
      }),
      { numRuns: 100 },
    );
    // Both branches were really exercised.
    expect(seen.forms).toBeGreaterThan(5);
    expect(seen.refused).toBeGreaterThan(5);
  });

  // Same cause as in producer.fuzz.test.ts: the tokenizer throws on a special token's spelling, so this
  // valid form fails with a plain Error on every delivery and is dead-lettered for a reason no log names.
  it('analyses feedback that spells a special token (<|endoftext|>)', async () => {
    expect(await processFeedback({ text: 'The bot printed <|endoftext|> at me' }, invocation('processFeedback', { messageId: 'special-token' }, []))).toBe('started');
  });
});

// ---------------------------------------------------------------------------------------------
// dispatchJobs

async function queuedMessage(): Promise<DispatchMessage> {
  const { batch, jobs } = newJobs(
    { items: [{ customId: null, request: { messages: [{ role: 'user', content: 'hi' }] } }], priority: 'batch', metadata: null, webhook: null },
    { deployment: 'gpt-4o', model: 'gpt-4o', defaultMaxTokens: 10, maxCharge: 100_000, kind: 'chat', now: new Date() },
  );
  await cosmos.store.createBatch(batch, jobs);
  const job = jobs[0]!;
  return { jobId: job.id, deployment: job.deployment, charge: job.charge, priority: job.priority };
}

/** Text that must never reach a log line, whatever field of an event carries it. */
const CANARY = 'PROMPT-CANARY tell me the secret';
const hostileJobId = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '.', '..', '/', 'a/b', '\\', '#', '?', '\ud800', '\u0000', ' ', 'x'.repeat(300), 'x'.repeat(1_000_000), CANARY),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => `req_${Buffer.from(bytes).toString('base64url')}`),
  fc.jsonValue({ maxDepth: 2 }),
);
const hostileEvent = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ jobId: hostileJobId, deployment: fc.jsonValue({ maxDepth: 1 }), charge: fc.jsonValue({ maxDepth: 1 }), priority: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ['jobId'] }),
  hostileJobId.map((jobId) => JSON.stringify({ jobId })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom<unknown>(undefined, null, [], {}, { jobId: null }, JSON.parse('{"__proto__":{"jobId":"req_x"}}'), { jobId: CANARY, prompt: CANARY }),
);

describe('dispatchJobs under hostile events', () => {
  it('drops every malformed or unknown event without throwing or logging its content, and starts the good ones beside them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileEvent, { maxLength: 12 }), fc.integer({ min: 0, max: 3 }), async (hostile, goodCount) => {
        const good = await Promise.all(Array.from({ length: goodCount }, queuedMessage));
        // Good events anywhere among the bad, and one of them twice (Event Hubs delivers at least once).
        const events: unknown[] = [...hostile];
        for (const [i, message] of good.entries()) events.splice((i * 7) % (events.length + 1), 0, message);
        if (good[0]) events.push({ ...good[0] });
        const before = await cosmos.countJobs();
        const logs: string[] = [];
        const outcome = await settled(dispatchJobs(events, invocation('dispatchJobs', { enqueuedTimeUtcArray: ['garbage', null, 42] }, logs)));
        expect(outcome.ok, String(!outcome.ok && outcome.error)).toBe(true);
        const results = (outcome as { value: string[] }).value;
        expect(results).toHaveLength(events.length);
        const goodIds = new Set(good.map((m) => m.jobId));
        events.forEach((event, i) => {
          const id = (event as { jobId?: unknown } | null | undefined)?.jobId;
          if (typeof id === 'string' && goodIds.has(id)) expect(['started', 'already_started']).toContain(results[i]);
          else expect(results[i]).toBe('unknown_job');
        });
        // Each good job started exactly once, however often its event came.
        expect(results.filter((r) => r === 'started')).toHaveLength(good.length);
        for (const { jobId } of good) expect((await cosmos.store.getJob(jobId))?.status).toBe('waiting');
        // Hostile events write nothing.
        expect(await cosmos.countJobs()).toBe(before);
        expect(logs.join('\n')).not.toContain(CANARY);
        expect(Math.max(0, ...logs.map((l) => l.length))).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
  });
});
