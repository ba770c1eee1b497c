/**
 * One entity's queue, as the durable extension runs it: operations that arrive while a batch executes
 * wait, and go together into the next batch (one state load and save per batch). After each batch the
 * owner may commit it (save the state and the answers) before anyone is answered.
 */
import { DurableEntityExecutor, Operation } from '../durableEntityExecutor.js';

export type BatchCommit = (batch: readonly Operation[], results: readonly unknown[], executor: DurableEntityExecutor) => void;

export class EntityMailbox {
  private pending: { op: Operation; reply: ((value: unknown) => void) | null }[] = [];
  private running = false;
  constructor(
    readonly executor: DurableEntityExecutor,
    private readonly commit: BatchCommit = () => undefined,
  ) {}

  /** Queues an operation; `reply` gets its result (null for a signal, which nobody waits for). */
  post(op: Operation, reply: ((value: unknown) => void) | null): void {
    this.pending.push({ op, reply });
    void this.drain();
  }

  /** An operation whose result the caller awaits, as an orchestration's callEntity does. */
  call<T>(name: string, input?: unknown): Promise<T> {
    return new Promise<T>((resolve) => this.post({ name, input }, resolve as (value: unknown) => void));
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        const ops = batch.map((p) => p.op);
        const results = await this.executor.execute(ops);
        this.commit(ops, results, this.executor);
        batch.forEach((p, i) => p.reply?.(results[i]));
      }
    } finally {
      this.running = false;
    }
  }
}
