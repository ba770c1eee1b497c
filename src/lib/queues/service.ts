/**
 * The queue operations behind the queue API, over the store's conditional writes:
 * - `upsertQueue` creates or replaces a queue by name. `If-Match: <etag>` makes it replace only that
 *   version (412 when stale, or when there is no queue); `If-None-Match: *` makes it create only (412
 *   when the name is taken). Without either, a concurrent write is not lost either: the read-decide-write
 *   starts over on a conflict, so the last writer wins whole.
 * - A queue's id never changes: an update naming another id is refused (409), and an id is unique
 *   across queues (409 when another queue has it).
 * ETags are the store's etags in HTTP form (quoted).
 */
import { Queue, QueueInput, isQueueName, newQueueId } from './queue.js';
import { QueueStore, QueueWriteConflictError, StoredQueue } from './queueStore.js';

/** Read-decide-write rounds before an unconditional upsert gives up on a queue others keep writing. */
const MAX_ROUNDS = 5;

export type QueueConflictCode = 'precondition_failed' | 'id_conflict' | 'write_conflict';

/** The request conflicts with the stored queues; `status` is the HTTP answer (409 or 412). */
export class QueueConflictError extends Error {
  override readonly name = 'QueueConflictError';
  constructor(
    readonly status: 409 | 412,
    readonly code: QueueConflictCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Preconditions {
  /** `If-Match`: the ETags (or `*`) the current version must have. */
  readonly ifMatch: string | null;
  /** `If-None-Match`: only `*` (create only) is meaningful for writes. */
  readonly ifNoneMatch: string | null;
}

/** The store's etag as an HTTP entity tag: quoted (Cosmos etags usually already are). */
export function httpEtag(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

/** Does an `If-Match` / `If-None-Match` list (`*`, or comma-separated tags, weak ones too) match this etag? */
export function etagMatches(header: string, etag: string): boolean {
  const wanted = httpEtag(etag);
  return header.split(',').some((raw) => {
    const tag = raw.trim().replace(/^W\//, '');
    return tag === '*' || tag === wanted;
  });
}

export interface UpsertResult {
  readonly created: boolean;
  readonly stored: StoredQueue;
}

export async function upsertQueue(store: QueueStore, input: QueueInput, conditions: Preconditions, now: () => Date = () => new Date()): Promise<UpsertResult> {
  if (input.id !== null) {
    const holder = await store.findQueueById(input.id);
    if (holder && holder.queue.name !== input.name) {
      throw new QueueConflictError(409, 'id_conflict', `id "${input.id}" belongs to queue "${holder.queue.name}"`);
    }
  }
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const current = await store.getQueue(input.name);
    checkPreconditions(input.name, current, conditions);
    const at = now().toISOString();
    try {
      if (!current) {
        const queue: Queue = { ...fields(input), id: input.id ?? newQueueId(), createdAt: at, updatedAt: at };
        return { created: true, stored: await store.createQueue(queue) };
      }
      if (input.id !== null && input.id !== current.queue.id) {
        throw new QueueConflictError(409, 'id_conflict', `queue "${input.name}" has id "${current.queue.id}": a queue's id cannot change`);
      }
      const queue: Queue = { ...fields(input), id: current.queue.id, createdAt: current.queue.createdAt, updatedAt: at };
      return { created: false, stored: await store.replaceQueue(queue, current.etag) };
    } catch (error) {
      if (!(error instanceof QueueWriteConflictError)) throw error;
      // Someone wrote in between. A conditional request was about the version it named, which is gone.
      if (conditions.ifMatch !== null || conditions.ifNoneMatch !== null) throw preconditionFailed(input.name);
    }
  }
  throw new QueueConflictError(409, 'write_conflict', `queue "${input.name}" kept changing while it was written; try again`);
}

function fields(input: QueueInput): Pick<Queue, 'name' | 'providers' | 'limits' | 'priority'> {
  return { name: input.name, providers: input.providers, limits: input.limits, priority: input.priority };
}

function checkPreconditions(name: string, current: StoredQueue | undefined, conditions: Preconditions): void {
  if (conditions.ifMatch !== null && (current === undefined || !etagMatches(conditions.ifMatch, current.etag))) throw preconditionFailed(name);
  if (conditions.ifNoneMatch !== null && current !== undefined && etagMatches(conditions.ifNoneMatch, current.etag)) throw preconditionFailed(name);
}

function preconditionFailed(name: string): QueueConflictError {
  return new QueueConflictError(412, 'precondition_failed', `queue "${name}" is not at the version the request's If-Match / If-None-Match names; read it again`);
}

/**
 * Deletes a queue. False when there is none; 412 (QueueConflictError) when `If-Match` names another version.
 * Jobs already submitted keep their own copy of the provider and limits, so they run on unaffected.
 */
export async function deleteQueue(store: QueueStore, name: string, ifMatch: string | null): Promise<boolean> {
  if (ifMatch === null) return store.deleteQueue(name, null);
  const current = await store.getQueue(name);
  if (!current) return false;
  if (!etagMatches(ifMatch, current.etag)) throw preconditionFailed(name);
  try {
    return await store.deleteQueue(name, current.etag);
  } catch (error) {
    if (error instanceof QueueWriteConflictError) throw preconditionFailed(name);
    throw error;
  }
}

/** The queue a submission names: by name first, then by id. */
export async function resolveQueue(store: QueueStore, nameOrId: string): Promise<Queue | undefined> {
  // Names and ids share one shape; anything else names no queue (and never reaches the store as an id).
  if (!isQueueName(nameOrId)) return undefined;
  const byName = await store.getQueue(nameOrId);
  if (byName) return byName.queue;
  return (await store.findQueueById(nameOrId))?.queue;
}
