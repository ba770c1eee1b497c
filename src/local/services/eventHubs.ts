/**
 * Event Hubs for the local runtime, with the semantics the Functions trigger relies on: each hub has
 * partitions (events spread round-robin, as when no partition key is given); a consumer group reads
 * each partition in order, in batches of up to `maxBatchSize`, and checkpoints after every batch
 * whether the function succeeded or not (the host does the same: a failed batch is not retried).
 * Events and checkpoints are kept under the data folder, so after a crash the consumer resumes at its
 * last checkpoint and the events after it are delivered again (at least once).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../persistence/journal.js';

export interface EventData {
  readonly sequenceNumber: number;
  readonly enqueuedTimeUtc: string;
  readonly body: unknown;
}

export interface PartitionBatch {
  readonly hub: string;
  readonly consumerGroup: string;
  readonly partitionId: string;
  readonly events: readonly EventData[];
}

export type BatchHandler = (batch: PartitionBatch) => Promise<void>;

export interface EventHubsOptions {
  /** Folder for events and checkpoints; null keeps them in memory. */
  readonly dir: string | null;
  readonly partitions?: number;
  /** The host's `maxEventBatchSize` (host.json extensions.eventHubs; default 100 there too). */
  readonly maxBatchSize?: number;
  readonly onError?: (error: unknown, batch: PartitionBatch) => void;
}

interface Partition {
  readonly id: string;
  readonly events: EventData[];
  readonly journal: Journal<EventData> | null;
}

interface Consumer {
  readonly group: string;
  readonly handler: BatchHandler;
  /** Next sequence number to deliver, per partition. */
  readonly next: number[];
  readonly pumping: boolean[];
}

interface Hub {
  readonly name: string;
  readonly partitions: Partition[];
  readonly consumers: Consumer[];
  nextPartition: number;
}

export class LocalEventHubs {
  private readonly hubs = new Map<string, Hub>();
  private readonly partitionCount: number;
  private readonly maxBatchSize: number;
  private closed = false;

  constructor(private readonly options: EventHubsOptions) {
    this.partitionCount = options.partitions ?? 4;
    this.maxBatchSize = options.maxBatchSize ?? 100;
  }

  send(hubName: string, bodies: readonly unknown[]): void {
    const hub = this.hub(hubName);
    const now = new Date().toISOString();
    for (const body of bodies) {
      const partition = hub.partitions[hub.nextPartition]!;
      hub.nextPartition = (hub.nextPartition + 1) % hub.partitions.length;
      const event: EventData = { sequenceNumber: partition.events.length, enqueuedTimeUtc: now, body };
      partition.journal?.append(event);
      partition.events.push(event);
    }
    for (const consumer of hub.consumers) hub.partitions.forEach((_, p) => void this.pump(hub, consumer, p));
  }

  /** Starts a consumer group reading every partition from its checkpoint. */
  subscribe(hubName: string, consumerGroup: string, handler: BatchHandler): void {
    const hub = this.hub(hubName);
    const consumer: Consumer = {
      group: consumerGroup,
      handler,
      next: hub.partitions.map((p) => this.readCheckpoint(hub.name, consumerGroup, p.id)),
      pumping: hub.partitions.map(() => false),
    };
    hub.consumers.push(consumer);
    hub.partitions.forEach((_, p) => void this.pump(hub, consumer, p));
  }

  /** Per partition: events held and the consumer group's checkpoint (the next sequence number to read). */
  describe(hubName: string): { partitionId: string; events: number; checkpoints: Record<string, number> }[] {
    const hub = this.hub(hubName);
    return hub.partitions.map((p, i) => ({
      partitionId: p.id,
      events: p.events.length,
      checkpoints: Object.fromEntries(hub.consumers.map((c) => [c.group, c.next[i]!])),
    }));
  }

  /** Events not yet checkpointed by any consumer group. */
  lag(hubName: string): number {
    const hub = this.hub(hubName);
    return hub.consumers.reduce((sum, c) => sum + hub.partitions.reduce((s, p, i) => s + p.events.length - c.next[i]!, 0), 0);
  }

  close(): void {
    this.closed = true;
    for (const hub of this.hubs.values()) for (const p of hub.partitions) p.journal?.close();
  }

  private hub(name: string): Hub {
    let hub = this.hubs.get(name);
    if (!hub) {
      const partitions = Array.from({ length: this.partitionCount }, (_, i) => this.openPartition(name, String(i)));
      // Round-robin goes on after the partition with the fewest events, so a restart keeps them even.
      const fewest = partitions.reduce((best, p, i) => (p.events.length < partitions[best]!.events.length ? i : best), 0);
      hub = { name, partitions, consumers: [], nextPartition: fewest };
      this.hubs.set(name, hub);
    }
    return hub;
  }

  private openPartition(hub: string, id: string): Partition {
    if (!this.options.dir) return { id, events: [], journal: null };
    const { journal, records } = Journal.open<EventData>(join(this.options.dir, hub, 'partitions', `${id}.jsonl`));
    return { id, events: records, journal };
  }

  private checkpointPath(hub: string, group: string, partitionId: string): string | null {
    return this.options.dir ? join(this.options.dir, hub, 'checkpoints', encodeURIComponent(group), `${partitionId}.json`) : null;
  }

  private readCheckpoint(hub: string, group: string, partitionId: string): number {
    const path = this.checkpointPath(hub, group, partitionId);
    if (!path || !existsSync(path)) return 0;
    return (JSON.parse(readFileSync(path, 'utf8')) as { next: number }).next;
  }

  private writeCheckpoint(hub: string, group: string, partitionId: string, next: number): void {
    const path = this.checkpointPath(hub, group, partitionId);
    if (!path) return;
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(`${path}.tmp`, JSON.stringify({ next }));
    renameSync(`${path}.tmp`, path);
  }

  private async pump(hub: Hub, consumer: Consumer, p: number): Promise<void> {
    if (consumer.pumping[p]) return;
    consumer.pumping[p] = true;
    const partition = hub.partitions[p]!;
    try {
      while (!this.closed && consumer.next[p]! < partition.events.length) {
        const events = partition.events.slice(consumer.next[p]!, consumer.next[p]! + this.maxBatchSize);
        const batch: PartitionBatch = { hub: hub.name, consumerGroup: consumer.group, partitionId: partition.id, events };
        try {
          await consumer.handler(batch);
        } catch (error) {
          this.options.onError?.(error, batch);
        }
        if (this.closed) return;
        consumer.next[p] = events[events.length - 1]!.sequenceNumber + 1;
        this.writeCheckpoint(hub.name, consumer.group, partition.id, consumer.next[p]!);
      }
    } finally {
      consumer.pumping[p] = false;
    }
  }
}
