/**
 * The send-by check at the last moment before a model call goes out. The openai clients are given
 * `guardedFetch`; the call's `sendBy` reaches it through an AsyncLocalStorage (`sendingBy`), since the
 * SDK's own async steps (auth token, request building) run between our code and its fetch. Past
 * `sendBy`, fetch throws `SlotMissedError` instead of sending. The same fetch notes when the request
 * went out, which the gate uses to hold the call's charge for exactly its window. Calls made outside
 * `sendingBy` (the health probe's model list, for one) pass through untouched.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientOptions } from 'openai';
import { SlotMissedError } from './slotMissedError.js';

/** The SDK's `fetch` option. */
export type ModelFetch = NonNullable<ClientOptions['fetch']>;

/** One call on its way: its send-by moment, and when its request went out once it has. */
export interface Sending {
  readonly sendBy: number | undefined;
  sentAt: number | undefined;
}

const sendingCall = new AsyncLocalStorage<Sending>();

/**
 * Runs `send` (one model call) so that its request is not sent after `sendBy` (epoch ms; undefined: no
 * bound). `sending.sentAt` is set when the request goes out, whether the call then succeeds or throws.
 */
export function sendingBy<T>(sendBy: number | undefined, send: () => Promise<T>): { readonly sending: Sending; readonly result: Promise<T> } {
  const sending: Sending = { sendBy, sentAt: undefined };
  // Async, so that even a synchronous throw arrives as the result's rejection.
  return { sending, result: sendingCall.run(sending, async () => send()) };
}

/** `fetch`, unless the current call's send-by moment has passed: then `SlotMissedError`, and nothing is sent. */
export const guardedFetch: ModelFetch = async (input, init) => {
  const call = sendingCall.getStore();
  const now = Date.now();
  if (call?.sendBy !== undefined && now > call.sendBy) throw new SlotMissedError(call.sendBy, now);
  // The first request is the call's (the clients do not retry); it is the one Azure charges.
  if (call !== undefined) call.sentAt ??= now;
  // Looked up per call, not captured at load: whatever fetch the process has now (the SDK's default too).
  return globalThis.fetch(input, init);
};
