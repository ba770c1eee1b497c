/**
 * A call stopped just before it went out because its slot's send-by moment had passed: the gate counted
 * the charge for the granted slot, not for now, so sending it late could exceed the quota. Nothing was
 * sent; the job asks the gate again (`missed`).
 *
 * Thrown by the guarded fetch, inside the openai SDK, which wraps it (an `APIConnectionError` whose
 * `cause` it is): find it with `slotMissedIn`, by type, never by message.
 */
export class SlotMissedError extends Error {
  override readonly name = 'SlotMissedError';

  constructor(
    /** The slot's send-by moment (epoch ms). */
    readonly sendBy: number,
    /** When the call was stopped (epoch ms), after `sendBy`. */
    readonly stoppedAt: number,
  ) {
    // Worded without "time out": the SDK reads that in a fetch error's text as a timeout and drops the cause.
    super(`not sent: the slot's send-by moment had passed ${stoppedAt - sendBy} ms before the request could go out`);
  }
}

/** The `SlotMissedError` an error is or was caused by (the SDK wraps what fetch throws), if any. */
export function slotMissedIn(error: unknown): SlotMissedError | undefined {
  let current: unknown = error;
  // Bounded: a cause chain is short, and a cyclic one must not hang the call.
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    if (current instanceof SlotMissedError) return current;
    current = (current as { readonly cause?: unknown }).cause;
  }
  return undefined;
}
