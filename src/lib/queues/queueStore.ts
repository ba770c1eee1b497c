/**
 * Where named queues live: beside the jobs, in the same store (JobStore extends this). Every write is
 * conditional, so the queue API can answer a stale `If-Match` with 412 and never lose an update.
 */
import { Queue } from './queue.js';

export interface StoredQueue {
  readonly queue: Queue;
  /** The store's version of the document (opaque); changes on every write. */
  readonly etag: string;
}

/**
 * A conditional write lost: `exists` (a create found the name taken) or `changed` (a replace or delete
 * found the document written or removed since its etag was read).
 */
export class QueueWriteConflictError extends Error {
  override readonly name = 'QueueWriteConflictError';
  constructor(
    readonly queueName: string,
    readonly reason: 'exists' | 'changed',
  ) {
    super(`queue ${queueName}: ${reason === 'exists' ? 'already exists' : 'changed since it was read'}`);
  }
}

export interface QueueStore {
  getQueue(name: string): Promise<StoredQueue | undefined>;
  /** The queue with this id (not name). */
  findQueueById(id: string): Promise<StoredQueue | undefined>;
  /** Every queue, by name. */
  listQueues(): Promise<readonly StoredQueue[]>;
  /** Creates it; QueueWriteConflictError('exists') when the name is taken. */
  createQueue(queue: Queue): Promise<StoredQueue>;
  /** Replaces it if its etag is still `etag`; QueueWriteConflictError('changed') otherwise (or when it is gone). */
  replaceQueue(queue: Queue, etag: string): Promise<StoredQueue>;
  /**
   * Deletes it, if `etag` is null or still current. False when there is no such queue;
   * QueueWriteConflictError('changed') when the etag is stale.
   */
  deleteQueue(name: string, etag: string | null): Promise<boolean>;
}
