/** The HTTP side of the host: `/api/<route>` to the registered httpTrigger functions. */
import http from 'node:http';
import { HttpRequest, HttpResponseInit } from '@azure/functions';
import { RegisteredFunction } from './functionsCore.js';

export interface Route {
  readonly fn: RegisteredFunction;
  readonly methods: readonly string[];
  readonly pattern: RegExp;
  readonly params: readonly string[];
}

export function routesOf(functions: Iterable<RegisteredFunction>): Route[] {
  const routes: Route[] = [];
  for (const fn of functions) {
    if (fn.trigger.type !== 'httpTrigger') continue;
    const template = String(fn.trigger.route ?? fn.name);
    const params: string[] = [];
    const source = template
      .split('/')
      .map((part) => {
        const m = /^\{(\w+)\??\}$/.exec(part);
        if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        params.push(m[1]!);
        return '([^/]+)';
      })
      .join('/');
    routes.push({ fn, methods: (fn.trigger.methods as string[] | undefined) ?? ['GET', 'POST'], pattern: new RegExp(`^/api/${source}/?$`), params });
  }
  return routes;
}

export function match(routes: readonly Route[], method: string, path: string): { route: Route; params: Record<string, string> } | null {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m || !route.methods.includes(method)) continue;
    const params: Record<string, string> = {};
    for (const [i, name] of route.params.entries()) {
      try {
        params[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        // A malformed %-escape matches no route, as on the host (404), rather than failing the request.
        return null;
      }
    }
    return { route, params };
  }
  return null;
}

export async function toHttpRequest(req: http.IncomingMessage, params: Record<string, string>, base: string): Promise<HttpRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
  return new HttpRequest({
    method: req.method ?? 'GET',
    url: new URL(req.url ?? '/', base).href,
    headers,
    params,
    ...(chunks.length > 0 ? { body: { bytes: Buffer.concat(chunks) } } : {}),
  });
}

export function writeResponse(res: http.ServerResponse, init: HttpResponseInit): void {
  const headers = new Headers(init.headers as Record<string, string> | undefined);
  let body: string | Uint8Array | undefined;
  if (init.jsonBody !== undefined) {
    body = JSON.stringify(init.jsonBody);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  } else if (typeof init.body === 'string' || init.body instanceof Uint8Array) {
    body = init.body;
  }
  res.writeHead(init.status ?? 200, Object.fromEntries(headers.entries()));
  res.end(body);
}
