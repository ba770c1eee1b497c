/**
 * The guard's error as the SDK hands it back: wrapped in an `APIConnectionError` whose cause it is, and
 * found by type along the cause chain, never by its text.
 */
import { describe, expect, it } from 'vitest';
import { APIConnectionError, APIConnectionTimeoutError, OpenAI, RateLimitError } from 'openai';
import { SlotMissedError, slotMissedIn } from '../../../src/lib/model/slotMissedError.js';
import { guardedFetch, sendingBy } from '../../../src/lib/model/sendByGuard.js';

describe('SlotMissedError', () => {
  it('is a typed error naming when it was stopped', () => {
    const error = new SlotMissedError(1_000, 1_042);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SlotMissedError');
    expect(error).toMatchObject({ sendBy: 1_000, stoppedAt: 1_042 });
    expect(error.message).toContain('42 ms');
  });

  it('is found through the causes that wrap it, and only by type', () => {
    const missed = new SlotMissedError(1, 2);
    expect(slotMissedIn(missed)).toBe(missed);
    expect(slotMissedIn(new APIConnectionError({ message: 'Connection error.', cause: missed }))).toBe(missed);
    expect(slotMissedIn(new Error('outer', { cause: new Error('middle', { cause: missed }) }))).toBe(missed);
    // Same words, other type: not a missed slot.
    expect(slotMissedIn(new Error(missed.message))).toBeUndefined();
    expect(slotMissedIn(new APIConnectionError({ message: 'Connection error.', cause: new Error('ECONNREFUSED') }))).toBeUndefined();
    expect(slotMissedIn(undefined)).toBeUndefined();
    const cyclic = new Error('a') as Error & { cause?: unknown };
    cyclic.cause = cyclic;
    expect(slotMissedIn(cyclic)).toBeUndefined();
  });
});

describe('guardedFetch through the openai client', () => {
  it('the SDK wraps the refusal as a connection error (not a timeout) that keeps it as its cause, and never fetches', async () => {
    let fetched = 0;
    const realFetch = globalThis.fetch;
    globalThis.fetch = async () => {
      fetched += 1;
      return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
    };
    try {
      const client = new OpenAI({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0, fetch: guardedFetch, organization: null, project: null, adminAPIKey: null });
      const missed = sendingBy(Date.now() - 1, () => client.models.list());
      const thrown = await missed.result.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(thrown).toBeInstanceOf(APIConnectionError);
      expect(thrown).not.toBeInstanceOf(APIConnectionTimeoutError);
      expect(slotMissedIn(thrown)).toBeInstanceOf(SlotMissedError);
      expect(fetched).toBe(0);
      expect(missed.sending.sentAt).toBeUndefined();
      // Outside a bound the same client fetches as usual.
      await client.models.list();
      expect(fetched).toBe(1);
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it('notes when the request went out, the moment it is handed to fetch, whether the call then succeeds or fails', async () => {
    const realFetch = globalThis.fetch;
    const fetchedAt: number[] = [];
    let status = 200;
    globalThis.fetch = async () => {
      fetchedAt.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 30));
      return new Response(status === 200 ? '{"data":[]}' : '{"error":{"message":"slow down"}}', { status, headers: { 'content-type': 'application/json' } });
    };
    try {
      const client = new OpenAI({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0, fetch: guardedFetch, organization: null, project: null, adminAPIKey: null });
      const before = Date.now();
      const sent = sendingBy(Date.now() + 60_000, () => client.models.list());
      expect(sent.sending.sentAt).toBeUndefined();
      await sent.result;
      const answered = Date.now();
      // Taken right before the request is handed to fetch (the same millisecond or the one before).
      expect(sent.sending.sentAt!).toBeGreaterThanOrEqual(before);
      expect(sent.sending.sentAt!).toBeLessThanOrEqual(fetchedAt[0]!);
      // Taken as it was sent, not when the answer came back.
      expect(answered - sent.sending.sentAt!).toBeGreaterThanOrEqual(25);

      status = 429;
      const throttledFrom = Date.now();
      const throttled = sendingBy(undefined, () => client.models.list());
      await expect(throttled.result).rejects.toBeInstanceOf(RateLimitError);
      expect(throttled.sending.sentAt!).toBeGreaterThanOrEqual(throttledFrom);
      expect(throttled.sending.sentAt!).toBeLessThanOrEqual(fetchedAt[1]!);
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it('turns a synchronous throw into the result\'s rejection', async () => {
    const failed = sendingBy(undefined, () => {
      throw new Error('building the request failed');
    });
    await expect(failed.result).rejects.toThrow('building the request failed');
    expect(failed.sending.sentAt).toBeUndefined();
  });
});
