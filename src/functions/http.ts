/** Small helpers shared by the functions: JSON error bodies in one shape, and the shape of the ids the app hands out. */
import { HttpResponseInit } from '@azure/functions';

export function errorResponse(status: number, code: string, message: string): HttpResponseInit {
  return { status, jsonBody: { error: { code, message } } };
}

/**
 * Every id the app hands out (`req_`/`batch_` + base64url, `fb_…`, `fb_…_batch`) is 1 to 255 characters
 * of [A-Za-z0-9_-]. An id of any other shape names nothing we stored, so it is answered "not found"
 * without asking the store: the Cosmos SDK throws on '', '/', '\', '#' and lone surrogates (a 500), and
 * reads '.' and '..' as paths, the container itself.
 */
const ISSUED_ID = /^[A-Za-z0-9_-]{1,255}$/;

export function isIssuedId(id: string): boolean {
  return ISSUED_ID.test(id);
}
