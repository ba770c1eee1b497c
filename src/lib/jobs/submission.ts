/**
 * The body of `POST /api/producer`, parsed and validated before anything is written: either every
 * request in it is acceptable and a `Submission` comes back, or nothing is accepted and a
 * `SubmissionError` lists every problem found (across all items, capped at MAX_REPORTED_ISSUES).
 *
 * Accepted bodies:
 * - one chat completion request: `{ messages: [...], ... }`;
 * - a JSON array of them;
 * - an envelope `{ requests: [...], priority?, metadata?, webhook?, queue? }` (unknown envelope fields
 *   are rejected: they are most likely typos of ours); `queue` names a named queue (name or id), which
 *   the producer resolves;
 * - with Content-Type `application/jsonl` (or `application/x-ndjson`, `application/jsonlines`,
 *   `application/x-jsonlines`): an Azure OpenAI Batch API input file, one
 *   `{ custom_id, method: 'POST', url: '/chat/completions', body: {...request} }` per line.
 *
 * In the JSON forms an item may also be a Batch API line (an object with `body` and no `messages`),
 * and a plain request may carry `custom_id`, which is taken out of the request and kept as the item's
 * `customId`. A `custom_id`, wherever given, must be unique within the submission.
 *
 * Wherever a request goes (item, or a Batch API line's `body`), the shorthand
 * `{ prompt, system_prompt?, supportive_variable?, ...other request fields }` may stand instead: it
 * becomes `messages` [system, user]. Any request may carry `supportive_variable` (any JSON value, at
 * most MAX_SUPPORTIVE_VARIABLE_CHARS as JSON): it is taken out of the request, never sent to the
 * model, and returned with the job's result and in every export.
 *
 * What happens to the request fields:
 * - `model` is removed: the deployment decides the model (in Azure Batch files it names the
 *   deployment, which here is the app's configuration);
 * - `custom_id` is removed (it becomes `SubmittedItem.customId`), and so is `supportive_variable`;
 * - every other field passes through untouched (Azure accepts many: tools, response_format, seed, ...);
 *   only the fields the gate relies on, or that cannot work for a queued job, are checked.
 * No completion budget is added here: apply `withExplicitMaxTokens` before charging.
 *
 * Issues: `item` is the 0-based index of the request in the array/envelope (0 for a single request);
 * for JSONL it is the 0-based LINE index in the file (blank lines count), and the message names the
 * 1-based line. `item` is null for problems with the body or envelope as a whole. `field` is the path
 * inside the item (`messages[2].content`; JSONL: `body.messages[2].content`), or inside the envelope
 * when `item` is null; '' means the item (or the body) as a whole.
 *
 * The walk over a request only descends known, fixed levels (messages → parts → image_url), never
 * into arbitrary JSON, so deeply nested input cannot exhaust the stack. Each item must also fit the
 * store as it is (MAX_ITEM_DEPTH, MAX_ITEM_BYTES), checked first and without recursion.
 */
import { PRIORITIES, Priority } from '../gate/types.js';
import { ChatCompletionRequest, JsonValue, Metadata } from './job.js';

export interface SubmissionLimits {
  /** Requests in one submission. */
  readonly maxItems: number;
  /** Size of the raw body in bytes (UTF-8); above it the answer is 413. */
  readonly maxBodyBytes: number;
  /** Messages in one request. */
  readonly maxMessagesPerRequest: number;
  /** Characters of text in one message (string content, or the sum of its text parts). */
  readonly maxContentChars: number;
  /** Upper bound for `max_tokens` / `max_completion_tokens`. */
  readonly maxCompletionTokens: number;
}

export const DEFAULT_SUBMISSION_LIMITS: SubmissionLimits = Object.freeze({
  // Every item becomes a stored job and an orchestration, written before the HTTP call returns; the
  // Azure front end cuts HTTP calls at 230 s, so a submission must stay small enough to write in that
  // time. Larger workloads (the Batch API takes 100,000 lines) are split over several submissions.
  maxItems: 10_000,
  // The whole body is held and parsed in memory (the parsed form is several times larger). 10 MiB
  // gives ~1 KiB per item at maxItems, and is far below the Functions host's own 100 MB cap.
  maxBodyBytes: 10 * 1024 * 1024,
  // The chat completions API itself rejects `messages` longer than 2048.
  maxMessagesPerRequest: 2048,
  // A job is stored as one Cosmos DB item (2 MB at most), so one message cannot be much larger than
  // this; it is still ~250k tokens of text.
  maxContentChars: 1_000_000,
  // The largest output any current Azure OpenAI chat model allows (gpt-5 family: 128,000 tokens).
  maxCompletionTokens: 128_000,
});

/** Issues kept in a SubmissionError; the rest are only counted (`omittedIssues`). */
export const MAX_REPORTED_ISSUES = 100;
export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;
export const JSONL_CONTENT_TYPES = ['application/jsonl', 'application/x-ndjson', 'application/jsonlines', 'application/x-jsonlines'] as const;
export const BATCH_LINE_URLS = ['/chat/completions', '/v1/chat/completions'] as const;
/** Default priority of a submission that does not name one: the producer endpoint is for bulk work. */
export const DEFAULT_SUBMISSION_PRIORITY: Priority = 'batch';
/** Metadata limits (the same as OpenAI's batch metadata): 16 pairs, 64-character keys, 512-character strings. */
export const METADATA_LIMITS = Object.freeze({ maxKeys: 16, maxKeyChars: 64, maxValueChars: 512 });
export const MAX_CUSTOM_ID_CHARS = 512;
export const MAX_WEBHOOK_CHARS = 2048;
/** A `supportive_variable` as JSON text: it is stored with every job and written into every export row. */
export const MAX_SUPPORTIVE_VARIABLE_CHARS = 16_384;
/** A queue name or id in a submission (the queue API's own names are shorter). */
export const MAX_QUEUE_REF_CHARS = 64;
/** Bounds for `n` and `best_of`. */
export const MAX_CHOICES = 128;
/**
 * Levels of objects and arrays in one item (the item itself is level 1). Fields we do not check pass
 * through to the stored job, and Cosmos DB refuses a document nested over 128 levels; JSON.stringify
 * (the SDK's, the tokenizer's) overflows the stack a few thousand levels down. Either was a 500 after
 * the other items of the call were written. Real requests, tools and JSON schemas included, stay far below.
 */
export const MAX_ITEM_DEPTH = 64;
/**
 * One item as UTF-8 JSON. Its job is one Cosmos DB document (2 MB at most, refused with a 413 beyond),
 * which later holds the model's result too: half of it for the request.
 */
export const MAX_ITEM_BYTES = 1024 * 1024;

export interface SubmittedItem {
  readonly customId: string | null;
  readonly request: ChatCompletionRequest;
  /** The item's `supportive_variable`; absent when it gave none. */
  readonly supportiveVariable?: JsonValue;
}

export interface Submission {
  readonly items: SubmittedItem[];
  /** The envelope's priority, else DEFAULT_SUBMISSION_PRIORITY (see `priorityGiven`). */
  readonly priority: Priority;
  /** True when the envelope named the priority: a queue's own priority then does not replace it. */
  readonly priorityGiven?: boolean;
  readonly metadata: Metadata | null;
  readonly webhook: string | null;
  /** The envelope's `queue` (a queue name or id, not yet resolved); absent or null: the default path. */
  readonly queue?: string | null;
}

export interface ValidationIssue {
  /** 0-based item index (JSONL: 0-based line index); null for the body or envelope. */
  readonly item: number | null;
  /** Path inside the item (or the envelope): `messages[2].content`; '' for the whole item/body. */
  readonly field: string;
  readonly message: string;
}

export class SubmissionError extends Error {
  override readonly name = 'SubmissionError';
  /** The first MAX_REPORTED_ISSUES issues, in the order found. */
  readonly issues: ValidationIssue[];
  /** Issues found beyond those listed. */
  readonly omittedIssues: number;
  /** HTTP status to answer with: 413 when the body is too large, else 400. */
  readonly status: 400 | 413;

  constructor(issues: ValidationIssue[], status: 400 | 413 = 400, omittedIssues = 0) {
    const first = issues[0];
    const where = first === undefined ? '' : describeWhere(first);
    const more = issues.length - 1 + omittedIssues;
    super(
      first === undefined
        ? 'invalid submission'
        : `invalid submission: ${where}${first.message}${more > 0 ? ` (and ${more} more issue${more === 1 ? '' : 's'})` : ''}`,
    );
    this.issues = issues;
    this.omittedIssues = omittedIssues;
    this.status = status;
  }

  /** The HTTP response body: `{ error: { code, message, issues, omitted_issues } }`. */
  toResponseBody(): {
    error: { code: 'body_too_large' | 'invalid_submission'; message: string; issues: ValidationIssue[]; omitted_issues: number };
  } {
    return {
      error: {
        code: this.status === 413 ? 'body_too_large' : 'invalid_submission',
        message: this.message,
        issues: this.issues,
        omitted_issues: this.omittedIssues,
      },
    };
  }
}

function describeWhere(issue: ValidationIssue): string {
  const parts: string[] = [];
  if (issue.item !== null) parts.push(`item ${issue.item}`);
  if (issue.field !== '') parts.push(issue.field);
  return parts.length === 0 ? '' : `${parts.join(' ')}: `;
}

/** Collects issues; keeps the first MAX_REPORTED_ISSUES and counts the rest. */
class IssueList {
  readonly kept: ValidationIssue[] = [];
  total = 0;

  add(item: number | null, field: string, message: string): void {
    this.total += 1;
    if (this.kept.length < MAX_REPORTED_ISSUES) this.kept.push({ item, field, message });
  }

  error(status: 400 | 413 = 400): SubmissionError {
    return new SubmissionError(this.kept, status, this.total - this.kept.length);
  }

  throwIfAny(): void {
    if (this.total > 0) throw this.error();
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function has(object: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** A user-supplied string shown in a message: quoted and cut short. */
function quote(value: string, max = 40): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

function prop(path: string, key: string): string {
  const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  const segment = /^[A-Za-z_$][\w$]*$/.test(shown) ? shown : `[${JSON.stringify(shown)}]`;
  if (path === '') return segment;
  return segment.startsWith('[') ? `${path}${segment}` : `${path}.${segment}`;
}

function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

// ---------------------------------------------------------------------------------------------
// Entry point

export function parseSubmission(body: string | Buffer, contentType: string | null, limits: SubmissionLimits): Submission {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (size > limits.maxBodyBytes) {
    throw new SubmissionError(
      [{ item: null, field: '', message: `the body is ${formatCount(size)} bytes; the limit is ${formatCount(limits.maxBodyBytes)}` }],
      413,
    );
  }
  const text = typeof body === 'string' ? stripBom(body) : decodeUtf8(body);
  const issues = new IssueList();
  if (text.trim() === '') {
    issues.add(null, '', 'the body is empty');
    throw issues.error();
  }
  return isJsonl(contentType) ? parseJsonl(text, limits, issues) : parseJson(text, limits, issues);
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function decodeUtf8(body: Buffer): string {
  try {
    // `fatal` rejects malformed sequences instead of replacing them; a leading BOM is dropped.
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    const at = firstInvalidUtf8(body);
    throw new SubmissionError([
      { item: null, field: '', message: `the body is not valid UTF-8${at === null ? '' : ` (first bad byte at offset ${at})`}` },
    ]);
  }
}

/** Offset of the first byte that starts a malformed UTF-8 sequence, or null when there is none. */
export function firstInvalidUtf8(bytes: Uint8Array): number | null {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    let extra: number;
    let cp: number;
    let min: number;
    if (lead >= 0xc2 && lead <= 0xdf) [extra, cp, min] = [1, lead & 0x1f, 0x80];
    else if (lead >= 0xe0 && lead <= 0xef) [extra, cp, min] = [2, lead & 0x0f, 0x800];
    else if (lead >= 0xf0 && lead <= 0xf4) [extra, cp, min] = [3, lead & 0x07, 0x10000];
    else return i;
    if (i + extra >= bytes.length) return i;
    for (let k = 1; k <= extra; k += 1) {
      const next = bytes[i + k]!;
      if ((next & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (next & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += extra + 1;
  }
  return null;
}

function isJsonl(contentType: string | null): boolean {
  if (contentType === null) return false;
  const mediaType = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return (JSONL_CONTENT_TYPES as readonly string[]).includes(mediaType);
}

type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string; readonly position: number | null };

function tryParse(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    // A SyntaxError, or a RangeError on pathological input: either way the body is not acceptable JSON.
    const raw = error instanceof Error ? error.message : String(error);
    const match = /at position (\d+)/.exec(raw);
    const message = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
    return { ok: false, message, position: match === null ? null : Number(match[1]) };
  }
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i += 1) {
    if (text.charCodeAt(i) === 10) {
      line += 1;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

function parseJson(text: string, limits: SubmissionLimits, issues: IssueList): Submission {
  const parsed = tryParse(text);
  if (!parsed.ok) {
    const at = parsed.position === null ? null : lineAndColumn(text, parsed.position);
    const where = at === null ? '' : ` at line ${at.line}, column ${at.column}`;
    issues.add(null, '', `the body is not valid JSON${where}: ${parsed.message}${looksLikeJsonl(text) ? '; for a JSONL file send Content-Type: application/jsonl' : ''}`);
    throw issues.error();
  }
  const value = parsed.value;
  if (Array.isArray(value)) {
    return { items: parseItems(value, '', limits, issues), priority: DEFAULT_SUBMISSION_PRIORITY, metadata: null, webhook: null };
  }
  if (!isObject(value)) {
    issues.add(null, '', `expected a chat completion request, an array of them, or { requests: [...] }; got ${kindOf(value)}`);
    throw issues.error();
  }
  if (has(value, 'requests') && has(value, 'messages')) {
    issues.add(null, '', 'has both messages and requests: send one request, or an envelope { requests: [...] }, not both');
    throw issues.error();
  }
  if (has(value, 'requests')) return parseEnvelope(value, limits, issues);
  if (!has(value, 'messages') && !has(value, 'body') && !has(value, 'prompt')) {
    issues.add(null, '', 'expected a chat completion request (with messages or prompt), an array of them, or { requests: [...] }');
    throw issues.error();
  }
  const items = collectItems([value], issues, (v, i, ids) => parseJsonItem(v, i, limits, issues, ids));
  return { items, priority: DEFAULT_SUBMISSION_PRIORITY, metadata: null, webhook: null };
}

function looksLikeJsonl(text: string): boolean {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length < 2) return false;
  const first = tryParse(lines[0]!);
  return first.ok && isObject(first.value);
}

const ENVELOPE_FIELDS = ['requests', 'priority', 'metadata', 'webhook', 'queue'];

function parseEnvelope(envelope: JsonObject, limits: SubmissionLimits, issues: IssueList): Submission {
  for (const key of Object.keys(envelope)) {
    if (!ENVELOPE_FIELDS.includes(key)) issues.add(null, prop('', key), `unknown field; an envelope has ${ENVELOPE_FIELDS.join(', ')}`);
  }
  let priority: Priority = DEFAULT_SUBMISSION_PRIORITY;
  const rawPriority = envelope['priority'];
  const priorityGiven = rawPriority !== undefined && rawPriority !== null;
  if (priorityGiven) {
    if (typeof rawPriority === 'string' && (PRIORITIES as readonly string[]).includes(rawPriority)) priority = rawPriority as Priority;
    else issues.add(null, 'priority', `must be one of ${PRIORITIES.map((p) => `"${p}"`).join(', ')}`);
  }
  const metadata = parseMetadata(envelope['metadata'], issues);
  const webhook = parseWebhook(envelope['webhook'], issues);
  const queue = parseQueueRef(envelope['queue'], issues);
  const requests = envelope['requests'];
  if (!Array.isArray(requests)) {
    issues.add(null, 'requests', `must be an array of chat completion requests; got ${kindOf(requests)}`);
    throw issues.error();
  }
  const items = parseItems(requests, 'requests', limits, issues);
  return { items, priority, priorityGiven, metadata, webhook, queue };
}

function parseItems(values: readonly unknown[], field: string, limits: SubmissionLimits, issues: IssueList): SubmittedItem[] {
  if (values.length === 0) {
    issues.add(null, field, 'no requests: give at least one');
    throw issues.error();
  }
  if (values.length > limits.maxItems) {
    issues.add(null, field, `${formatCount(values.length)} requests; the limit is ${formatCount(limits.maxItems)} per submission`);
    throw issues.error();
  }
  return collectItems(values, issues, (v, i, ids) => parseJsonItem(v, i, limits, issues, ids));
}

type ItemParser = (value: unknown, item: number, ids: Map<string, number>) => SubmittedItem | null;

function collectItems(values: readonly unknown[], issues: IssueList, parse: ItemParser): SubmittedItem[] {
  const ids = new Map<string, number>();
  const items: SubmittedItem[] = [];
  values.forEach((value, i) => {
    const item = parse(value, i, ids);
    if (item !== null) items.push(item);
  });
  issues.throwIfAny();
  return items;
}

function parseJsonItem(value: unknown, item: number, limits: SubmissionLimits, issues: IssueList, ids: Map<string, number>): SubmittedItem | null {
  if (!isObject(value)) {
    issues.add(item, '', `expected a chat completion request object; got ${kindOf(value)}`);
    return null;
  }
  if (!checkStorable(value, item, issues)) return null;
  if (!has(value, 'messages') && !has(value, 'prompt') && has(value, 'body')) return parseBatchLine(value, item, null, limits, issues, ids);
  let customId: string | null = null;
  if (has(value, 'custom_id') && value['custom_id'] !== null) {
    customId = checkCustomId(value['custom_id'], item, null, issues, ids);
    if (customId === null) return null;
  }
  const parsed = parseItemRequest(value, item, '', limits, issues);
  return parsed === null ? null : { customId, ...parsed };
}

/** `line` is the 1-based JSONL line being read (it shapes messages), or null in a JSON body. */
function checkCustomId(value: unknown, item: number, line: number | null, issues: IssueList, ids: Map<string, number>): string | null {
  if (typeof value !== 'string' || value === '') {
    issues.add(item, 'custom_id', `must be a non-empty string; got ${typeof value === 'string' ? 'an empty string' : kindOf(value)}`);
    return null;
  }
  if (value.length > MAX_CUSTOM_ID_CHARS) {
    issues.add(item, 'custom_id', `is ${formatCount(value.length)} characters; the limit is ${MAX_CUSTOM_ID_CHARS}`);
    return null;
  }
  const first = ids.get(value);
  if (first !== undefined) {
    const where = line === null ? `item ${first}` : `line ${first + 1}`;
    issues.add(item, 'custom_id', `duplicate custom_id ${quote(value)}, already used by ${where}`);
    return null;
  }
  ids.set(value, item);
  return value;
}

// ---------------------------------------------------------------------------------------------
// What the store can hold

/** Whether the item fits the store as it is (MAX_ITEM_DEPTH, then MAX_ITEM_BYTES); if not, one issue says why. */
function checkStorable(value: JsonObject, item: number, issues: IssueList): boolean {
  const deep = pathDeeperThan(value, MAX_ITEM_DEPTH);
  if (deep !== null) {
    issues.add(item, deep, `is nested more than ${MAX_ITEM_DEPTH} levels deep (objects and arrays, counting the request itself); the limit is ${MAX_ITEM_DEPTH}`);
    return false;
  }
  // Safe now: the depth is bounded, so stringify cannot overflow.
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_ITEM_BYTES) {
    issues.add(item, '', `is ${formatCount(bytes)} bytes as JSON; one request may be at most ${formatCount(MAX_ITEM_BYTES)}`);
    return false;
  }
  return true;
}

interface DepthFrame {
  readonly value: object;
  readonly depth: number;
  readonly key: string | number | null;
  readonly parent: DepthFrame | null;
}

/** The path (first 8 steps) to the first object or array deeper than `max` levels, or null. Iterative: no stack to exhaust. */
function pathDeeperThan(root: JsonObject, max: number): string | null {
  const stack: DepthFrame[] = [{ value: root, depth: 1, key: null, parent: null }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    if (frame.depth > max) {
      const keys: (string | number)[] = [];
      for (let f: DepthFrame | null = frame; f !== null && f.key !== null; f = f.parent) keys.unshift(f.key);
      const path = keys.slice(0, 8).reduce<string>((at, key) => (typeof key === 'number' ? index(at, key) : prop(at, key)), '');
      return keys.length > 8 ? `${path}…` : path;
    }
    const entries: [string | number, unknown][] = Array.isArray(frame.value) ? [...frame.value.entries()] : Object.entries(frame.value);
    for (const [key, child] of entries) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: frame.depth + 1, key, parent: frame });
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// JSONL bodies (Azure OpenAI Batch API input)

function parseJsonl(text: string, limits: SubmissionLimits, issues: IssueList): Submission {
  const lines = text.split('\n');
  let count = 0;
  for (const line of lines) if (line.trim() !== '') count += 1;
  if (count > limits.maxItems) {
    issues.add(null, '', `${formatCount(count)} requests; the limit is ${formatCount(limits.maxItems)} per submission`);
    throw issues.error();
  }
  const ids = new Map<string, number>();
  const items: SubmittedItem[] = [];
  lines.forEach((raw, lineIndex) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const parsed = tryParse(line);
    if (!parsed.ok) {
      const at = parsed.position === null ? '' : `, column ${parsed.position + 1}`;
      issues.add(lineIndex, '', `line ${lineIndex + 1}${at} is not valid JSON: ${parsed.message}`);
      return;
    }
    if (!isObject(parsed.value)) {
      issues.add(lineIndex, '', `line ${lineIndex + 1}: expected a Batch API request { custom_id, method, url, body }; got ${kindOf(parsed.value)}`);
      return;
    }
    if (!checkStorable(parsed.value, lineIndex, issues)) return;
    const item = parseBatchLine(parsed.value, lineIndex, lineIndex + 1, limits, issues, ids);
    if (item !== null) items.push(item);
  });
  issues.throwIfAny();
  return { items, priority: DEFAULT_SUBMISSION_PRIORITY, metadata: null, webhook: null };
}

const BATCH_LINE_FIELDS = ['custom_id', 'method', 'url', 'body', 'supportive_variable'];

/** A Batch API input line; `lineNumber` is its 1-based JSONL line (null in a JSON body), named in messages. */
function parseBatchLine(
  line: JsonObject,
  item: number,
  lineNumber: number | null,
  limits: SubmissionLimits,
  issues: IssueList,
  ids: Map<string, number>,
): SubmittedItem | null {
  if (has(line, 'messages') && !has(line, 'body')) {
    // A bare request where a Batch API line belongs: one clear issue instead of one per field.
    issues.add(item, 'body', 'is required: a Batch API line is { custom_id, method, url, body } with the request in body');
    return null;
  }
  const before = issues.total;
  for (const key of Object.keys(line)) {
    if (!BATCH_LINE_FIELDS.includes(key)) issues.add(item, prop('', key), `unknown field; a Batch API request has ${BATCH_LINE_FIELDS.join(', ')}`);
  }
  let customId: string | null = null;
  if (!has(line, 'custom_id') || line['custom_id'] === null) issues.add(item, 'custom_id', 'is required');
  else customId = checkCustomId(line['custom_id'], item, lineNumber, issues, ids);
  if (line['method'] !== 'POST') {
    issues.add(item, 'method', `must be "POST"; got ${typeof line['method'] === 'string' ? quote(line['method']) : kindOf(line['method'])}`);
  }
  const url = line['url'];
  if (typeof url !== 'string' || !(BATCH_LINE_URLS as readonly string[]).includes(url)) {
    issues.add(item, 'url', `must be ${BATCH_LINE_URLS.map((u) => `"${u}"`).join(' or ')}; got ${typeof url === 'string' ? quote(url) : kindOf(url)}`);
  }
  const body = line['body'];
  let parsed: Omit<SubmittedItem, 'customId'> | null = null;
  if (!isObject(body)) issues.add(item, 'body', `must be a chat completion request object; got ${kindOf(body)}`);
  else parsed = parseItemRequest(body, item, 'body', limits, issues);
  // Beside custom_id, where a Batch API file keeps the caller's own data; or in the body, not both.
  if (has(line, 'supportive_variable')) {
    const supportive = checkSupportiveVariable(line['supportive_variable'], item, 'supportive_variable', issues);
    if (parsed?.supportiveVariable !== undefined) issues.add(item, 'supportive_variable', 'is also given in body: give it once');
    else if (parsed !== null && supportive !== undefined) parsed = { ...parsed, supportiveVariable: supportive };
  }
  return issues.total === before && parsed !== null ? { customId, ...parsed } : null;
}

// ---------------------------------------------------------------------------------------------
// Envelope fields

function parseMetadata(value: unknown, issues: IssueList): Metadata | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) {
    issues.add(null, 'metadata', `must be an object of string, number, boolean or null values; got ${kindOf(value)}`);
    return null;
  }
  const keys = Object.keys(value);
  if (keys.length > METADATA_LIMITS.maxKeys) {
    issues.add(null, 'metadata', `has ${keys.length} keys; the limit is ${METADATA_LIMITS.maxKeys}`);
    return null;
  }
  const entries: [string, string | number | boolean | null][] = [];
  for (const key of keys) {
    const v = value[key];
    const field = prop('metadata', key);
    if (key === '' || key.length > METADATA_LIMITS.maxKeyChars) {
      issues.add(null, field, `keys must be 1 to ${METADATA_LIMITS.maxKeyChars} characters`);
    } else if (typeof v === 'string') {
      if (v.length > METADATA_LIMITS.maxValueChars) issues.add(null, field, `is ${formatCount(v.length)} characters; the limit is ${METADATA_LIMITS.maxValueChars}`);
      else entries.push([key, v]);
    } else if (typeof v === 'number' || typeof v === 'boolean' || v === null) {
      entries.push([key, v]);
    } else {
      issues.add(null, field, `must be a string, number, boolean or null (metadata is flat); got ${kindOf(v)}`);
    }
  }
  // fromEntries defines own properties, so a key such as "__proto__" stays plain data.
  return Object.freeze(Object.fromEntries(entries));
}

const LOCAL_HOSTS = ['localhost', '127.0.0.1'];

function parseWebhook(value: unknown, issues: IssueList): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    issues.add(null, 'webhook', `must be an https URL; got ${kindOf(value)}`);
    return null;
  }
  if (value.length > MAX_WEBHOOK_CHARS) {
    issues.add(null, 'webhook', `is ${formatCount(value.length)} characters; the limit is ${MAX_WEBHOOK_CHARS}`);
    return null;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    issues.add(null, 'webhook', 'must be an absolute https URL');
    return null;
  }
  if (url.username !== '' || url.password !== '') {
    issues.add(null, 'webhook', 'must not carry credentials (user:password@); the call is HMAC-signed instead');
    return null;
  }
  if (url.protocol === 'https:') return url.href;
  if (url.protocol === 'http:' && LOCAL_HOSTS.includes(url.hostname)) return url.href;
  issues.add(null, 'webhook', url.protocol === 'http:' ? 'must use https (http only for localhost or 127.0.0.1)' : 'must be an https URL');
  return null;
}

// ---------------------------------------------------------------------------------------------
// One chat completion request

/** A queue name or id: checked for shape only; the producer looks it up. */
function parseQueueRef(value: unknown, issues: IssueList): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_QUEUE_REF_CHARS) {
    issues.add(null, 'queue', `must be a queue name or id (1 to ${MAX_QUEUE_REF_CHARS} characters); got ${typeof value === 'string' ? quote(value) : kindOf(value)}`);
    return null;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// One item's request: full, or the shorthand; its supportive_variable

/** Fields removed from every request (see the module comment). */
const DROPPED_FIELDS = ['model', 'custom_id', 'supportive_variable'];
const SHORTHAND_FIELDS = ['prompt', 'system_prompt'];

/** The request (a full one, or built from the shorthand) and the item's supportive_variable. */
function parseItemRequest(value: JsonObject, item: number, path: string, limits: SubmissionLimits, issues: IssueList): Omit<SubmittedItem, 'customId'> | null {
  const before = issues.total;
  const supportive = has(value, 'supportive_variable') ? checkSupportiveVariable(value['supportive_variable'], item, prop(path, 'supportive_variable'), issues) : undefined;
  let requestValue: JsonObject = value;
  if (has(value, 'prompt') || has(value, 'system_prompt')) {
    const expanded = expandShorthand(value, item, path, limits, issues);
    if (expanded === null) return null;
    requestValue = expanded;
  }
  const request = parseRequest(requestValue, item, path, limits, issues);
  if (request === null || issues.total !== before) return null;
  return supportive === undefined ? { request } : { request, supportiveVariable: supportive };
}

/** `{ prompt, system_prompt? }` → `messages` [system, user]; every other field stays as it is. */
function expandShorthand(value: JsonObject, item: number, path: string, limits: SubmissionLimits, issues: IssueList): JsonObject | null {
  const before = issues.total;
  if (has(value, 'messages')) {
    issues.add(item, prop(path, 'prompt'), 'give either prompt (with system_prompt) or messages, not both');
    return null;
  }
  const text = (key: string, required: boolean): string | null => {
    const v = value[key];
    if (v === undefined || v === null) {
      if (required) issues.add(item, prop(path, key), 'is required: the user message of the shorthand { prompt, system_prompt? }');
      return null;
    }
    if (typeof v !== 'string' || v === '') {
      issues.add(item, prop(path, key), `must be a non-empty string; got ${typeof v === 'string' ? 'an empty string' : kindOf(v)}`);
      return null;
    }
    if (v.length > limits.maxContentChars) {
      issues.add(item, prop(path, key), `is ${formatCount(v.length)} characters long; the limit is ${formatCount(limits.maxContentChars)}`);
      return null;
    }
    return v;
  };
  const prompt = text('prompt', true);
  const system = text('system_prompt', false);
  if (issues.total !== before || prompt === null) return null;
  const rest = Object.entries(value).filter(([key]) => !SHORTHAND_FIELDS.includes(key));
  const messages = [...(system === null ? [] : [{ role: 'system', content: system }]), { role: 'user', content: prompt }];
  return { messages, ...Object.fromEntries(rest) };
}

/** Any JSON value, bounded as JSON text; null counts as given (it is returned as null). */
function checkSupportiveVariable(value: unknown, item: number, path: string, issues: IssueList): JsonValue | undefined {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    // Only a pathologically deep value can fail here (RangeError): the body itself was JSON.
    issues.add(item, path, 'is nested too deeply');
    return undefined;
  }
  if (text.length > MAX_SUPPORTIVE_VARIABLE_CHARS) {
    issues.add(item, path, `is ${formatCount(text.length)} characters as JSON; the limit is ${formatCount(MAX_SUPPORTIVE_VARIABLE_CHARS)}`);
    return undefined;
  }
  return value as JsonValue;
}

function parseRequest(value: JsonObject, item: number, path: string, limits: SubmissionLimits, issues: IssueList): ChatCompletionRequest | null {
  const before = issues.total;
  checkMessages(value['messages'], item, prop(path, 'messages'), limits, issues, has(value, 'messages'));
  checkInteger(value, 'max_tokens', 1, limits.maxCompletionTokens, item, path, issues);
  checkInteger(value, 'max_completion_tokens', 1, limits.maxCompletionTokens, item, path, issues);
  checkInteger(value, 'n', 1, MAX_CHOICES, item, path, issues);
  checkInteger(value, 'best_of', 1, MAX_CHOICES, item, path, issues);
  checkNumber(value, 'temperature', 0, 2, item, path, issues);
  checkNumber(value, 'top_p', 0, 1, item, path, issues);
  const stream = value['stream'];
  if (stream === true) issues.add(item, prop(path, 'stream'), 'streaming is not supported for queued jobs: the result is stored whole; omit stream or set it false');
  else if (stream !== undefined && stream !== null && stream !== false) issues.add(item, prop(path, 'stream'), `must be a boolean; got ${kindOf(stream)}`);
  if (issues.total !== before) return null;
  const kept = Object.entries(value).filter(([key]) => !DROPPED_FIELDS.includes(key));
  return Object.fromEntries(kept) as unknown as ChatCompletionRequest;
}

function checkInteger(request: JsonObject, key: string, min: number, max: number, item: number, path: string, issues: IssueList): void {
  const v = request[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    issues.add(item, prop(path, key), `must be a whole number from ${min} to ${formatCount(max)}; got ${describeValue(v)}`);
  }
}

function checkNumber(request: JsonObject, key: string, min: number, max: number, item: number, path: string, issues: IssueList): void {
  const v = request[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    issues.add(item, prop(path, key), `must be a number from ${min} to ${max}; got ${describeValue(v)}`);
  }
}

function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `the string ${quote(v, 20)}`;
  return kindOf(v);
}

function checkMessages(value: unknown, item: number, path: string, limits: SubmissionLimits, issues: IssueList, present: boolean): void {
  if (!present) {
    issues.add(item, path, 'is required: a chat completion request needs a non-empty messages array');
    return;
  }
  if (!Array.isArray(value)) {
    issues.add(item, path, `must be an array of messages; got ${kindOf(value)}`);
    return;
  }
  if (value.length === 0) {
    issues.add(item, path, 'must not be empty');
    return;
  }
  if (value.length > limits.maxMessagesPerRequest) {
    issues.add(item, path, `has ${formatCount(value.length)} messages; the limit is ${formatCount(limits.maxMessagesPerRequest)}`);
    return;
  }
  value.forEach((message: unknown, i) => checkMessage(message, item, index(path, i), limits, issues));
}

function checkMessage(message: unknown, item: number, path: string, limits: SubmissionLimits, issues: IssueList): void {
  if (!isObject(message)) {
    issues.add(item, path, `must be a message object; got ${kindOf(message)}`);
    return;
  }
  const role = message['role'];
  const roleOk = typeof role === 'string' && (MESSAGE_ROLES as readonly string[]).includes(role);
  if (!roleOk) {
    const got = role === undefined ? 'it is missing' : typeof role === 'string' ? `got ${quote(role)}` : `got ${kindOf(role)}`;
    issues.add(item, prop(path, 'role'), `must be one of ${MESSAGE_ROLES.join(', ')}; ${got}`);
  }
  if (has(message, 'name') && typeof message['name'] !== 'string') {
    issues.add(item, prop(path, 'name'), `must be a string; got ${kindOf(message['name'])}`);
  }
  const toolCalls = message['tool_calls'];
  if (toolCalls !== undefined && toolCalls !== null && !Array.isArray(toolCalls)) {
    issues.add(item, prop(path, 'tool_calls'), `must be an array; got ${kindOf(toolCalls)}`);
  }
  if (role === 'tool') {
    const id = message['tool_call_id'];
    if (typeof id !== 'string' || id === '') issues.add(item, prop(path, 'tool_call_id'), 'is required for a tool message (a non-empty string)');
  } else if (has(message, 'tool_call_id') && typeof message['tool_call_id'] !== 'string') {
    // The tokenizer counts it as text: anything else made the charge throw (a 500).
    issues.add(item, prop(path, 'tool_call_id'), `must be a string; got ${kindOf(message['tool_call_id'])}`);
  }
  const contentPath = prop(path, 'content');
  const content = message['content'];
  if (content === undefined || content === null) {
    // Only an assistant turn that calls tools (or the legacy function_call) may come without content.
    const callsTools = (Array.isArray(toolCalls) && toolCalls.length > 0) || isObject(message['function_call']);
    if (!(role === 'assistant' && callsTools)) {
      issues.add(item, contentPath, 'is required (it may be null only in an assistant message with tool_calls)');
    }
    return;
  }
  let chars = 0;
  if (typeof content === 'string') chars = content.length;
  else if (Array.isArray(content)) {
    if (content.length === 0) issues.add(item, contentPath, 'must not be an empty array');
    content.forEach((part: unknown, j) => {
      chars += checkPart(part, item, index(contentPath, j), issues);
    });
  } else {
    issues.add(item, contentPath, `must be a string or an array of content parts; got ${kindOf(content)}`);
    return;
  }
  if (chars > limits.maxContentChars) {
    issues.add(item, contentPath, `is ${formatCount(chars)} characters long; the limit is ${formatCount(limits.maxContentChars)}`);
  }
}

/** Checks one content part; returns its text length. Part types other than text and image_url pass through. */
function checkPart(part: unknown, item: number, path: string, issues: IssueList): number {
  if (!isObject(part)) {
    issues.add(item, path, `must be a content part object; got ${kindOf(part)}`);
    return 0;
  }
  const type = part['type'];
  if (typeof type !== 'string' || type === '') {
    issues.add(item, prop(path, 'type'), 'is required (a string such as "text" or "image_url")');
    return 0;
  }
  if (type === 'text') {
    const text = part['text'];
    if (typeof text !== 'string') {
      issues.add(item, prop(path, 'text'), `must be a string; got ${kindOf(text)}`);
      return 0;
    }
    return text.length;
  }
  if (type === 'image_url') {
    const image = part['image_url'];
    if (!isObject(image)) issues.add(item, prop(path, 'image_url'), `must be an object { url }; got ${kindOf(image)}`);
    else if (typeof image['url'] !== 'string' || image['url'] === '') {
      issues.add(item, prop(prop(path, 'image_url'), 'url'), 'must be a non-empty string (an https or data: URL)');
    }
  }
  return 0;
}
