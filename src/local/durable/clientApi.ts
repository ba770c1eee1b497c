/**
 * The HTTP API the durable extension offers `DurableClient` (`rpcBaseUrl`): start an orchestration,
 * read an instance's status, raise an event, signal an entity and read its state, served over the
 * in-process DurableEngine, so `df.getClient(context)` works unmodified outside the Functions host.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { DurableEngine } from './engine.js';

export interface ClientApi {
  readonly rpcBaseUrl: string;
  /** The value the durableClient input binding carries. */
  readonly clientData: Record<string, unknown>;
  close(): Promise<void>;
}

const send = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

export async function startClientApi(engine: DurableEngine, taskHubName = 'tokengate'): Promise<ClientApi> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      try {
        if (req.method === 'POST' && parts[0] === 'orchestrators' && parts[1]) {
          const instanceId = parts[2] ?? `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
          const text = Buffer.concat(chunks).toString('utf8');
          const started = engine.startNew(parts[1], instanceId, text === '' ? null : JSON.parse(text));
          if (!started) return send(res, 409, { message: `an instance with id ${instanceId} already exists` });
          return send(res, 202, { id: instanceId });
        }
        if (req.method === 'POST' && parts[0] === 'instances' && parts[1] && parts[2] === 'raiseEvent' && parts[3]) {
          const text = Buffer.concat(chunks).toString('utf8');
          if (!engine.raiseEvent(parts[1], parts[3], text === '' ? null : JSON.parse(text))) return send(res, 404, { message: `no running instance ${parts[1]}` });
          return send(res, 202, {});
        }
        if (parts[0] === 'entities' && parts[1] && parts[2] !== undefined) {
          if (req.method === 'POST') {
            const text = Buffer.concat(chunks).toString('utf8');
            engine.signalEntity(parts[1], parts[2], url.searchParams.get('op') ?? '', text === '' ? undefined : JSON.parse(text));
            return send(res, 202, {});
          }
          const state = engine.readEntityState(parts[1], parts[2]);
          if (state === undefined) return send(res, 404, { message: `entity ${parts[1]}@${parts[2]} has no state` });
          res.writeHead(200, { 'content-type': 'application/json' }).end(state);
          return undefined;
        }
        if (req.method === 'GET' && parts[0] === 'instances' && parts[1]) {
          const status = engine.getStatus(parts[1]);
          if (!status) return send(res, 404, { message: `no instance ${parts[1]}` });
          return send(res, 200, {
            name: status.name,
            instanceId: status.instanceId,
            runtimeStatus: status.runtimeStatus,
            input: status.input,
            output: status.output,
            createdTime: status.createdTime,
            lastUpdatedTime: status.lastUpdatedTime,
          });
        }
        return send(res, 404, { message: `no route ${req.method} ${url.pathname}` });
      } catch (error) {
        return send(res, 500, { message: error instanceof Error ? error.message : String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    rpcBaseUrl: base,
    clientData: { taskHubName, creationUrls: {}, managementUrls: {}, baseUrl: base, requiredQueryStringParameters: '', rpcBaseUrl: base },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
