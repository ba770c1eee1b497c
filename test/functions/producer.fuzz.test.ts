/**
 * Hostile input to `POST /api/producer` (issue #8, point 3), through the real handler and a real Cosmos
 * store on the local Cosmos-protocol server. Whatever the body (arbitrary JSON, malformed text, wrong types
 * at every field, unknown fields, huge strings, deep nesting, invalid UTF-8, 10 MB+, 100,000 items, JSONL
 * with bad lines), the answer is a 4xx with a JSON error naming the problem, or a 202 that recorded
 * exactly one job per item. Never a 5xx (a thrown handler), never a partial write: a refused call leaves
 * the store's job count as it was and sends no event.
 */
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsHub, producer } from '../../src/functions/producer.js';
import { AppSettings, loadSettings } from '../../src/lib/config.js';
import { DispatchMessage } from '../../src/lib/jobs/pipeline.js';
import { MAX_ITEM_BYTES, MAX_ITEM_DEPTH } from '../../src/lib/jobs/submission.js';
import { useServices } from '../../src/lib/services.js';
import { LocalCosmos, startLocalCosmos } from '../support/localCosmos.js';
import { unreachableModel } from '../support/models.js';

let cosmos: LocalCosmos;
/** Job documents in the store after the last call: one count per call instead of two keeps the runs fast. */
let stored = 0;
/** The defaults (10 MiB bodies, 10,000 items), so the big cases exercise the limits as deployed. */
const settings = loadSettings({});

function useSettings(chosen: AppSettings): void {
  useServices({ settings: chosen, store: cosmos.store, model: unreachableModel });
}

beforeAll(async () => {
  cosmos = await startLocalCosmos('tokengate-producer-fuzz');
  stored = await cosmos.countJobs();
  useSettings(settings);
});
afterAll(() => cosmos.close());

// ---------------------------------------------------------------------------------------------
// Calling the handler and judging the answer

interface Issue {
  readonly item: number | null;
  readonly field: string;
  readonly message: string;
}
interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly issues: readonly Issue[];
}
interface Outcome {
  readonly res: HttpResponseInit;
  readonly events: readonly DispatchMessage[];
  /** Job documents in the store before and after the call. */
  readonly before: number;
  readonly after: number;
}

type Body = string | Uint8Array;

async function call(body: Body, contentType: string | null = 'application/json', headers: Record<string, string> = {}): Promise<Outcome> {
  const context = new InvocationContext({ invocationId: 'fuzz', functionName: 'producer', logHandler: () => undefined });
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const request = new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/producer',
    headers: { ...(contentType === null ? {} : { 'content-type': contentType }), ...headers },
    body: { bytes },
  });
  const before = stored;
  // A throw here is what the host turns into a 500: the test fails on it.
  const res = await producer(request, context);
  const after = await cosmos.countJobs();
  stored = after;
  return { res, events: (context.extraOutputs.get(jobsHub) ?? []) as DispatchMessage[], before, after };
}

const json = (value: unknown) => JSON.stringify(value);
const jsonl = (lines: readonly unknown[]) => lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');

/** A 4xx with `{ error: { code, message, issues } }`, nothing written, no event. */
function refused(outcome: Outcome, status?: number): ErrorBody {
  const { res } = outcome;
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  if (status !== undefined) expect(res.status).toBe(status);
  // jsonBody is what the host serializes as application/json; it must survive that round trip.
  const body = JSON.parse(JSON.stringify(res.jsonBody)) as { error?: ErrorBody };
  expect(typeof body.error?.code).toBe('string');
  expect(body.error!.message.length).toBeGreaterThan(0);
  expect(Array.isArray(body.error!.issues)).toBe(true);
  expect(outcome.after).toBe(outcome.before);
  expect(outcome.events).toEqual([]);
  return body.error!;
}

/** A 202 that recorded exactly `items` jobs, each with one event. */
function accepted(outcome: Outcome, items: number): string[] {
  const { res } = outcome;
  expect(res.status, JSON.stringify(res.jsonBody)?.slice(0, 500)).toBe(202);
  const body = res.jsonBody as { batch_id: string; request_ids: string[] };
  expect(body.request_ids).toHaveLength(items);
  expect(new Set(body.request_ids).size).toBe(items);
  expect(outcome.after - outcome.before).toBe(items);
  expect(outcome.events.map((e) => e.jobId)).toEqual(body.request_ids);
  return body.request_ids;
}

/** Whatever came in: refused as above, or accepted as above. */
function sound(outcome: Outcome): void {
  if (outcome.res.status === 202) accepted(outcome, (outcome.res.jsonBody as { request_ids: string[] }).request_ids.length);
  else refused(outcome);
}

const names = (error: ErrorBody, item: number | null, field: string) =>
  expect(error.issues, JSON.stringify(error.issues).slice(0, 800)).toContainEqual(expect.objectContaining({ item, field }));

// ---------------------------------------------------------------------------------------------
// Arbitraries

const chat = (text = 'hello', extra: Record<string, unknown> = {}): Record<string, unknown> => ({ messages: [{ role: 'user', content: text }], max_tokens: 20, ...extra });
const line = (id: string, body: unknown = chat()): Record<string, unknown> => ({ custom_id: id, method: 'POST', url: '/chat/completions', body });

/** A JSON value of any type but those listed (undefined is not JSON; NaN and Infinity would turn into null). */
const jsonNot = (...excluded: ('null' | 'boolean' | 'number' | 'string' | 'array' | 'object')[]) => {
  const all = {
    null: fc.constant(null),
    boolean: fc.boolean(),
    number: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    string: fc.oneof(fc.string(), fc.constantFrom('', '\u0000', '../..', '%00', "'; --", '\ud800')),
    array: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    object: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  };
  return fc.oneof(...Object.entries(all).filter(([kind]) => !excluded.includes(kind as keyof typeof all)).map(([, arb]) => arb));
};
const notWhole = (min: number, max: number) =>
  fc.oneof(jsonNot('number', 'null'), fc.integer({ max: min - 1 }), fc.integer({ min: max + 1 }), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)));
const notInRange = (min: number, max: number) =>
  fc.oneof(jsonNot('number', 'null'), fc.double({ max: min, maxExcluded: true, noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)), fc.double({ min: max, minExcluded: true, noNaN: true, noDefaultInfinity: true }));

interface FieldCase {
  /** The path the error must name, inside the request. */
  readonly field: string;
  readonly wrong: fc.Arbitrary<unknown>;
  /** Puts the wrong value into a copy of a valid request. */
  readonly apply: (request: Record<string, unknown>, value: unknown) => Record<string, unknown>;
}
const at =
  (...path: (string | number)[]) =>
  (request: Record<string, unknown>, value: unknown): Record<string, unknown> => {
    const copy = structuredClone(request);
    let node: Record<string | number, unknown> = copy;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    node[path[path.length - 1]!] = value;
    return copy;
  };
const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

/** Every field the producer checks in a request, with values of the wrong type or out of range. */
const REQUEST_FIELDS: readonly FieldCase[] = [
  { field: 'messages', wrong: fc.oneof(jsonNot('array'), fc.constant([])), apply: at('messages') },
  { field: 'messages[0]', wrong: jsonNot('object'), apply: at('messages', 0) },
  { field: 'messages[0].role', wrong: fc.oneof(jsonNot('string'), fc.string().filter((s) => !ROLES.includes(s))), apply: at('messages', 0, 'role') },
  { field: 'messages[0].content', wrong: fc.oneof(jsonNot('string', 'array'), fc.constant([])), apply: at('messages', 0, 'content') },
  { field: 'messages[0].content[0]', wrong: jsonNot('object'), apply: (r, v) => at('messages', 0, 'content')(r, [v]) },
  { field: 'messages[0].content[0].type', wrong: fc.oneof(jsonNot('string'), fc.constant('')), apply: (r, v) => at('messages', 0, 'content')(r, [{ type: v, text: 'x' }]) },
  { field: 'messages[0].content[0].text', wrong: jsonNot('string'), apply: (r, v) => at('messages', 0, 'content')(r, [{ type: 'text', text: v }]) },
  { field: 'messages[0].content[0].image_url', wrong: jsonNot('object'), apply: (r, v) => at('messages', 0, 'content')(r, [{ type: 'image_url', image_url: v }]) },
  { field: 'messages[0].name', wrong: jsonNot('string'), apply: at('messages', 0, 'name') },
  { field: 'messages[0].tool_calls', wrong: jsonNot('array', 'null'), apply: at('messages', 0, 'tool_calls') },
  { field: 'messages[0].tool_call_id', wrong: jsonNot('string'), apply: at('messages', 0, 'tool_call_id') },
  { field: 'max_tokens', wrong: notWhole(1, 128_000), apply: at('max_tokens') },
  { field: 'max_completion_tokens', wrong: notWhole(1, 128_000), apply: at('max_completion_tokens') },
  { field: 'n', wrong: notWhole(1, 128), apply: at('n') },
  { field: 'best_of', wrong: notWhole(1, 128), apply: at('best_of') },
  { field: 'temperature', wrong: notInRange(0, 2), apply: at('temperature') },
  { field: 'top_p', wrong: notInRange(0, 1), apply: at('top_p') },
  { field: 'stream', wrong: fc.oneof(fc.constant(true), jsonNot('boolean', 'null')), apply: at('stream') },
  { field: 'supportive_variable', wrong: fc.integer({ min: 16_400, max: 40_000 }).map((n) => ({ blob: 'v'.repeat(n) })), apply: at('supportive_variable') },
];
/** The shorthand's own fields (a request without messages). */
const SHORTHAND_FIELDS: readonly FieldCase[] = [
  { field: 'prompt', wrong: fc.oneof(jsonNot('string'), fc.constant('')), apply: (r, v) => ({ ...withoutMessages(r), prompt: v }) },
  { field: 'system_prompt', wrong: fc.oneof(jsonNot('string', 'null'), fc.constant('')), apply: (r, v) => ({ ...withoutMessages(r), prompt: 'hi', system_prompt: v }) },
  { field: 'prompt', wrong: fc.constant('both'), apply: (r) => ({ ...r, prompt: 'hi' }) },
];
const withoutMessages = (request: Record<string, unknown>) => Object.fromEntries(Object.entries(request).filter(([key]) => key !== 'messages'));

const ENVELOPE_FIELDS: readonly { field: string; wrong: fc.Arbitrary<unknown> }[] = [
  { field: 'priority', wrong: fc.oneof(jsonNot('string', 'null'), fc.string().filter((s) => s !== 'batch' && s !== 'interactive')) },
  { field: 'metadata', wrong: fc.oneof(jsonNot('object', 'null'), fc.dictionary(fc.string({ minLength: 1 }), fc.integer(), { minKeys: 17, maxKeys: 20 })) },
  { field: 'webhook', wrong: fc.oneof(jsonNot('string', 'null'), fc.constantFrom('', 'not a url', 'ftp://example.com/x', 'http://example.com/hook', 'https://user:pw@example.com/', 'javascript:alert(1)', `https://e.com/${'x'.repeat(3000)}`)) },
  { field: 'queue', wrong: fc.oneof(jsonNot('string', 'null'), fc.constantFrom('', '   ', 'q'.repeat(65))) },
  { field: 'requests', wrong: fc.oneof(jsonNot('array'), fc.constant([])) },
];
const ENVELOPE_KEYS = ['requests', 'priority', 'metadata', 'webhook', 'queue'];

/** Where an item goes: alone, in an array, in an envelope, or as a JSONL line's body; `item` is its index. */
interface Wrapping {
  readonly name: string;
  readonly build: (bad: Record<string, unknown>, position: number) => { body: string; contentType: string; item: number; prefix: string };
}
const fillers = (n: number, tag: string) => Array.from({ length: n }, (_, i) => chat(`${tag} filler ${i}`));
const WRAPPINGS: readonly Wrapping[] = [
  { name: 'single', build: (bad) => ({ body: json(bad), contentType: 'application/json', item: 0, prefix: '' }) },
  { name: 'array', build: (bad, k) => ({ body: json([...fillers(k, 'a'), bad, ...fillers(2, 'b')]), contentType: 'application/json', item: k, prefix: '' }) },
  { name: 'envelope', build: (bad, k) => ({ body: json({ requests: [...fillers(k, 'a'), bad], priority: 'interactive' }), contentType: 'application/json', item: k, prefix: '' }) },
  {
    name: 'jsonl',
    build: (bad, k) => ({
      body: jsonl([...fillers(k, 'a').map((r, i) => line(`ok-${i}`, r)), line('bad', bad)]),
      contentType: 'application/jsonl',
      item: k,
      prefix: 'body.',
    }),
  },
];

// ---------------------------------------------------------------------------------------------

describe('POST /api/producer under hostile input', () => {
  it('answers any JSON value with a 4xx JSON error or a 202 that wrote one job per item', async () => {
    const item = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.record({ messages: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }), fc.constant(chat()));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 5 }), fc.array(item, { maxLength: 4 }), fc.record({ requests: fc.array(item, { maxLength: 3 }), priority: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] })), async (value) => {
          sound(await call(json(value)));
        }),
      { numRuns: 100 },
    );
  });

  it('refuses malformed JSON text, naming where it breaks', async () => {
    const valid = fc.array(fc.constantFrom(chat(), chat('two', { temperature: 1 }), { requests: [chat()] }), { minLength: 1, maxLength: 3 }).map(json);
    const truncated = valid.chain((text) => fc.integer({ min: 0, max: text.length - 1 }).map((n) => text.slice(0, n)));
    const garbled = fc.tuple(valid, fc.nat(), fc.string({ minLength: 1, maxLength: 3, unit: 'binary' })).map(([text, at, junk]) => text.slice(0, at % text.length) + junk + text.slice(at % text.length));
    await fc.assert(
      fc.asyncProperty(truncated, async (text) => {
        const error = refused(await call(text), 400);
        expect(error.message).toMatch(text.trim() === '' ? /empty/ : /not valid JSON/);
      }),
      { numRuns: 50 },
    );
    // Junk spliced in may still leave valid JSON (a space, a digit in a string): then any sound answer.
    await fc.assert(fc.asyncProperty(garbled, fc.constantFrom('application/json', 'application/jsonl'), async (text, type) => sound(await call(text, type))), { numRuns: 80 });
    for (const text of ['', '   ', '\ufeff', 'null', 'true', '42', '"text"', '{', '[', '}{', '{"messages":}', "{'messages':[]}", '[{"messages":[{"role":"user","content":"x"}]},]', 'NaN', '{"a":1}{"b":2}']) {
      refused(await call(text), 400);
    }
  });

  it('names every checked field given the wrong type or an out-of-range value, in every form of body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...REQUEST_FIELDS, ...SHORTHAND_FIELDS).chain((spec) => fc.record({ spec: fc.constant(spec), value: spec.wrong })),
        fc.constantFrom(...WRAPPINGS),
        fc.integer({ min: 0, max: 3 }),
        async ({ spec, value }, wrapping, position) => {
          const { body, contentType, item, prefix } = wrapping.build(spec.apply(chat(), value), position);
          names(refused(await call(body, contentType), 400), item, prefix + spec.field);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('names wrong envelope fields, unknown envelope fields and wrong Batch API line fields', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENVELOPE_FIELDS).chain((spec) => fc.record({ field: fc.constant(spec.field), value: spec.wrong })), async ({ field, value }) => {
        const envelope = { requests: [chat()], [field]: value };
        names(refused(await call(json(envelope)), 400), null, field);
      }),
      { numRuns: 80 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1 }).filter((key) => !ENVELOPE_KEYS.includes(key)), fc.jsonValue({ maxDepth: 2 }), async (key, value) => {
        const error = refused(await call(json({ requests: [chat()], [key]: value })), 400);
        expect(error.issues.some((i) => i.item === null && /unknown field/.test(i.message))).toBe(true);
      }),
      { numRuns: 60 },
    );
    const lineFields: readonly { field: string; wrong: fc.Arbitrary<unknown> }[] = [
      { field: 'method', wrong: fc.oneof(jsonNot('string'), fc.string().filter((s) => s !== 'POST')) },
      { field: 'url', wrong: fc.oneof(jsonNot('string'), fc.string().filter((s) => !s.endsWith('/chat/completions'))) },
      { field: 'body', wrong: jsonNot('object') },
      { field: 'custom_id', wrong: fc.oneof(jsonNot('string'), fc.constant(''), fc.constant('c'.repeat(513))) },
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...lineFields).chain((spec) => fc.record({ field: fc.constant(spec.field), value: spec.wrong })), fc.integer({ min: 0, max: 3 }), async ({ field, value }, k) => {
        const lines = [...Array.from({ length: k }, (_, i) => line(`ok-${i}`)), { ...line('bad'), [field]: value }];
        names(refused(await call(jsonl(lines), 'application/jsonl'), 400), k, field);
      }),
      { numRuns: 100 },
    );
  });

  it('passes unknown request fields through, and refuses unknown Batch API line fields', async () => {
    const known = ['messages', 'prompt', 'system_prompt', 'body', 'custom_id', 'supportive_variable', 'model', 'stream', 'n', 'best_of', 'temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'requests'];
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !known.includes(k)), fc.jsonValue({ maxDepth: 3 }), async (key, value) => {
        const ids = accepted(await call(json([chat('with extra', { [key]: value })])), 1);
        const stored = await cosmos.store.getJob(ids[0]!);
        expect(stored?.request).toHaveProperty([key]);
        const error = refused(await call(jsonl([{ ...line('x'), [key]: value }]), 'application/jsonl'), 400);
        expect(error.issues.some((i) => /unknown field/.test(i.message))).toBe(key === 'supportive_variable' ? false : true);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses deep nesting anywhere (65 to 1,000,000 levels) with a 400 naming the field: no stack overflow, nothing written', async () => {
    const nest = (depth: number, kind: 'array' | 'object'): string => (kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth));
    // Each place puts `deep` (JSON text) where an item's own fields live; `field` is the path the error starts with.
    // item undefined: any (a nested array body is an array of items, so item 0 is the one refused).
    const places: readonly { name: string; body: (deep: string) => string; type?: string; item?: number | null; field: RegExp }[] = [
      { name: 'the body itself', body: (d) => d, field: /^$/ },
      { name: 'an unknown request field', body: (d) => `[${json(chat())},{"messages":[{"role":"user","content":"x"}],"extra":${d}}]`, item: 1, field: /^extra/ },
      { name: 'tools', body: (d) => `[{"messages":[{"role":"user","content":"x"}],"tools":[${d}]}]`, item: 0, field: /^tools\[0\]/ },
      { name: 'response_format', body: (d) => `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":${d}}}`, item: 0, field: /^response_format/ },
      { name: 'supportive_variable', body: (d) => `[{"messages":[{"role":"user","content":"x"}],"supportive_variable":${d}}]`, item: 0, field: /^supportive_variable/ },
      { name: 'a content part', body: (d) => `[{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":${d}}]}]}]`, item: 0, field: /^messages\[0\]/ },
      { name: 'tool_calls', body: (d) => `[{"messages":[{"role":"assistant","content":null,"tool_calls":[${d}]}]}]`, item: 0, field: /^messages\[0\]/ },
      { name: 'an envelope item', body: (d) => `{"requests":[${json(chat())},${json(chat())},{"messages":[{"role":"user","content":"x"}],"x":${d}}]}`, item: 2, field: /^x/ },
      { name: 'metadata', body: (d) => `{"requests":[${json(chat())}],"metadata":{"k":${d}}}`, item: null, field: /^metadata/ },
      { name: 'an unknown envelope field', body: (d) => `{"requests":[${json(chat())}],"zzz":${d}}`, item: null, field: /^zzz/ },
      { name: 'a JSONL body', body: (d) => `${json(line('a'))}\n{"custom_id":"b","method":"POST","url":"/chat/completions","body":{"messages":[{"role":"user","content":"x"}],"deep":${d}}}`, type: 'application/jsonl', item: 1, field: /^body\.deep/ },
      { name: 'a JSONL line', body: (d) => `${json(line('a'))}\n${d}`, type: 'application/jsonl', item: 1, field: /^/ },
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...places), fc.constantFrom(MAX_ITEM_DEPTH + 1, 129, 1_000, 5_000, 10_000), fc.constantFrom('array' as const, 'object' as const), async (place, depth, kind) => {
        const error = refused(await call(place.body(nest(depth, kind)), place.type ?? 'application/json'), 400);
        expect(error.issues.some((i) => (place.item === undefined || i.item === place.item) && place.field.test(i.field)), `${place.name}: ${JSON.stringify(error.issues).slice(0, 400)}`).toBe(true);
      }),
      { numRuns: 30 },
    );
    // A million levels (2 MB of brackets) in the places a parser or a walk could recurse.
    for (const place of [places[0]!, places[1]!, places[places.length - 1]!]) {
      for (const kind of ['array', 'object'] as const) refused(await call(place.body(nest(1_000_000, kind)), place.type ?? 'application/json'), 400);
    }
  });

  it('accepts nesting up to the limit, once', async () => {
    // The item is level 1 and `extra` level 2: MAX_ITEM_DEPTH - 2 more levels reach the limit exactly.
    const deep = '['.repeat(MAX_ITEM_DEPTH - 1) + ']'.repeat(MAX_ITEM_DEPTH - 1);
    accepted(await call(`[{"messages":[{"role":"user","content":"x"}],"max_tokens":5,"extra":${deep}}]`), 1);
    refused(await call(`[{"messages":[{"role":"user","content":"x"}],"max_tokens":5,"extra":[${deep}]}]`), 400);
  });

  it('refuses huge strings: a message or prompt over the content limit, a request over the item size, ids and webhooks over theirs', async () => {
    names(refused(await call(json([chat('x'.repeat(1_000_001))])), 400), 0, 'messages[0].content');
    names(refused(await call(json([{ prompt: 'p'.repeat(1_000_001) }])), 400), 0, 'prompt');
    names(refused(await call(json([chat('ok', { custom_id: 'c'.repeat(10_000) })])), 400), 0, 'custom_id');
    // Two messages under the content limit each, over what one stored job can hold: refused up front,
    // not a 413 from Cosmos DB after the other items were written.
    const big = 'y'.repeat(700_000);
    const error = refused(await call(json([chat('fine'), { messages: [{ role: 'user', content: big }, { role: 'user', content: big }] }])), 400);
    names(error, 1, '');
    expect(error.message).toMatch(new RegExp(`at most ${MAX_ITEM_BYTES.toLocaleString('en-US')}`));
    // Multi-byte text counts in bytes: 400,000 CJK characters are 1.2 MB of UTF-8.
    names(refused(await call(json([{ messages: [{ role: 'user', content: '語'.repeat(400_000) }] }])), 400), 0, '');
    names(refused(await call(json({ requests: [chat()], webhook: `https://example.com/${'w'.repeat(5000)}` })), 400), null, 'webhook');
  });

  it('answers 413 with JSON to a body over PRODUCER_MAX_BODY_BYTES (10 MB+), declared or not', async () => {
    const over = settings.limits.maxBodyBytes + 1;
    const text = json([chat('z'.repeat(over))]);
    expect(Buffer.byteLength(text)).toBeGreaterThan(10 * 1024 * 1024);
    expect(refused(await call(text), 413).code).toBe('body_too_large');
    expect(refused(await call(text, 'application/jsonl'), 413).code).toBe('body_too_large');
    // Raw bytes that are neither JSON nor UTF-8: the size is checked first.
    expect(refused(await call(new Uint8Array(over).fill(0xff)), 413).code).toBe('body_too_large');
    // A declared length over the limit is refused before the body is read.
    expect(refused(await call(json([chat()]), 'application/json', { 'content-length': String(over) }), 413).code).toBe('body_too_large');
    // A bogus declared length changes nothing.
    for (const declared of ['abc', '-1', '', '1e400']) sound(await call(json([chat('declared')]), 'application/json', { 'content-length': declared }));
  });

  it('refuses 100,000 items (over PRODUCER_MAX_ITEMS) with a 400 before validating or writing any', async () => {
    const many = Array.from({ length: 100_000 }, () => ({}));
    names(refused(await call(json(many)), 400), null, '');
    names(refused(await call(json({ requests: many })), 400), null, 'requests');
    const lines = Array.from({ length: 100_000 }, (_, i) => `{"custom_id":"${i}"}`).join('\n');
    expect(refused(await call(lines, 'application/jsonl'), 400).message).toMatch(/100,000 requests; the limit is 10,000/);
    // Valid items too: the count is refused as a whole, nothing is written.
    names(refused(await call(json(Array.from({ length: 10_001 }, () => chat('x')))), 400), null, '');
  });

  it('takes both limits from the settings (PRODUCER_MAX_ITEMS, PRODUCER_MAX_BODY_BYTES)', async () => {
    useSettings(loadSettings({ PRODUCER_MAX_ITEMS: '3', PRODUCER_MAX_BODY_BYTES: '2000' }));
    try {
      accepted(await call(json(fillers(3, 'limit'))), 3);
      expect(refused(await call(json(fillers(4, 'limit'))), 400).message).toMatch(/4 requests; the limit is 3/);
      expect(refused(await call(json([chat('q'.repeat(2000))])), 413).code).toBe('body_too_large');
    } finally {
      useSettings(settings);
    }
  });

  it('refuses invalid UTF-8 anywhere in the body, saying where', async () => {
    const invalid = fc.constantFrom([0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]);
    const bodies = fc.constantFrom({ text: json([chat('héllo wörld ✓ 😀'), chat('second')]), type: 'application/json' }, { text: jsonl([line('u1', chat('naïve')), line('u2')]), type: 'application/jsonl' });
    await fc.assert(
      fc.asyncProperty(bodies, invalid, fc.nat(), async ({ text, type }, bad, where) => {
        const bytes = Buffer.from(text, 'utf8');
        // Between whole characters, so the bytes around stay valid and the bad sequence is the first.
        let cut = where % (bytes.length + 1);
        while (cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut += 1;
        const body = Buffer.concat([bytes.subarray(0, cut), Buffer.from(bad), bytes.subarray(cut)]);
        const error = refused(await call(body, type), 400);
        expect(error.message).toContain(`not valid UTF-8 (first bad byte at offset ${cut})`);
      }),
      { numRuns: 60 },
    );
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.constantFrom('application/json', 'application/jsonl', null), async (bytes, type) => sound(await call(bytes, type))), { numRuns: 60 });
  });

  it('refuses JSONL with bad lines, naming each bad line; accepts it whole when every line is good', async () => {
    type Line = { text: string; bad: boolean };
    const badLine = fc.oneof(
      fc.constantFrom('{"custom_id":', '[1,2]', '"text"', '42', 'null', 'true', '{"custom_id":"x"', '}{'),
      fc.constant(json({ custom_id: 'm', method: 'GET', url: '/chat/completions', body: chat() })),
      fc.constant(json({ custom_id: 'u', method: 'POST', url: '/embeddings', body: chat() })),
      fc.constant(json({ method: 'POST', url: '/chat/completions', body: chat() })),
      fc.constant(json({ custom_id: 'b', method: 'POST', url: '/chat/completions' })),
      fc.constant(json({ custom_id: 'r', method: 'POST', url: '/chat/completions', body: { messages: [{ role: 'robot', content: 'x' }] } })),
      fc.constant(json({ ...line('k'), extra: 1 })),
      fc.constant(json(chat())),
      fc.constant(`{"custom_id":"d","method":"POST","url":"/chat/completions","body":${'['.repeat(200)}${']'.repeat(200)}}`),
    );
    const lines = fc.array(fc.oneof(fc.constant<Line | null>(null), badLine.map((text): Line => ({ text, bad: true }))), { minLength: 1, maxLength: 25 });
    await fc.assert(
      fc.asyncProperty(lines, fc.constantFrom('\n', '\r\n'), fc.boolean(), async (shape, eol, blanks) => {
        // null: a good line, with a custom_id unique in the file (bad lines use ids of their own).
        const built = shape.flatMap((l, i): Line[] => [...(blanks && i % 3 === 0 ? [{ text: '   ', bad: false }] : []), l ?? { text: json(line(`good-${i}`, chat(`line ${i}`))), bad: false }]);
        const text = built.map((l) => l.text).join(eol);
        const outcome = await call(text, 'application/jsonl');
        const badIndexes = built.flatMap((l, i) => (l.bad ? [i] : []));
        const good = built.filter((l) => !l.bad && l.text.trim() !== '').length;
        if (badIndexes.length === 0) {
          accepted(outcome, good);
          return;
        }
        const error = refused(outcome, 400);
        expect([...new Set(error.issues.map((i) => i.item))].sort((a, b) => a! - b!)).toEqual(badIndexes);
      }),
      { numRuns: 120 },
    );
  });

  it('accepts valid edge inputs exactly once: one job per item, stored as sent', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => !s.includes('<|'));
    const message = fc.record({ role: fc.constantFrom('system', 'developer', 'user', 'assistant'), content: text });
    const extraKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['messages', 'prompt', 'system_prompt', 'body', 'custom_id', 'supportive_variable', 'model', 'stream', 'n', 'best_of', 'temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'requests', '__proto__'].includes(k));
    const request = fc.record(
      {
        messages: fc.array(message, { minLength: 1, maxLength: 3 }),
        max_tokens: fc.integer({ min: 1, max: 2000 }),
        temperature: fc.double({ min: 0, max: 2, noNaN: true }),
        top_p: fc.double({ min: 0, max: 1, noNaN: true }),
        n: fc.integer({ min: 1, max: 2 }),
        stream: fc.constantFrom(false, null),
        model: fc.string(),
        supportive_variable: fc.jsonValue({ maxDepth: 3 }),
        extra: fc.dictionary(extraKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
      },
      { requiredKeys: ['messages'] },
    );
    const form = fc.constantFrom('array', 'envelope', 'single', 'jsonl', 'bom', 'shorthand');
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 4 }), form, async (generated, shape) => {
        const items = (shape === 'single' || shape === 'shorthand' ? generated.slice(0, 1) : generated).map(({ extra, ...rest }, i) => ({ ...(extra ?? {}), ...rest, custom_id: `edge-${i}-${'é'.repeat(i)}` }));
        const body =
          shape === 'jsonl'
            ? items.map(({ custom_id, ...r }) => json(line(custom_id, r))).join('\r\n') + '\r\n\r\n'
            : shape === 'envelope'
              ? json({ requests: items, priority: 'interactive', metadata: { team: 'qa', n: 1, ok: true, none: null } })
              : shape === 'single'
                ? json(items[0])
                : shape === 'shorthand'
                  ? json({ prompt: 'p\u0000 ✓', system_prompt: 'sys', supportive_variable: { row: 7 } })
                  : (shape === 'bom' ? '\ufeff' : '') + json(items);
        const ids = accepted(await call(body, shape === 'jsonl' ? 'application/jsonl; charset=utf-8' : 'application/json'), shape === 'shorthand' ? 1 : items.length);
        if (shape === 'shorthand') {
          expect((await cosmos.store.getJob(ids[0]!))?.request.messages).toEqual([{ role: 'system', content: 'sys' }, { role: 'user', content: 'p\u0000 ✓' }]);
          return;
        }
        for (const [i, id] of ids.entries()) {
          const job = await cosmos.store.getJob(id);
          const sent = JSON.parse(json(items[i])) as Record<string, unknown>;
          expect(job?.status).toBe('queued');
          expect(job?.customId).toBe(sent.custom_id);
          expect(job?.request.messages).toEqual(sent.messages);
          expect(job?.request).not.toHaveProperty('model');
          expect(job?.request).not.toHaveProperty('custom_id');
          if (sent.supportive_variable !== undefined) expect(job?.supportiveVariable).toEqual(sent.supportive_variable);
          for (const key of Object.keys(sent)) {
            if (!['model', 'custom_id', 'supportive_variable'].includes(key)) expect(job?.request[key as keyof typeof job.request]).toEqual(sent[key]);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  // The tokenizer (src/lib/model/tokenizer.ts, not this change's to touch) refuses the spelling of a special
  // token in ordinary text, so the charge throws and the call is a 500. Azure counts such text as plain
  // tokens. Flip to `it` once countTextTokens encodes with `{ disallowedSpecial: new Set() }`.
  it('accepts prompt text that spells a special token (<|endoftext|>)', async () => {
    accepted(await call(json([chat('What does <|endoftext|> mean?')])), 1);
  });
});
