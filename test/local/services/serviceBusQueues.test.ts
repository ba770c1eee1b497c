/** Local Service Bus queues: peek-lock, settlement, delivery counts, dead letters, and restarts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalServiceBus, QueueMessage, ServiceBusOptions } from '../../../src/local/services/serviceBusQueues.js';

let dir: string;
const open: LocalServiceBus[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'service-bus-'));
});
afterEach(() => {
  for (const bus of open.splice(0)) bus.close();
  rmSync(dir, { recursive: true, force: true });
});

function bus(options: Partial<ServiceBusOptions> = {}): LocalServiceBus {
  const b = new LocalServiceBus({ dir, ...options });
  open.push(b);
  return b;
}

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('LocalServiceBus', () => {
  it('keeps a message in the queue, locked, while its handler runs; completes it when the handler returns', async () => {
    const b = bus();
    const gate = deferred();
    const seen: QueueMessage[] = [];
    b.subscribe('in', async (m) => {
      seen.push(m);
      await gate.promise;
    });
    b.send('in', [{ text: 'hello' }]);
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    expect(seen[0]).toMatchObject({ body: { text: 'hello' }, deliveryCount: 1 });
    expect(seen[0]!.messageId).toMatch(/^[0-9a-f]{32}$/);
    // Still there for peek, with its count raised, while locked.
    expect(b.peek('in')).toEqual([seen[0]]);
    gate.resolve();
    await vi.waitFor(() => expect(b.peek('in')).toEqual([]));
    expect(b.deadLetters('in')).toEqual([]);
    await tick();
    expect(seen).toHaveLength(1);
  });

  it('abandons a message whose handler throws: it comes back at once with deliveryCount + 1', async () => {
    const b = bus({ maxDeliveryCount: 5 });
    const counts: number[] = [];
    b.subscribe('in', async (m) => {
      counts.push(m.deliveryCount);
      if (m.deliveryCount < 3) throw new Error(`attempt ${m.deliveryCount}`);
    });
    b.send('in', ['flaky']);
    await vi.waitFor(() => expect(b.peek('in')).toEqual([]));
    expect(counts).toEqual([1, 2, 3]);
    expect(b.deadLetters('in')).toEqual([]);
  });

  it('dead-letters a message after maxDeliveryCount deliveries, keeping the handler error', async () => {
    const b = bus({ maxDeliveryCount: 3 });
    const counts: number[] = [];
    b.subscribe('in', async (m) => {
      counts.push(m.deliveryCount);
      throw new Error(`boom ${m.deliveryCount}`);
    });
    b.send('in', [{ bad: true }]);
    await vi.waitFor(() => expect(b.deadLetters('in')).toHaveLength(1));
    expect(counts).toEqual([1, 2, 3]);
    expect(b.peek('in')).toEqual([]);
    const [letter] = b.deadLetters('in');
    expect(letter).toMatchObject({
      body: { bad: true },
      deliveryCount: 3,
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deadLetterErrorDescription: 'Message could not be consumed after 3 delivery attempts.',
      lastError: 'boom 3',
    });
    await tick();
    expect(counts).toHaveLength(3);
  });

  it('records a thrown non-Error as the last error', async () => {
    const b = bus({ maxDeliveryCount: 1 });
    b.subscribe('in', () => Promise.reject('plain string'));
    b.send('in', [1]);
    await vi.waitFor(() => expect(b.deadLetters('in')).toHaveLength(1));
    expect(b.deadLetters('in')[0]!.lastError).toBe('plain string');
  });

  it('a poison message does not block the others, even one call at a time', async () => {
    const b = bus({ maxDeliveryCount: 4, maxConcurrentCalls: 1 });
    const done: unknown[] = [];
    b.subscribe('in', async (m) => {
      if (m.body === 'poison') throw new Error('poison');
      done.push(m.body);
    });
    b.send('in', ['poison', 'a', 'b', 'c']);
    await vi.waitFor(() => expect(b.peek('in')).toEqual([]));
    expect(done).toEqual(['a', 'b', 'c']);
    expect(b.deadLetters('in').map((l) => [l.body, l.deliveryCount])).toEqual([['poison', 4]]);
  });

  it('never runs more than maxConcurrentCalls handlers at once, and uses them all', async () => {
    const b = bus({ maxConcurrentCalls: 3 });
    let running = 0;
    let most = 0;
    let handled = 0;
    b.subscribe('in', async () => {
      running += 1;
      most = Math.max(most, running);
      await tick(Math.random() * 4);
      running -= 1;
      handled += 1;
    });
    b.send('in', Array.from({ length: 10 }, (_, i) => i));
    b.send('in', Array.from({ length: 10 }, (_, i) => i + 10));
    await vi.waitFor(() => expect(handled).toBe(20));
    expect(most).toBe(3);
    expect(b.peek('in')).toEqual([]);
  });

  it('delivers nothing until a trigger subscribes', async () => {
    const b = bus();
    b.send('in', ['early']);
    await tick();
    expect(b.peek('in').map((m) => [m.body, m.deliveryCount])).toEqual([['early', 0]]);
    const seen: unknown[] = [];
    b.subscribe('in', async (m) => void seen.push(m.body));
    await vi.waitFor(() => expect(b.peek('in')).toEqual([]));
    expect(seen).toEqual(['early']);
  });

  it('receive-and-delete on a queue no trigger reads: oldest first, at most max, gone once received', () => {
    const b = bus();
    b.send('out', ['a', 'b', 'c']);
    expect(b.receive('out', 2).map((m) => m.body)).toEqual(['a', 'b']);
    expect(b.peek('out').map((m) => m.body)).toEqual(['c']);
    expect(b.receive('out').map((m) => m.body)).toEqual(['c']);
    expect(b.receive('out')).toEqual([]);
    expect(b.receive('empty')).toEqual([]);
  });

  it('receive takes nothing from a queue a trigger reads', () => {
    const b = bus();
    b.subscribe('in', () => new Promise(() => undefined));
    b.send('in', ['a']);
    expect(b.receive('in')).toEqual([]);
    expect(b.peek('in')).toHaveLength(1);
  });

  describe('after a restart', () => {
    it('a message locked at crash time comes back with its delivery count', async () => {
      const first = bus({ maxDeliveryCount: 5 });
      const stuck = deferred();
      const seen: QueueMessage[] = [];
      first.subscribe('in', async (m) => {
        seen.push(m);
        if (m.body === 'stuck') await stuck.promise;
      });
      first.send('in', ['done', 'stuck']);
      await vi.waitFor(() => expect(first.peek('in').map((m) => m.body)).toEqual(['stuck']));
      first.close(); // kill -9: the lock is lost, the handler's outcome never settles the message
      stuck.resolve();
      await tick();

      const second = bus({ maxDeliveryCount: 5 });
      // Available again (not locked), count kept.
      expect(second.peek('in').map((m) => [m.body, m.deliveryCount, m.messageId])).toEqual([['stuck', 1, seen[1]!.messageId]]);
      const again: QueueMessage[] = [];
      second.subscribe('in', async (m) => void again.push(m));
      await vi.waitFor(() => expect(second.peek('in')).toEqual([]));
      expect(again.map((m) => [m.body, m.deliveryCount])).toEqual([['stuck', 2]]);
      second.close();
      // Completed for good.
      expect(bus().peek('in')).toEqual([]);
    });

    it('abandoned messages keep their counts, and one that used all its deliveries is dead-lettered', async () => {
      const first = bus({ maxDeliveryCount: 2 });
      const stuck = deferred();
      first.subscribe('in', async (m) => {
        if (m.deliveryCount === 1) throw new Error('first try fails');
        await stuck.promise; // second delivery is in flight at the crash
      });
      first.send('in', ['m']);
      await vi.waitFor(() => expect(first.peek('in')[0]?.deliveryCount).toBe(2));
      first.close();

      const second = bus({ maxDeliveryCount: 2 });
      expect(second.peek('in').map((m) => m.deliveryCount)).toEqual([2]);
      const calls: QueueMessage[] = [];
      second.subscribe('in', async (m) => void calls.push(m));
      // Delivered as often as allowed: Service Bus dead-letters it instead of a third delivery.
      expect(calls).toEqual([]);
      expect(second.peek('in')).toEqual([]);
      expect(second.deadLetters('in')).toMatchObject([{ body: 'm', deliveryCount: 2, deadLetterReason: 'MaxDeliveryCountExceeded' }]);
    });

    it('dead letters, completions and receives persist; in-memory queues start empty', async () => {
      const first = bus({ maxDeliveryCount: 1 });
      first.subscribe('in', async (m) => {
        if (m.body === 'bad') throw new Error('bad body');
      });
      first.send('in', ['good', 'bad']);
      first.send('out', ['x', 'y']);
      expect(first.receive('out', 1).map((m) => m.body)).toEqual(['x']);
      await vi.waitFor(() => expect(first.deadLetters('in')).toHaveLength(1));
      await vi.waitFor(() => expect(first.peek('in')).toEqual([]));
      const letter = first.deadLetters('in')[0]!;
      first.close();

      const second = bus({ maxDeliveryCount: 1 });
      expect(second.deadLetters('in')).toEqual([letter]);
      expect(second.peek('in')).toEqual([]);
      expect(second.receive('out').map((m) => m.body)).toEqual(['y']);
      second.close();
      // And once more: the compacted journal holds the same.
      const third = bus({ maxDeliveryCount: 1 });
      expect(third.deadLetters('in')).toEqual([letter]);
      expect(third.peek('out')).toEqual([]);

      const memory = bus({ dir: null });
      memory.send('in', ['a']);
      memory.close();
      expect(bus({ dir: null }).peek('in')).toEqual([]);
    });

    it('keeps queues apart, whatever their names', async () => {
      const first = bus();
      first.send('a/b', [1]);
      first.send('a', [2]);
      first.send('a%2Fb', [3]);
      first.close();
      const second = bus();
      expect(second.peek('a/b').map((m) => m.body)).toEqual([1]);
      expect(second.peek('a').map((m) => m.body)).toEqual([2]);
      expect(second.peek('a%2Fb').map((m) => m.body)).toEqual([3]);
    });

    it('keeps arrival order across a restart', () => {
      const first = bus();
      first.send('out', ['a', 'b']);
      first.send('out', ['c']);
      first.close();
      expect(bus().receive('out').map((m) => m.body)).toEqual(['a', 'b', 'c']);
    });
  });
});
