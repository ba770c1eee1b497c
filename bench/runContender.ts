/**
 * One contender on one scenario, in a process of its own: `node dist/bench/runContender.js '<json>'`.
 * Starts a fresh simulator with the scenario's deployment and a recorder in front of it, runs the
 * contender, and prints one line `BENCH_RESULT {...}` with the raw facts (the deployment's admissions,
 * every recorded call, each job's outcome, utilization samples, CPU time); bench/figures.ts turns them
 * into figures. A process per run because TokenGate's settings are read once per process, and so
 * every contender starts equally cold.
 */
import { countPromptTokens } from '../src/lib/model/tokenizer.js';
import { SimulatorCall, startSimulator } from '../src/local/simulator/server.js';
import { ContenderId, ContenderResult, Contender } from './contender.js';
import { bottleneck } from './peers/bottleneck.js';
import { cookbook } from './peers/cookbook.js';
import { openaiPlimit } from './peers/openaiPlimit.js';
import { RecordedCall, startRecorder } from './recorder.js';
import { SCENARIOS, ScenarioId, requestsPerWindow } from './scenarios.js';
import { tokengate } from './tokengate.js';
import { workloadFor } from './workload.js';

export const RESULT_PREFIX = 'BENCH_RESULT ';
const MODEL = 'gpt-4o';
/** The local runtime's simulated latency, for every contender alike. */
export const LATENCY = { baseMs: 40, perTokenMs: 0.2 };
const UTILIZATION_SAMPLE_MS = 10;

export interface RunRequest {
  readonly contender: ContenderId;
  readonly scenario: ScenarioId;
  /** Give up after this long; unfinished jobs count as lost. */
  readonly timeoutMs: number;
}

export interface RawRun extends ContenderResult {
  readonly contender: ContenderId;
  readonly scenario: ScenarioId;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly admissions: readonly SimulatorCall[];
  readonly calls: readonly RecordedCall[];
  readonly requests: number;
  readonly throttled: { readonly rate_limit: number; readonly overloaded: number };
  readonly tokensUsed: number;
  /** Provisioned: [epoch ms, utilization fraction] every 10 ms. */
  readonly utilization: readonly (readonly [number, number])[];
  readonly cpuMs: number;
}

const CONTENDER_RUNS: Record<ContenderId, Contender> = {
  tokengate,
  'openai-plimit': openaiPlimit,
  bottleneck,
  cookbook,
};

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as RunRequest;
  const scenario = SCENARIOS.find((s) => s.id === request.scenario);
  const run = CONTENDER_RUNS[request.contender];
  if (!scenario || !run) throw new Error(`unknown run ${process.argv[2]}`);
  // The tokenizer's first use costs ~350 ms; a long-running service has it warm.
  countPromptTokens({ messages: [{ role: 'user', content: 'warm up' }] }, MODEL);

  const simulator = await startSimulator({
    mode: scenario.mode,
    tokensPerMinute: scenario.tokensPerWindow,
    requestsPerMinute: requestsPerWindow(scenario),
    windowMs: scenario.windowMs,
    model: MODEL,
    latency: LATENCY,
  });
  const recorder = await startRecorder(simulator.endpoint);
  const utilization: [number, number][] = [];
  const sampler =
    scenario.mode === 'provisioned'
      ? setInterval(() => utilization.push([Date.now(), simulator.stats().utilization ?? 0]), UTILIZATION_SAMPLE_MS)
      : undefined;

  const startedAt = Date.now();
  const cpu = process.cpuUsage();
  const result = await run({
    scenario,
    endpoint: recorder.endpoint,
    deployment: MODEL,
    apiVersion: '2024-10-21',
    model: MODEL,
    jobs: workloadFor(scenario),
    deadline: startedAt + request.timeoutMs,
    recorded: () => recorder.calls(),
  });
  const used = process.cpuUsage(cpu);
  const finishedAt = Date.now();
  if (sampler) clearInterval(sampler);
  const stats = simulator.stats();
  await recorder.close();
  await simulator.close();

  const raw: RawRun = {
    ...result,
    contender: request.contender,
    scenario: scenario.id,
    startedAt,
    finishedAt,
    admissions: stats.calls,
    calls: recorder.calls(),
    requests: stats.requests,
    throttled: stats.throttled,
    tokensUsed: stats.tokensUsed,
    utilization,
    cpuMs: (used.user + used.system) / 1000,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(raw)}\n`);
}

// compare.ts imports the types and constants; only the child process runs.
if (require.main === module) {
  main()
    // Exit even with a peer's timers still pending after the deadline.
    .then(() => process.exit(0))
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.stack ?? error.message : error);
      process.exit(1);
    });
}
