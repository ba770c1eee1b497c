/**
 * A named queue: a name (and an id) that submissions route by, the providers its jobs are sent to, and
 * the limits its work must keep inside the providers' own quotas. The API speaks snake_case
 * (`queue_name`, `limit`, `time_window`, ...); the domain type here is what the store keeps.
 *
 * Body of `POST /api/queues` (unknown fields are refused, they are most likely typos):
 * ```
 * { queue_name, id?, providers?: [ { type: 'azure_openai', deployment, model? }
 *                                 | { type: 'openai_compatible', base_url, model, api_key_setting } ],
 *   limit?, time_window?, requests_per_window?, priority? }
 * ```
 * No providers: the app's own deployment. A provider secret is never accepted, stored or returned:
 * `api_key_setting` names the app setting that holds it.
 */
import { randomBytes } from 'node:crypto';
import { PRIORITIES, Priority } from '../gate/types.js';
import { PROVIDER_TYPES, ProviderConfig } from '../model/providers.js';

export interface QueueLimits {
  /** Tokens (the gate's charge) the queue may spend per window; null: only the provider's quota binds. */
  readonly tokens: number | null;
  /** Requests the queue may start per window; null: no own request limit. */
  readonly requests: number | null;
  /** The window both limits are counted over, in seconds. */
  readonly windowSeconds: number;
}

export interface Queue {
  readonly id: string;
  readonly name: string;
  /** Where its jobs go, in order of preference: the first, spilling over to the next when its gate has no room. Empty: the app's deployment. */
  readonly providers: readonly ProviderConfig[];
  readonly limits: QueueLimits;
  /** Priority of its jobs when a submission names none. */
  readonly priority: Priority;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What a job keeps of its queue: enough to key the gate by and to show, nothing that can change. */
export interface QueueRef {
  readonly id: string;
  readonly name: string;
}

/** The queue as `POST /api/queues` asked for it, validated; ids and times are the store's business. */
export interface QueueInput {
  readonly id: string | null;
  readonly name: string;
  readonly providers: readonly ProviderConfig[];
  readonly limits: QueueLimits;
  readonly priority: Priority;
}

export const DEFAULT_TIME_WINDOW_SECONDS = 60;
export const MAX_TIME_WINDOW_SECONDS = 86_400;
export const MAX_PROVIDERS = 8;
export const MAX_LIMIT = 1_000_000_000;
/** Names and ids: what a URL path segment and a Cosmos DB id both take without escaping. */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Azure OpenAI deployment names: letters, digits, `-`, `_`, `.`; up to 64. */
const DEPLOYMENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/**
 * Provider key settings must start with PROVIDER_: a queue can then only direct a secret that was put
 * there for a provider, never one of the app's own (COSMOS_KEY, WEBHOOK_SIGNING_SECRET, ...), to the
 * endpoint it names.
 */
export const API_KEY_SETTING_PATTERN = /^PROVIDER_[A-Za-z0-9_]{1,120}$/;
const MAX_MODEL_CHARS = 256;
const MAX_BASE_URL_CHARS = 2048;
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

const QUEUE_FIELDS = ['queue_name', 'id', 'providers', 'limit', 'time_window', 'requests_per_window', 'priority'];
const PROVIDER_FIELDS: Readonly<Record<ProviderConfig['type'], readonly string[]>> = {
  azure_openai: ['type', 'deployment', 'model'],
  openai_compatible: ['type', 'base_url', 'model', 'api_key_setting'],
};
/** Fields that would carry a secret: refused with a pointer to api_key_setting. */
const SECRET_FIELDS = ['api_key', 'apiKey', 'key', 'token', 'secret', 'authorization'];

export interface QueueIssue {
  readonly field: string;
  readonly message: string;
}

/** A queue body that cannot be accepted; `issues` names every field that is wrong. */
export class QueueValidationError extends Error {
  override readonly name = 'QueueValidationError';
  constructor(readonly issues: readonly QueueIssue[]) {
    super(`invalid queue: ${issues.map((i) => (i.field === '' ? i.message : `${i.field}: ${i.message}`)).join('; ')}`);
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

export function isQueueName(value: unknown): value is string {
  return typeof value === 'string' && QUEUE_NAME_PATTERN.test(value);
}

/** Validates a `POST /api/queues` body; throws QueueValidationError listing every problem. */
export function parseQueueInput(body: unknown): QueueInput {
  const issues: QueueIssue[] = [];
  const add = (field: string, message: string) => issues.push({ field, message });
  if (!isObject(body)) throw new QueueValidationError([{ field: '', message: `expected a queue object; got ${kindOf(body)}` }]);
  for (const key of Object.keys(body)) {
    if (!QUEUE_FIELDS.includes(key)) add(key, `unknown field; a queue has ${QUEUE_FIELDS.join(', ')}`);
  }
  const name = body['queue_name'];
  if (!isQueueName(name)) add('queue_name', `is required: 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit; got ${typeof name === 'string' ? quote(name) : kindOf(name)}`);
  const rawId = body['id'];
  let id: string | null = null;
  if (rawId !== undefined && rawId !== null) {
    if (isQueueName(rawId)) id = rawId;
    else add('id', `must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit; got ${typeof rawId === 'string' ? quote(rawId) : kindOf(rawId)}`);
  }
  const providers = parseProviders(body['providers'], add);
  const tokens = optionalInteger(body, 'limit', add);
  const requests = optionalInteger(body, 'requests_per_window', add);
  let windowSeconds = DEFAULT_TIME_WINDOW_SECONDS;
  const window = body['time_window'];
  if (window !== undefined && window !== null) {
    if (typeof window === 'number' && Number.isFinite(window) && window > 0 && window <= MAX_TIME_WINDOW_SECONDS) windowSeconds = window;
    else add('time_window', `must be a number of seconds above 0 and at most ${MAX_TIME_WINDOW_SECONDS}; got ${describe(window)}`);
  }
  let priority: Priority = 'batch';
  const rawPriority = body['priority'];
  if (rawPriority !== undefined && rawPriority !== null) {
    if (typeof rawPriority === 'string' && (PRIORITIES as readonly string[]).includes(rawPriority)) priority = rawPriority as Priority;
    else add('priority', `must be one of ${PRIORITIES.map((p) => `"${p}"`).join(', ')}`);
  }
  if (issues.length > 0) throw new QueueValidationError(issues);
  return { id, name: name as string, providers, limits: { tokens, requests, windowSeconds }, priority };
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value === 'string' ? `the string ${quote(value)}` : kindOf(value);
}

function optionalInteger(body: JsonObject, key: string, add: (field: string, message: string) => void): number | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_LIMIT) return value;
  add(key, `must be a whole number from 1 to ${MAX_LIMIT}; got ${describe(value)}`);
  return null;
}

function parseProviders(value: unknown, add: (field: string, message: string) => void): ProviderConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    add('providers', `must be an array of providers; got ${kindOf(value)}`);
    return [];
  }
  if (value.length > MAX_PROVIDERS) {
    add('providers', `has ${value.length} providers; the limit is ${MAX_PROVIDERS}`);
    return [];
  }
  const providers: ProviderConfig[] = [];
  value.forEach((raw: unknown, i) => {
    const provider = parseProvider(raw, `providers[${i}]`, add);
    if (provider !== null) providers.push(provider);
  });
  return providers;
}

function parseProvider(raw: unknown, path: string, add: (field: string, message: string) => void): ProviderConfig | null {
  if (!isObject(raw)) {
    add(path, `must be a provider object; got ${kindOf(raw)}`);
    return null;
  }
  const type = raw['type'];
  if (typeof type !== 'string' || !(PROVIDER_TYPES as readonly string[]).includes(type)) {
    add(`${path}.type`, `must be one of ${PROVIDER_TYPES.map((t) => `"${t}"`).join(', ')}`);
    return null;
  }
  const known = PROVIDER_FIELDS[type as ProviderConfig['type']];
  let ok = true;
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    ok = false;
    if (SECRET_FIELDS.includes(key)) add(`${path}.${key}`, 'secrets are never stored: put the key in an app setting (or a Key Vault reference) and name it in api_key_setting');
    else add(`${path}.${key}`, `unknown field; a ${type} provider has ${known.join(', ')}`);
  }
  const model = raw['model'];
  const modelOk = typeof model === 'string' && model.trim() !== '' && model.length <= MAX_MODEL_CHARS && !/[\u0000-\u001f]/.test(model);
  if (type === 'azure_openai') {
    const deployment = raw['deployment'];
    if (typeof deployment !== 'string' || !DEPLOYMENT_PATTERN.test(deployment)) {
      add(`${path}.deployment`, 'is required: an Azure OpenAI deployment name (letters, digits, ".", "_", "-"; up to 64)');
      ok = false;
    }
    if (model !== undefined && model !== null && !modelOk) {
      add(`${path}.model`, `must be a model name (1 to ${MAX_MODEL_CHARS} characters)`);
      ok = false;
    }
    return ok ? { type: 'azure_openai', deployment: deployment as string, model: modelOk ? (model as string) : null } : null;
  }
  if (!modelOk) {
    add(`${path}.model`, `is required: the model name the endpoint expects (1 to ${MAX_MODEL_CHARS} characters)`);
    ok = false;
  }
  const baseUrl = parseBaseUrl(raw['base_url'], `${path}.base_url`, add);
  const setting = raw['api_key_setting'];
  if (typeof setting !== 'string' || !API_KEY_SETTING_PATTERN.test(setting)) {
    add(
      `${path}.api_key_setting`,
      'is required: the name of the app setting holding the API key, starting with PROVIDER_ (letters, digits, "_"), e.g. PROVIDER_OPENAI_API_KEY; never the key itself',
    );
    ok = false;
  }
  return ok && baseUrl !== null ? { type: 'openai_compatible', baseUrl, model: model as string, apiKeySetting: setting as string } : null;
}

/** An https URL (http only on loopback, for local servers), without credentials, query or fragment. */
function parseBaseUrl(value: unknown, field: string, add: (field: string, message: string) => void): string | null {
  if (typeof value !== 'string' || value.length > MAX_BASE_URL_CHARS) {
    add(field, 'is required: the endpoint\'s base URL, e.g. "https://api.openai.com/v1"');
    return null;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    add(field, 'must be an absolute https URL');
    return null;
  }
  if (url.username !== '' || url.password !== '') {
    add(field, 'must not carry credentials (user:password@): name the key in api_key_setting');
    return null;
  }
  if (url.search !== '' || url.hash !== '') {
    add(field, 'must not have a query or fragment');
    return null;
  }
  const loopback = LOOPBACK_HOSTS.includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    add(field, 'must use https (http only for localhost or 127.0.0.1)');
    return null;
  }
  // Without the trailing slash: the client appends "/chat/completions".
  return url.href.replace(/\/+$/, '');
}

/** A new queue id when the caller gives none: 96 random bits, URL-safe. */
export function newQueueId(): string {
  return `queue_${randomBytes(12).toString('base64url')}`;
}

export function queueRefOf(queue: Queue): QueueRef {
  return { id: queue.id, name: queue.name };
}

// ---------------------------------------------------------------------------------------------
// API shapes

export type ProviderBody =
  | { readonly type: 'azure_openai'; readonly deployment: string; readonly model: string | null }
  | { readonly type: 'openai_compatible'; readonly base_url: string; readonly model: string; readonly api_key_setting: string };

export interface QueueBody {
  readonly id: string;
  readonly queue_name: string;
  readonly providers: readonly ProviderBody[];
  readonly limit: number | null;
  readonly time_window: number;
  readonly requests_per_window: number | null;
  readonly priority: Priority;
  readonly created_at: string;
  readonly updated_at: string;
  readonly etag: string;
}

export function providerBody(provider: ProviderConfig): ProviderBody {
  return provider.type === 'azure_openai'
    ? { type: 'azure_openai', deployment: provider.deployment, model: provider.model }
    : { type: 'openai_compatible', base_url: provider.baseUrl, model: provider.model, api_key_setting: provider.apiKeySetting };
}

/** The queue as the API shows it: the key setting's name, never a value (the store holds none). */
export function queueBody(queue: Queue, etag: string): QueueBody {
  return {
    id: queue.id,
    queue_name: queue.name,
    providers: queue.providers.map(providerBody),
    limit: queue.limits.tokens,
    time_window: queue.limits.windowSeconds,
    requests_per_window: queue.limits.requests,
    priority: queue.priority,
    created_at: queue.createdAt,
    updated_at: queue.updatedAt,
    etag,
  };
}
