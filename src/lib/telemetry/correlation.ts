/**
 * Correlation ids on every log line about a job: the request id and the batch id, as `key=value`
 * pairs App Insights' traces can be searched by, end to end from the producer to the result. Log
 * lines carry ids and outcomes only: never prompt text, results or secrets.
 */
export interface Correlation {
  readonly requestId?: string;
  readonly batchId?: string;
}

export function correlated(message: string, ids: Correlation): string {
  const pairs = [ids.requestId && `request_id=${ids.requestId}`, ids.batchId && `batch_id=${ids.batchId}`].filter(Boolean);
  return pairs.length > 0 ? `${message} ${pairs.join(' ')}` : message;
}
