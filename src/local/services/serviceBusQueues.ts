/**
 * Service Bus queues for the local runtime, with the semantics the Functions trigger relies on:
 * peek-lock delivery (a message stays in the queue, locked, until it is completed), up to
 * `maxConcurrentCalls` messages in flight, the host's settlement (complete when the function returns,
 * abandon when it throws), a delivery count raised at every lock, and after `maxDeliveryCount`
 * deliveries the dead-letter queue with reason `MaxDeliveryCountExceeded`, as Service Bus does.
 * Queues are journaled under the data folder: a crash loses the locks (as a lock expiry would) and the
 * messages come back with their delivery counts (at least once).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Journal } from '../persistence/journal.js';

export interface QueueMessage {
  readonly messageId: string;
  readonly body: unknown;
  readonly enqueuedTimeUtc: string;
  readonly deliveryCount: number;
}

export interface DeadLetter extends QueueMessage {
  readonly deadLetterReason: string;
  readonly deadLetterErrorDescription: string;
  /** What the function threw the last time (Azure shows this in the function's logs, not on the message). */
  readonly lastError: string;
}

export type MessageHandler = (message: QueueMessage) => Promise<void>;

export interface ServiceBusOptions {
  /** Folder for the queues' journals; null keeps them in memory. */
  readonly dir: string | null;
  /** The queue's MaxDeliveryCount (infra sets the same on Azure). */
  readonly maxDeliveryCount?: number;
  /** The host's `maxConcurrentCalls` (host.json extensions.serviceBus; 16 per instance there). */
  readonly maxConcurrentCalls?: number;
}

type QueueRecord =
  | { readonly t: 'send'; readonly message: QueueMessage }
  | { readonly t: 'lock'; readonly id: string }
  | { readonly t: 'complete'; readonly id: string }
  | { readonly t: 'abandon'; readonly id: string }
  | { readonly t: 'deadletter'; readonly letter: DeadLetter };

interface Queue {
  /** Active messages in arrival order, locked or not. */
  readonly active: Map<string, QueueMessage>;
  readonly locked: Set<string>;
  readonly deadLetters: DeadLetter[];
  readonly journal: Journal<QueueRecord> | null;
  handler: MessageHandler | null;
  inFlight: number;
}

export class LocalServiceBus {
  private readonly queues = new Map<string, Queue>();
  private readonly maxDeliveryCount: number;
  private readonly maxConcurrentCalls: number;
  private closed = false;

  constructor(private readonly options: ServiceBusOptions) {
    this.maxDeliveryCount = options.maxDeliveryCount ?? 10;
    this.maxConcurrentCalls = options.maxConcurrentCalls ?? 16;
  }

  send(queueName: string, bodies: readonly unknown[]): void {
    const queue = this.queue(queueName);
    const now = new Date().toISOString();
    for (const body of bodies) {
      const message: QueueMessage = { messageId: randomUUID().replace(/-/g, ''), body, enqueuedTimeUtc: now, deliveryCount: 0 };
      queue.journal?.append({ t: 'send', message });
      queue.active.set(message.messageId, message);
    }
    this.pump(queue);
  }

  /** Starts a trigger on the queue: peek-lock, complete on success, abandon on failure. */
  subscribe(queueName: string, handler: MessageHandler): void {
    const queue = this.queue(queueName);
    queue.handler = handler;
    this.pump(queue);
  }

  /** Active messages, oldest first, without locking them. */
  peek(queueName: string): QueueMessage[] {
    return [...this.queue(queueName).active.values()];
  }

  /** Receive-and-delete, for queues no trigger reads (e.g. `feedback-out`). */
  receive(queueName: string, max = Number.POSITIVE_INFINITY): QueueMessage[] {
    const queue = this.queue(queueName);
    if (queue.handler) return [];
    const taken = [...queue.active.values()].filter((m) => !queue.locked.has(m.messageId)).slice(0, max);
    for (const message of taken) {
      queue.journal?.append({ t: 'complete', id: message.messageId });
      queue.active.delete(message.messageId);
    }
    return taken;
  }

  deadLetters(queueName: string): DeadLetter[] {
    return [...this.queue(queueName).deadLetters];
  }

  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) queue.journal?.close();
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = this.openQueue(name);
      this.queues.set(name, queue);
    }
    return queue;
  }

  private openQueue(name: string): Queue {
    const active = new Map<string, QueueMessage>();
    const deadLetters: DeadLetter[] = [];
    if (!this.options.dir) return { active, locked: new Set(), deadLetters, journal: null, handler: null, inFlight: 0 };
    const { journal } = Journal.open<QueueRecord>(join(this.options.dir, `${encodeURIComponent(name)}.jsonl`), (records) => {
      for (const record of records) {
        if (record.t === 'send') active.set(record.message.messageId, record.message);
        else if (record.t === 'lock') {
          const message = active.get(record.id);
          if (message) active.set(record.id, { ...message, deliveryCount: message.deliveryCount + 1 });
        } else if (record.t === 'complete' || record.t === 'abandon') {
          if (record.t === 'complete') active.delete(record.id);
        } else {
          active.delete(record.letter.messageId);
          deadLetters.push(record.letter);
        }
      }
      // Locks do not survive the process: every active message is available again, its count kept.
      return [...[...active.values()].map((message): QueueRecord => ({ t: 'send', message })), ...deadLetters.map((letter): QueueRecord => ({ t: 'deadletter', letter }))];
    });
    return { active, locked: new Set(), deadLetters, journal, handler: null, inFlight: 0 };
  }

  private pump(queue: Queue): void {
    if (!queue.handler || this.closed) return;
    for (const message of queue.active.values()) {
      if (queue.inFlight >= this.maxConcurrentCalls) return;
      if (queue.locked.has(message.messageId)) continue;
      if (message.deliveryCount >= this.maxDeliveryCount) {
        // Delivered as often as allowed before a crash lost its last lock: Service Bus dead-letters it.
        this.deadLetter(queue, message, '');
        continue;
      }
      this.deliver(queue, queue.handler, message);
    }
  }

  private deliver(queue: Queue, handler: MessageHandler, message: QueueMessage): void {
    const locked: QueueMessage = { ...message, deliveryCount: message.deliveryCount + 1 };
    queue.journal?.append({ t: 'lock', id: message.messageId });
    queue.active.set(message.messageId, locked);
    queue.locked.add(message.messageId);
    queue.inFlight += 1;
    void handler(locked)
      .then(
        () => this.settle(queue, locked, null),
        (error: unknown) => this.settle(queue, locked, error instanceof Error ? error.message : String(error)),
      )
      .finally(() => {
        queue.inFlight -= 1;
        this.pump(queue);
      });
  }

  private settle(queue: Queue, message: QueueMessage, error: string | null): void {
    if (this.closed) return;
    queue.locked.delete(message.messageId);
    if (error === null) {
      queue.journal?.append({ t: 'complete', id: message.messageId });
      queue.active.delete(message.messageId);
    } else if (message.deliveryCount >= this.maxDeliveryCount) {
      this.deadLetter(queue, message, error);
    } else {
      // Abandoned: available again at once, as the host's abandon does.
      queue.journal?.append({ t: 'abandon', id: message.messageId });
    }
  }

  private deadLetter(queue: Queue, message: QueueMessage, lastError: string): void {
    const letter: DeadLetter = {
      ...message,
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deadLetterErrorDescription: `Message could not be consumed after ${message.deliveryCount} delivery attempts.`,
      lastError,
    };
    queue.journal?.append({ t: 'deadletter', letter });
    queue.active.delete(message.messageId);
    queue.deadLetters.push(letter);
  }
}
