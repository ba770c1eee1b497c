/**
 * A local HTTP server speaking the Azure OpenAI chat completions protocol, answering each call from a
 * script: what a real deployment would send back, status, headers and body.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';

export interface ScriptedReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

export interface ScriptedModelServer {
  readonly endpoint: string;
  /** Request bodies received, in order. */
  readonly received: Record<string, unknown>[];
  /** When each of `received` arrived (epoch ms, as the request began), in the same order. */
  readonly receivedAt: number[];
  /** Replies to hand out, in order; when empty, `fallback` answers. */
  readonly replies: ScriptedReply[];
  fallback: ScriptedReply;
  /** Answer to `GET /openai/models` (the health probe), and how many times it was asked. */
  modelsReply: ScriptedReply;
  readonly modelsRequests: number;
  close(): Promise<void>;
}

export function completionFor(content: string, usage = { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 }) {
  return {
    id: 'chatcmpl-local',
    object: 'chat.completion',
    created: 1_800_000_000,
    model: 'gpt-4o',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
    usage,
  };
}

export async function startScriptedModelServer(): Promise<ScriptedModelServer> {
  const state = {
    received: [] as Record<string, unknown>[],
    receivedAt: [] as number[],
    replies: [] as ScriptedReply[],
    fallback: { status: 200, body: completionFor('ok') } as ScriptedReply,
    modelsReply: { status: 200, body: { object: 'list', data: [{ id: 'gpt-4o', object: 'model' }] } } as ScriptedReply,
    modelsRequests: 0,
  };
  const server = http.createServer((req, res) => {
    const arrivedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method === 'GET' && path === '/openai/models') {
        state.modelsRequests += 1;
        res.writeHead(state.modelsReply.status, { 'content-type': 'application/json', ...state.modelsReply.headers }).end(JSON.stringify(state.modelsReply.body));
        return;
      }
      if (!/\/openai\/deployments\/[^/]+\/chat\/completions$/.test(path)) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NotFound', message: 'no such route' } }));
        return;
      }
      state.received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      state.receivedAt.push(arrivedAt);
      const reply = state.replies.shift() ?? state.fallback;
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: state.received,
    receivedAt: state.receivedAt,
    replies: state.replies,
    get fallback() {
      return state.fallback;
    },
    set fallback(reply: ScriptedReply) {
      state.fallback = reply;
    },
    get modelsReply() {
      return state.modelsReply;
    },
    set modelsReply(reply: ScriptedReply) {
      state.modelsReply = reply;
    },
    get modelsRequests() {
      return state.modelsRequests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
