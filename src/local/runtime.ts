/**
 * The local runtime: the unmodified app (every function in src/functions, loaded through the emulated
 * `@azure/functions-core`) with the host around it: HTTP on 127.0.0.1 under /api, Event Hub and
 * Service Bus triggers over an in-memory bus, the durable engine and its client API, the Azure OpenAI
 * simulator when AZURE_OPENAI_ENDPOINT is unset, and a local Cosmos-protocol server when
 * COSMOS_ENDPOINT is unset. Nothing here decides anything for the app; it only carries events.
 * Not yet persisted: a restart starts empty.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { InvocationContext } from '@azure/functions';
import { AppSettings, loadSettings } from '../lib/config.js';
import { cosmosStoreFor, modelGatewayFor, useServices } from '../lib/services.js';
import { JobStore } from '../lib/store/jobStore.js';
import { startClientApi } from './durable/clientApi.js';
import { ActivityHandler, DurableEngine } from './durable/engine.js';
import { OrchestratorExecutor } from './durable/orchestrationDriver.js';
import { EntityExecutor } from './durableEntityExecutor.js';
import { RegisteredFunction, installFunctionsCore } from './host/functionsCore.js';
import { match, routesOf, toHttpRequest, writeResponse } from './host/httpHost.js';
import { Output, invoke } from './host/invoke.js';
import { startLocalCosmos } from './services/localCosmos.js';
import { MessageBus } from './services/messageBus.js';
import { Simulator, startSimulator } from './simulator/server.js';

export interface LocalRuntime {
  readonly url: string;
  readonly settings: AppSettings;
  readonly functions: ReadonlyMap<string, RegisteredFunction>;
  readonly bus: MessageBus;
  readonly engine: DurableEngine;
  readonly simulator: Simulator | null;
  close(): Promise<void>;
}

export interface LocalRuntimeOptions {
  readonly port?: number;
  readonly functionsDir?: string;
  readonly log?: (line: string) => void;
  /** Where queues, durable history and the store are kept; default LOCAL_DATA_DIR or `.local-data`. */
  readonly dataDir?: string;
}

async function loadFunctions(dir: string): Promise<ReadonlyMap<string, RegisteredFunction>> {
  const registry = installFunctionsCore();
  const files = readdirSync(dir).filter((f) => (f.endsWith('.js') || f.endsWith('.ts')) && !f.endsWith('.d.ts'));
  for (const file of files) await import(join(dir, file));
  return registry;
}

async function localStore(settings: AppSettings, closers: (() => Promise<void>)[]): Promise<JobStore> {
  if (settings.store.endpoint !== null) {
    return cosmosStoreFor(settings);
  }
  const cosmos = await startLocalCosmos(settings.store.databaseId);
  closers.push(() => cosmos.close());
  return cosmos.store;
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => console.log(line));
  const closers: (() => Promise<void>)[] = [];
  const functions = await loadFunctions(options.functionsDir ?? join(__dirname, '..', 'functions'));
  const settings = loadSettings();

  const simulator =
    settings.openai.endpoint === null
      ? await startSimulator({
          mode: settings.gate.mode,
          tokensPerMinute: settings.gate.tokensPerMinute,
          requestsPerMinute: settings.gate.requestsPerMinute,
          windowMs: settings.gate.windowMs,
          model: settings.model,
          latency: { baseMs: 40, perTokenMs: 0.2 },
        })
      : null;
  if (simulator) closers.push(() => simulator.close());
  const store = await localStore(settings, closers);
  useServices({
    settings,
    store,
    model: modelGatewayFor(settings, simulator ? { endpoint: simulator.endpoint, apiKey: 'local-simulator' } : {}),
  });

  const bus = new MessageBus();
  const deliver = (outputs: readonly Output[]) => {
    for (const { binding, value } of outputs) {
      const messages = Array.isArray(value) ? value : [value];
      if (binding.type === 'eventHub') bus.send(String(binding.eventHubName), messages);
      else if (binding.type === 'serviceBus') bus.send(String(binding.queueName), messages);
    }
  };

  const byTrigger = (type: string) => [...functions.values()].filter((f) => f.trigger.type === type);
  const activity = (fn: RegisteredFunction): ActivityHandler => async (input: unknown, _context: InvocationContext) => {
    const { result, outputs } = await invoke(fn, [input], { log });
    deliver(outputs);
    return result;
  };
  const engine = new DurableEngine(
    {
      orchestrations: new Map(byTrigger('orchestrationTrigger').map((f) => [f.name, f.handler as OrchestratorExecutor])),
      entities: new Map(byTrigger('entityTrigger').map((f) => [f.name, f.handler as EntityExecutor])),
      activities: new Map(byTrigger('activityTrigger').map((f) => [f.name, activity(f)])),
    },
    log,
  );
  closers.push(async () => engine.stop());
  const clientApi = await startClientApi(engine);
  closers.push(() => clientApi.close());

  for (const fn of byTrigger('eventHubTrigger')) {
    bus.consumeBatches(String(fn.trigger.eventHubName), async (messages) => {
      deliver((await invoke(fn, [messages.map((m) => m.body)], { durableClientData: clientApi.clientData, log })).outputs);
    });
  }
  for (const fn of byTrigger('serviceBusTrigger')) {
    bus.consumeEach(String(fn.trigger.queueName), async (message) => {
      deliver((await invoke(fn, [message.body], { durableClientData: clientApi.clientData, triggerMetadata: { messageId: message.messageId }, log })).outputs);
    });
  }

  const routes = routesOf(functions.values());
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/local/status') {
        const { gate } = settings;
        return writeResponse(res, {
          status: 200,
          jsonBody: { gate: { mode: gate.mode, tokensPerWindow: gate.tokensPerMinute, windowMs: gate.windowMs }, simulator: simulator?.stats() ?? null },
        });
      }
      const queue = /^\/local\/queues\/([\w-]+)$/.exec(url.pathname);
      if (queue) {
        // The local runtime's own view of its queues, for the CLI and tests: send, receive, dead letters.
        const name = queue[1]!;
        if (req.method === 'POST') {
          const chunks: Buffer[] = [];
          for await (const chunk of req) chunks.push(chunk as Buffer);
          bus.send(name, [Buffer.concat(chunks).toString('utf8')]);
          return writeResponse(res, { status: 202, jsonBody: { queued: 1 } });
        }
        return writeResponse(res, { status: 200, jsonBody: { messages: bus.receive(name), deadLetters: bus.deadLetters(name) } });
      }
      const found = match(routes, req.method ?? 'GET', url.pathname);
      if (!found) return writeResponse(res, { status: 404, jsonBody: { error: { code: 'not_found', message: `no function at ${req.method} ${url.pathname}` } } });
      const request = await toHttpRequest(req, found.params, 'http://127.0.0.1');
      const { result, outputs } = await invoke(found.route.fn, [request], { durableClientData: clientApi.clientData, log });
      deliver(outputs);
      writeResponse(res, (result ?? { status: 204 }) as Parameters<typeof writeResponse>[1]);
    })().catch((error: unknown) => {
      log(`[error] ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      if (!res.headersSent) writeResponse(res, { status: 500, jsonBody: { error: { code: 'internal', message: 'the function failed' } } });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 7071, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    settings,
    functions,
    bus,
    engine,
    simulator,
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}

if (require.main === module) {
  startLocalRuntime({ port: Number(process.env.PORT ?? 7071) })
    .then((runtime) => {
      const { gate } = runtime.settings;
      console.log(`TokenGate local runtime on ${runtime.url}`);
      for (const route of routesOf(runtime.functions.values())) console.log(`  ${route.methods.join(',').padEnd(5)} ${runtime.url}/api/${String(route.fn.trigger.route)}`);
      console.log(`  model: ${runtime.simulator ? `simulator at ${runtime.simulator.endpoint}` : runtime.settings.openai.endpoint}, ${gate.mode}, ${gate.tokensPerMinute} tokens per ${gate.windowMs / 1000} s window`);
      console.log('  queues: POST/GET /local/queues/{feedback-in|feedback-out}; store and queues are in memory for now');
      const stop = () => void runtime.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    });
}
