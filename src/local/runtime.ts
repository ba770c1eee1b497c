/**
 * The local runtime: the unmodified app (every function in src/functions, loaded through the emulated
 * `@azure/functions-core`) with the host around it: HTTP under /api, Event Hub, Service Bus and timer
 * triggers over embedded services, the durable engine and its client API, the Azure OpenAI simulator
 * when AZURE_OPENAI_ENDPOINT is unset, and a local Cosmos-protocol server when COSMOS_ENDPOINT is
 * unset. Queues, durable state and the store are kept under the data folder, so a `kill -9` and a
 * restart lose nothing. Nothing here decides anything for the app; it only carries events.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvocationContext } from '@azure/functions';
import { AppSettings, loadSettings } from '../lib/config.js';
import { cosmosStoreFor, modelGatewayFor, useServices } from '../lib/services.js';
import { JobStore } from '../lib/store/jobStore.js';
import { startClientApi } from './durable/clientApi.js';
import { ActivityHandler, DurableEngine } from './durable/engine.js';
import { OrchestratorExecutor } from './durable/orchestrationDriver.js';
import { EntityExecutor } from './durableEntityExecutor.js';
import { authorized, functionKeyFor } from './host/functionKeys.js';
import { RegisteredFunction, installFunctionsCore } from './host/functionsCore.js';
import { match, routesOf, toHttpRequest, writeResponse } from './host/httpHost.js';
import { bindingValue, loadLocalSettings } from './host/localSettings.js';
import { Output, invoke } from './host/invoke.js';
import { parseSchedule } from './host/timerSchedule.js';
import { LocalEventHubs } from './services/eventHubs.js';
import { startLocalCosmos } from './services/localCosmos.js';
import { LocalServiceBus } from './services/serviceBusQueues.js';
import { parseFaultUpdate } from './simulator/faults.js';
import { Simulator, startSimulator } from './simulator/server.js';
import { simulatorOptionsFor } from './simulatorOptions.js';
import { startLocalTelemetry } from './telemetry.js';

export interface LocalRuntime {
  readonly url: string;
  readonly settings: AppSettings;
  readonly dataDir: string;
  readonly functions: ReadonlyMap<string, RegisteredFunction>;
  readonly eventHubs: LocalEventHubs;
  readonly serviceBus: LocalServiceBus;
  readonly engine: DurableEngine;
  readonly simulator: Simulator | null;
  /** Required on function-level routes when listening beyond loopback; null on loopback. */
  readonly functionKey: string | null;
  close(): Promise<void>;
}

export interface LocalRuntimeOptions {
  readonly port?: number;
  /** Interface to listen on; anything but loopback makes function-level routes require a key. */
  readonly host?: string;
  readonly functionsDir?: string;
  readonly log?: (line: string) => void;
  /** Where queues, durable history and the store are kept; default LOCAL_DATA_DIR or `.local-data`. */
  readonly dataDir?: string;
}

/** The Service Bus queues' MaxDeliveryCount: Service Bus's default (infra sets 5 on feedback-in, where a retry rarely helps). */
export const MAX_DELIVERY_COUNT = 10;

async function loadFunctions(dir: string): Promise<ReadonlyMap<string, RegisteredFunction>> {
  const registry = installFunctionsCore();
  const files = readdirSync(dir).filter((f) => (f.endsWith('.js') || f.endsWith('.ts')) && !f.endsWith('.d.ts'));
  for (const file of files) await import(join(dir, file));
  return registry;
}

async function localStore(settings: AppSettings, dataDir: string, closers: (() => Promise<void>)[]): Promise<JobStore> {
  if (settings.store.endpoint !== null) {
    return cosmosStoreFor(settings);
  }
  const cosmos = await startLocalCosmos(settings.store.databaseId, { journalPath: join(dataDir, 'cosmos', `${settings.store.databaseId}.jsonl`) });
  closers.push(() => cosmos.close());
  return cosmos.store;
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => console.log(line));
  const closers: (() => Promise<void>)[] = [];
  const fromFile = loadLocalSettings();
  const functions = await loadFunctions(options.functionsDir ?? join(__dirname, '..', 'functions'));
  const settings = loadSettings();
  if (fromFile.length > 0) log(`settings from local.settings.json: ${fromFile.join(', ')}`);
  const dataDir = resolve(options.dataDir ?? (process.env.LOCAL_DATA_DIR || '.local-data'));
  const host = options.host ?? '127.0.0.1';
  const functionKey = functionKeyFor(host, dataDir, process.env.LOCAL_FUNCTION_KEY);
  const telemetry = startLocalTelemetry(dataDir);
  closers.push(() => telemetry.stop());

  const simulator =
    settings.openai.endpoint === null
      ? await startSimulator(simulatorOptionsFor(settings))
      : null;
  if (simulator) closers.push(() => simulator.close());
  const store = await localStore(settings, dataDir, closers);
  useServices({
    settings,
    store,
    model: modelGatewayFor(settings, simulator ? { endpoint: simulator.endpoint, apiKey: 'local-simulator' } : {}),
  });

  const eventHubs = new LocalEventHubs({
    dir: join(dataDir, 'eventhubs'),
    onError: (error, batch) => log(`[error] event hub ${batch.hub} partition ${batch.partitionId}: ${error instanceof Error ? error.message : String(error)}`),
  });
  const serviceBus = new LocalServiceBus({ dir: join(dataDir, 'servicebus'), maxDeliveryCount: MAX_DELIVERY_COUNT });
  closers.push(async () => {
    eventHubs.close();
    serviceBus.close();
  });
  const deliver = (outputs: readonly Output[]) => {
    for (const { binding, value } of outputs) {
      const messages = Array.isArray(value) ? value : [value];
      if (binding.type === 'eventHub') eventHubs.send(bindingValue(binding, 'eventHubName'), messages);
      else if (binding.type === 'serviceBus') serviceBus.send(bindingValue(binding, 'queueName'), messages);
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
    { journalPath: join(dataDir, 'durable', `${process.env.DURABLE_TASK_HUB_NAME || 'tokengate'}.jsonl`) },
  );
  closers.push(async () => engine.stop());
  const clientApi = await startClientApi(engine);
  closers.push(() => clientApi.close());
  const durableClientData = clientApi.clientData;

  for (const fn of byTrigger('eventHubTrigger')) {
    eventHubs.subscribe(bindingValue(fn.trigger, 'eventHubName'), bindingValue(fn.trigger, 'consumerGroup') || '$Default', async (batch) => {
      const many = fn.trigger.cardinality === 'many';
      const triggerMetadata = {
        partitionContext: { eventHubName: batch.hub, consumerGroup: batch.consumerGroup, partitionId: batch.partitionId },
        sequenceNumberArray: batch.events.map((e) => e.sequenceNumber),
        enqueuedTimeUtcArray: batch.events.map((e) => e.enqueuedTimeUtc),
      };
      const calls = many ? [batch.events.map((e) => e.body)] : batch.events.map((e) => e.body);
      for (const argument of calls) deliver((await invoke(fn, [argument], { durableClientData, triggerMetadata, log })).outputs);
    });
  }
  for (const fn of byTrigger('serviceBusTrigger')) {
    serviceBus.subscribe(bindingValue(fn.trigger, 'queueName'), async (message) => {
      const triggerMetadata = { messageId: message.messageId, deliveryCount: message.deliveryCount, enqueuedTimeUtc: message.enqueuedTimeUtc };
      deliver((await invoke(fn, [message.body], { durableClientData, triggerMetadata, log })).outputs);
    });
  }
  for (const fn of byTrigger('timerTrigger')) {
    const schedule = parseSchedule(bindingValue(fn.trigger, 'schedule'));
    let timer: NodeJS.Timeout | undefined;
    const arm = (last: Date) => {
      const next = schedule.next(last);
      timer = setTimeout(() => {
        void invoke(fn, [{ isPastDue: Date.now() - next.getTime() > 1000, scheduleStatus: { last: last.toISOString(), next: schedule.next(next).toISOString(), lastUpdated: new Date().toISOString() } }], { durableClientData, log })
          .then((r) => deliver(r.outputs), (error: unknown) => log(`[error] ${fn.name}: ${error instanceof Error ? error.message : String(error)}`))
          .finally(() => arm(next));
      }, Math.max(0, next.getTime() - Date.now()));
    };
    arm(new Date());
    if (fn.trigger.runOnStartup === true) void invoke(fn, [{ isPastDue: false }], { durableClientData, log }).catch(() => undefined);
    closers.push(async () => clearTimeout(timer));
  }

  const routes = routesOf(functions.values());
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname.startsWith('/local/') && !authorized('function', functionKey, req.headers, url)) {
        return writeResponse(res, { status: 401, jsonBody: { error: { code: 'unauthorized', message: 'this runtime listens beyond loopback: send the function key (x-functions-key or ?code=)' } } });
      }
      if (url.pathname === '/local/status') {
        const { gate } = settings;
        return writeResponse(res, {
          status: 200,
          jsonBody: {
            dataDir,
            gate: { mode: gate.mode, tokensPerWindow: gate.tokensPerMinute, windowMs: gate.windowMs },
            simulator: simulator?.stats() ?? null,
            orchestrations: engine.counts(),
            recovered: engine.recovered,
            metrics: await telemetry.snapshot(),
            eventHubs: Object.fromEntries(byTrigger('eventHubTrigger').map((f) => { const hub = bindingValue(f.trigger, 'eventHubName'); return [hub, eventHubs.describe(hub)]; })),
          },
        });
      }
      if (url.pathname === '/local/simulator/faults') {
        // Fault runs switch an outage or a 429 storm on and off while a batch runs; SIMULATOR_* set the rest at start.
        if (!simulator) return writeResponse(res, { status: 404, jsonBody: { error: { code: 'no_simulator', message: 'AZURE_OPENAI_ENDPOINT is set: this runtime has no simulator' } } });
        if (req.method !== 'PUT') return writeResponse(res, { status: 200, jsonBody: simulator.faults() });
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        const update = parseFaultUpdate(body);
        if (typeof update === 'string') return writeResponse(res, { status: 400, jsonBody: { error: { code: 'invalid_request', message: update } } });
        return writeResponse(res, { status: 200, jsonBody: simulator.setFaults(update) });
      }
      const queue = /^\/local\/queues\/([\w-]+)$/.exec(url.pathname);
      if (queue) {
        // The local runtime's own view of its queues, for the CLI and tests: send, peek or receive, dead letters.
        const name = queue[1]!;
        if (req.method === 'POST') {
          const chunks: Buffer[] = [];
          for await (const chunk of req) chunks.push(chunk as Buffer);
          serviceBus.send(name, [Buffer.concat(chunks).toString('utf8')]);
          return writeResponse(res, { status: 202, jsonBody: { queued: 1 } });
        }
        const receive = url.searchParams.get('receive');
        const messages = receive === null ? serviceBus.peek(name) : serviceBus.receive(name, receive === '' ? undefined : Number(receive));
        return writeResponse(res, { status: 200, jsonBody: { messages, deadLetters: serviceBus.deadLetters(name) } });
      }
      const found = match(routes, req.method ?? 'GET', url.pathname);
      if (!found) return writeResponse(res, { status: 404, jsonBody: { error: { code: 'not_found', message: `no function at ${req.method} ${url.pathname}` } } });
      if (!authorized(found.route.fn.trigger.authLevel, functionKey, req.headers, url)) {
        return writeResponse(res, { status: 401, jsonBody: { error: { code: 'unauthorized', message: 'send the function key in x-functions-key or ?code=' } } });
      }
      const request = await toHttpRequest(req, found.params, `http://${req.headers.host ?? '127.0.0.1'}`);
      const { result, outputs } = await invoke(found.route.fn, [request], { durableClientData, log });
      // Outputs first, as the host does: a 202 means the events are already in the hub.
      deliver(outputs);
      writeResponse(res, (result ?? { status: 204 }) as Parameters<typeof writeResponse>[1]);
    })().catch((error: unknown) => {
      log(`[error] ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      if (!res.headersSent) writeResponse(res, { status: 500, jsonBody: { error: { code: 'internal', message: 'the function failed' } } });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 7071, host, resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address === '0.0.0.0' ? '127.0.0.1' : address.address}:${address.port}`;
  return {
    url,
    settings,
    dataDir,
    functions,
    eventHubs,
    serviceBus,
    engine,
    simulator,
    functionKey,
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}

if (require.main === module) {
  startLocalRuntime({ port: Number(process.env.PORT ?? 7071), host: process.env.HOST || '127.0.0.1' })
    .then((runtime) => {
      const { gate } = runtime.settings;
      const r = runtime.engine.recovered;
      console.log(`TokenGate local runtime on ${runtime.url}`);
      for (const route of routesOf(runtime.functions.values())) console.log(`  ${route.methods.join(',').padEnd(5)} ${runtime.url}/api/${String(route.fn.trigger.route)}`);
      console.log(`  model: ${runtime.simulator ? `simulator at ${runtime.simulator.endpoint}` : runtime.settings.openai.endpoint}, ${gate.mode}, ${gate.tokensPerMinute} tokens per ${gate.windowMs / 1000} s window`);
      console.log(`  data: ${runtime.dataDir} (${r.instances} orchestrations found, ${r.running} resumed)`);
      console.log('  queues: POST/GET /local/queues/{feedback-in|feedback-out}; status: GET /local/status');
      if (runtime.functionKey) console.log(`  function key required (x-functions-key or ?code=): ${process.env.LOCAL_FUNCTION_KEY ? 'LOCAL_FUNCTION_KEY' : `kept in ${join(runtime.dataDir, 'function-key.json')}`}`);
      const stop = () => void runtime.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    });
}
