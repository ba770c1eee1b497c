/**
 * The send-by check at the last moment before a model call goes out. The openai clients are given
 * `guardedFetch`; the call's `sendBy` reaches it through an AsyncLocalStorage (`sendingBy`), since the
 * SDK's own async steps (auth token, request building) run between our code and its fetch. Past
 * `sendBy`, fetch throws `SlotMissedError` instead of sending. Calls made outside `sendingBy` (the
 * health probe's model list, for one) pass through untouched.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientOptions } from 'openai';
import { SlotMissedError } from './slotMissedError.js';

/** The SDK's `fetch` option. */
export type ModelFetch = NonNullable<ClientOptions['fetch']>;

const sendByOfCall = new AsyncLocalStorage<number>();

/** Runs `send` (one model call) so that its request is not sent after `sendBy` (epoch ms); undefined: no bound. */
export function sendingBy<T>(sendBy: number | undefined, send: () => Promise<T>): Promise<T> {
  return sendBy === undefined ? send() : sendByOfCall.run(sendBy, send);
}

/** `fetch`, unless the current call's send-by moment has passed: then `SlotMissedError`, and nothing is sent. */
export const guardedFetch: ModelFetch = async (input, init) => {
  const sendBy = sendByOfCall.getStore();
  const now = Date.now();
  if (sendBy !== undefined && now > sendBy) throw new SlotMissedError(sendBy, now);
  // Looked up per call, not captured at load: whatever fetch the process has now (the SDK's default too).
  return globalThis.fetch(input, init);
};
