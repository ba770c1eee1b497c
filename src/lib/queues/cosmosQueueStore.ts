/**
 * Named queues on Cosmos DB: container `queues`, partitioned by `/id`, where the document id is the
 * queue's NAME. Names are what routes and submissions use, so a point read finds a queue, and Cosmos's
 * id uniqueness makes a name unique with no extra index. The queue's own id (given or generated) is the
 * `queueId` property; finding a queue by it is a query, which only submissions naming a queue by id run.
 */
import { Container, Database, JSONObject } from '@azure/cosmos';
import { ProviderConfig } from '../model/providers.js';
import { Priority } from '../gate/types.js';
import { Queue, QueueLimits } from './queue.js';
import { QueueStore, QueueWriteConflictError, StoredQueue } from './queueStore.js';
import { statusCodeOf } from '../store/cosmosErrors.js';

export const QUEUES_CONTAINER = 'queues';
export const QUEUES_PARTITION_KEY_PATH = '/id';
/** Queues are configuration: a handful. A listing stops here rather than page. */
export const MAX_LISTED_QUEUES = 1000;

const HTTP_NOT_FOUND = 404;
const HTTP_CONFLICT = 409;
const HTTP_PRECONDITION_FAILED = 412;

/** The stored form: `id` is the name (the Cosmos id and partition key), `queueId` the queue's own id. */
interface QueueDocument {
  readonly id: string;
  readonly queueId: string;
  readonly providers: readonly ProviderConfig[];
  readonly limits: QueueLimits;
  readonly priority: Priority;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly _etag?: string;
}

function toDocument(queue: Queue): JSONObject {
  const document: QueueDocument = {
    id: queue.name,
    queueId: queue.id,
    providers: queue.providers,
    limits: queue.limits,
    priority: queue.priority,
    createdAt: queue.createdAt,
    updatedAt: queue.updatedAt,
  };
  return document as unknown as JSONObject;
}

function fromDocument(document: QueueDocument, etag: string | undefined): StoredQueue {
  const queue: Queue = {
    id: document.queueId,
    name: document.id,
    providers: document.providers,
    limits: document.limits,
    priority: document.priority,
    createdAt: document.createdAt,
    updatedAt: document.updatedAt,
  };
  return { queue, etag: etag ?? document._etag ?? '' };
}

export class CosmosQueueStore implements QueueStore {
  private readonly queues: Container;

  constructor(database: Database) {
    this.queues = database.container(QUEUES_CONTAINER);
  }

  async getQueue(name: string): Promise<StoredQueue | undefined> {
    try {
      const response = await this.queues.item(name, name).read<QueueDocument>();
      if (response.statusCode === HTTP_NOT_FOUND || !response.resource) return undefined;
      return fromDocument(response.resource, response.etag);
    } catch (error) {
      if (statusCodeOf(error) === HTTP_NOT_FOUND) return undefined;
      throw error;
    }
  }

  async findQueueById(id: string): Promise<StoredQueue | undefined> {
    const { resources } = await this.queues.items
      .query<QueueDocument>({ query: 'SELECT * FROM c WHERE c.queueId = @id', parameters: [{ name: '@id', value: id }] })
      .fetchAll();
    const found = resources[0];
    return found === undefined ? undefined : fromDocument(found, undefined);
  }

  async listQueues(): Promise<readonly StoredQueue[]> {
    const { resources } = await this.queues.items
      .query<QueueDocument>({ query: 'SELECT TOP @top * FROM c', parameters: [{ name: '@top', value: MAX_LISTED_QUEUES }] })
      .fetchAll();
    // Sorted here: an ORDER BY would be a cross-partition query plan for a list this short.
    return resources.map((d) => fromDocument(d, undefined)).sort((a, b) => (a.queue.name < b.queue.name ? -1 : a.queue.name > b.queue.name ? 1 : 0));
  }

  async createQueue(queue: Queue): Promise<StoredQueue> {
    try {
      const response = await this.queues.items.create<JSONObject>(toDocument(queue));
      return { queue, etag: response.etag ?? '' };
    } catch (error) {
      if (statusCodeOf(error) === HTTP_CONFLICT) throw new QueueWriteConflictError(queue.name, 'exists');
      throw error;
    }
  }

  async replaceQueue(queue: Queue, etag: string): Promise<StoredQueue> {
    try {
      const response = await this.queues
        .item(queue.name, queue.name)
        .replace<JSONObject>(toDocument(queue), { accessCondition: { type: 'IfMatch', condition: etag } });
      return { queue, etag: response.etag ?? '' };
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === HTTP_PRECONDITION_FAILED || status === HTTP_NOT_FOUND) throw new QueueWriteConflictError(queue.name, 'changed');
      throw error;
    }
  }

  async deleteQueue(name: string, etag: string | null): Promise<boolean> {
    try {
      await this.queues.item(name, name).delete(etag === null ? {} : { accessCondition: { type: 'IfMatch', condition: etag } });
      return true;
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === HTTP_NOT_FOUND) return false;
      if (status === HTTP_PRECONDITION_FAILED) throw new QueueWriteConflictError(name, 'changed');
      throw error;
    }
  }
}

/** Creates the `queues` container when missing: for local runs and tests (in Azure the infrastructure does). */
export async function ensureQueuesContainer(database: Database): Promise<void> {
  await database.containers.createIfNotExists({ id: QUEUES_CONTAINER, partitionKey: { paths: [QUEUES_PARTITION_KEY_PATH] } });
}
