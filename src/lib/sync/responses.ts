/**
 * Synchronous outcomes as HTTP answers: the app's own shape (`{ error: { code, message } }`) for
 * `/api/completion` and `/api/chat`, and Azure OpenAI's for the compatible route, so the official
 * `openai` client raises the same `APIError` subclass it would against Azure (it goes by status).
 * Plain objects shaped like `HttpResponseInit`, so this stays free of the Functions host.
 */
import { JobError } from '../jobs/job.js';
import { SubmissionError } from '../jobs/submission.js';
import { SyncOutcome } from './syncCall.js';

export interface SyncHttpResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly jsonBody: unknown;
}

/** The request id rides in the header the SDK reads as `requestID`. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** `retry-after` (whole seconds, rounded up) and `retry-after-ms`, as Azure sends them on a 429. */
export function retryAfterHeaders(retryAfterMs: number): Record<string, string> {
  const ms = Math.max(0, Math.ceil(retryAfterMs));
  return { 'retry-after': String(Math.ceil(ms / 1000)), 'retry-after-ms': String(ms) };
}

/**
 * The HTTP status for a failed job: the upstream status when the model answered, otherwise what the
 * failure was (no answer: 502, timeout: 504, a gate or engine failure: 500 or 503).
 */
export function statusForJobError(error: JobError): number {
  if (error.status !== null && error.status >= 400 && error.status <= 599) return error.status;
  switch (error.code) {
    case 'timeout':
      return 504;
    case 'connection_error':
    case 'aborted':
    case 'unknown_error':
    case 'provider_unavailable':
      return 502;
    case 'too_large':
      return 400;
    case 'deferred_too_often':
      return 503;
    default:
      return 500;
  }
}

const timeoutMessage = (requestId: string) => `the call is still running; its result will be at /api/response/${requestId}`;

/** The app's own routes: the `chat.completion` as Azure returned it, or `{ error: { code, message } }`. */
export function appResponse(outcome: SyncOutcome): SyncHttpResponse {
  const headers = { [REQUEST_ID_HEADER]: outcome.requestId };
  switch (outcome.kind) {
    case 'completed':
      return { status: 200, headers, jsonBody: outcome.completion };
    case 'rate_limited':
      return { status: 429, headers: { ...headers, ...retryAfterHeaders(outcome.retryAfterMs) }, jsonBody: { error: { code: 'rate_limited', message: outcome.message, request_id: outcome.requestId } } };
    case 'failed':
      return {
        status: statusForJobError(outcome.error),
        headers,
        jsonBody: { error: { code: outcome.error.code ?? 'failed', message: outcome.error.message, status: outcome.error.status, request_id: outcome.requestId } },
      };
    case 'timeout':
      return { status: 504, headers, jsonBody: { error: { code: 'timeout', message: timeoutMessage(outcome.requestId), request_id: outcome.requestId } } };
  }
}

/** The app's answer to a request that failed validation: 400 (413 for a body over the limit) with every issue. */
export function appRefusal(error: SubmissionError): SyncHttpResponse {
  return { status: error.status, headers: {}, jsonBody: error.toResponseBody() };
}

/** Azure OpenAI's error body: `{ error: { code, message, param, type } }`. */
function azureError(status: number, code: string | null, message: string, headers: Record<string, string> = {}, param: string | null = null, type: string | null = null): SyncHttpResponse {
  return { status, headers, jsonBody: { error: { code, message, param, type } } };
}

/** The Azure-OpenAI-compatible route: exactly Azure's body, or its error shape with the same status. */
export function azureResponse(outcome: SyncOutcome): SyncHttpResponse {
  const headers = { [REQUEST_ID_HEADER]: outcome.requestId };
  switch (outcome.kind) {
    case 'completed':
      return { status: 200, headers, jsonBody: outcome.completion };
    case 'rate_limited':
      // Azure's quota 429 carries code "429"; clients (ours too) read that as the quota kind.
      return azureError(429, '429', `Requests to the ChatCompletions_Create Operation have exceeded the rate the gate admits within the synchronous bound. ${outcome.message}`, {
        ...headers,
        ...retryAfterHeaders(outcome.retryAfterMs),
      });
    case 'failed':
      return azureError(statusForJobError(outcome.error), outcome.error.code, outcome.error.message, headers);
    case 'timeout':
      return azureError(504, 'timeout', timeoutMessage(outcome.requestId), headers);
  }
}

/** A request refused before it became a job, in Azure's shape (400, or 413 for a body over the limit). */
export function azureRefusal(error: SubmissionError): SyncHttpResponse {
  const first = error.issues[0];
  return azureError(error.status, error.status === 413 ? 'body_too_large' : 'invalid_request', error.message, {}, first && first.field !== '' ? first.field : null, 'invalid_request_error');
}

/** Azure's answer for a deployment the resource does not have. */
export function azureDeploymentNotFound(deployment: string): SyncHttpResponse {
  return azureError(404, 'DeploymentNotFound', `The API deployment ${JSON.stringify(deployment)} for this resource does not exist.`);
}
