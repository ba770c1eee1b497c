/**
 * A local HTTP server speaking OpenAI's chat completions protocol (`POST /v1/chat/completions`, bearer
 * key), answering each call from a script: what an OpenAI-compatible provider would send back.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';

export interface ProviderReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

export interface ReceivedCall {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

export interface OpenAICompatibleServer {
  /** The base URL a provider names: `http://127.0.0.1:<port>/v1`. */
  readonly baseUrl: string;
  readonly received: ReceivedCall[];
  /** Replies to hand out, in order; when empty, a completion echoing the model. */
  readonly replies: ProviderReply[];
  close(): Promise<void>;
}

export function openAICompletion(content: string, model = 'local-model') {
  return {
    id: 'chatcmpl-compat',
    object: 'chat.completion',
    created: 1_800_000_000,
    model,
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
    usage: { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 },
  };
}

export async function startOpenAICompatibleServer(): Promise<OpenAICompatibleServer> {
  const received: ReceivedCall[] = [];
  const replies: ProviderReply[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'POST' || path !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'invalid_request_error', code: 'unknown_url', message: 'no such route' } }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      received.push({ path, headers: req.headers, body });
      const reply = replies.shift() ?? { status: 200, body: openAICompletion('ok', String(body['model'])) };
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    received,
    replies,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
