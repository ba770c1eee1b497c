/**
 * The local Cosmos server's own HTTP request handler as the SDK's `httpClient`: what the runtime's store
 * uses to reach the server in its own process. The SDK builds, signs and sends every request exactly as
 * over the network (the same method, path, headers and JSON body) and reads the same status, headers
 * and body back; the server answers with the very listener its HTTPS server runs. Only the sockets, TLS
 * and HTTP framing in between are left out, which on loopback cost more CPU than the store itself.
 * The server still listens on its endpoint for anyone else (tests, tools).
 *
 * Each request is handled on a later turn of the event loop, as one arriving on a socket would be.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { CosmosClientOptions } from '@azure/cosmos';

type HttpClient = NonNullable<CosmosClientOptions['httpClient']>;
type PipelineRequest = Parameters<HttpClient['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<HttpClient['sendRequest']>>;
type HttpHeaders = PipelineResponse['headers'];
type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Response headers as the SDK's pipeline keeps them: case-insensitive names. */
class Headers implements HttpHeaders {
  private readonly map = new Map<string, { name: string; value: string }>();
  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase())?.value;
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  set(name: string, value: string | number | boolean): void {
    this.map.set(name.toLowerCase(), { name, value: String(value) });
  }
  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }
  toJSON(options: { preserveCase?: boolean } = {}): Record<string, string> {
    const json: Record<string, string> = {};
    for (const [key, { name, value }] of this.map) json[options.preserveCase ? name : key] = value;
    return json;
  }
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (const [key, { value }] of this.map) yield [key, value];
  }
}

/** The part of ServerResponse the server's handler uses: a status, headers, one `end`. */
class LocalResponse {
  statusCode = 200;
  finished = false;
  headersSent = false;
  readonly headers = new Headers();
  constructor(private readonly done: (status: number, headers: Headers, body: string) => void) {}
  setHeader(name: string, value: string | number | readonly string[]): this {
    this.headers.set(name, Array.isArray(value) ? value.join(', ') : String(value));
    return this;
  }
  getHeader(name: string): string | undefined {
    return this.headers.get(name);
  }
  removeHeader(name: string): void {
    this.headers.delete(name);
  }
  end(body?: string | Buffer): this {
    if (this.finished) return this;
    this.finished = true;
    this.headersSent = true;
    this.done(this.statusCode, this.headers, body === undefined ? '' : body.toString());
    return this;
  }
}

function abortError(): Error {
  const error = new Error('The operation was aborted.');
  error.name = 'AbortError';
  return error;
}

function bodyText(body: PipelineRequest['body']): string | Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new Error('the local Cosmos transport takes string and binary bodies only');
}

/** An `httpClient` for @azure/cosmos that hands every request to `server`'s request listener. */
export function inProcessHttpClient(server: Server): HttpClient {
  const listener = server.listeners('request')[0] as Listener | undefined;
  if (!listener) throw new Error('the local Cosmos server has no request listener');
  return {
    sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      return new Promise<PipelineResponse>((resolve, reject) => {
        const signal = request.abortSignal;
        if (signal?.aborted) return reject(abortError());
        const url = new URL(request.url);
        const body = bodyText(request.body);
        const headers: Record<string, string> = { host: url.host };
        for (const [name, value] of request.headers) headers[name.toLowerCase()] = value;
        if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
        let settled = false;
        const onAbort = () => {
          if (settled) return;
          settled = true;
          reject(abortError());
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const req = new Readable({ read() {} }) as Readable & { method: string; url: string; headers: Record<string, string> };
        req.method = request.method;
        req.url = `${url.pathname}${url.search}`;
        req.headers = headers;
        if (body !== undefined) req.push(Buffer.isBuffer(body) ? body : Buffer.from(body));
        req.push(null);
        const res = new LocalResponse((status, responseHeaders, text) => {
          signal?.removeEventListener('abort', onAbort);
          if (settled) return;
          settled = true;
          // As over HTTP: the client keeps non-empty header values only.
          for (const [name, value] of responseHeaders) if (value === '') responseHeaders.delete(name);
          resolve({ request, status, headers: responseHeaders, bodyAsText: text });
        });
        setImmediate(() => {
          if (settled) return;
          listener(req as unknown as IncomingMessage, res as unknown as ServerResponse);
        });
      });
    },
  };
}
