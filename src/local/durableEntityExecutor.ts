/**
 * Runs a registered entity handler through the durable-functions library's own entity executor (the
 * code the Functions worker runs for an entityTrigger), one batch of operations at a time, persisting
 * the state between batches as JSON the way the durable extension does.
 */
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { EntityHandler } from 'durable-functions';

interface ExecutorResult {
  entityExists: boolean;
  entityState?: string;
  results: { isError: boolean; result?: string }[];
}

/** What the worker calls for an entityTrigger: `df.app.entity` registers exactly this around the handler. */
export type EntityExecutor = (trigger: unknown, context: InvocationContext) => Promise<unknown>;

// The executor is not part of the typed API; this is its documented testing entry point.
const { createEntityFunction } = require('durable-functions/lib/src/util/testingUtils') as {
  createEntityFunction: (fn: EntityHandler<unknown>) => EntityExecutor;
};

/** The executor for an entity handler, as `df.app.entity` would register it. */
export function entityExecutor(handler: EntityHandler<unknown>): EntityExecutor {
  return createEntityFunction(handler);
}

export interface Operation {
  /** Set when the operation must run once across restarts (the engine journals which ids ran). */
  readonly id?: string;
  readonly name: string;
  readonly input?: unknown;
}

export class DurableEntityExecutor {
  private state: string | undefined;
  private exists = false;
  private nextId = 0;
  operations = 0;
  batches = 0;

  constructor(
    private readonly run: EntityExecutor,
    private readonly id: df.EntityId,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  get stateJson(): string | undefined {
    return this.state;
  }

  get stateExists(): boolean {
    return this.exists;
  }

  /** Picks up the state saved before a restart. */
  restore(state: string | undefined, exists: boolean): void {
    this.state = state;
    this.exists = exists;
  }

  /** Runs one batch; the results come back in order, parsed. */
  async execute(batch: readonly Operation[]): Promise<unknown[]> {
    const context = new InvocationContext({
      functionName: this.id.name,
      invocationId: `batch-${this.batches}`,
      logHandler: (_level, ...args) => this.log(args.map(String).join(' ')),
    });
    const output = (await this.run(
      {
        self: this.id,
        exists: this.exists,
        state: this.state,
        batch: batch.map((op) => ({ id: `op-${this.nextId++}`, name: op.name, input: op.input === undefined ? undefined : JSON.stringify(op.input) })),
      },
      context,
    )) as ExecutorResult;
    this.exists = output.entityExists;
    this.state = output.entityState;
    this.batches += 1;
    this.operations += batch.length;
    return output.results.map((r) => (r.result === undefined ? undefined : JSON.parse(r.result)));
  }
}
