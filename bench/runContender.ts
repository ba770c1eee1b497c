/**
 * One contender on one scenario, in a process of its own: `node dist/bench/runContender.js '<json>'`.
 * Starts the scenario's deployment (simulator + recorder) as a child process (bench/deployment.ts), runs
 * the contender against it, and prints one line `BENCH_RESULT {...}` with the raw facts (the deployment's
 * admissions, every recorded call, each job's outcome, utilization samples, the contender's CPU time);
 * bench/figures.ts turns them into figures. A process per run because TokenGate's settings are read once
 * per process, and so every contender starts equally cold.
 */
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { countPromptTokens } from '../src/lib/model/tokenizer.js';
import { ContenderId, ContenderResult, Contender } from './contender.js';
import { DeploymentFacts, DeploymentMessage, DeploymentRequest, MODEL } from './deployment.js';
import { bottleneck } from './peers/bottleneck.js';
import { cookbook } from './peers/cookbook.js';
import { openaiPlimit } from './peers/openaiPlimit.js';
import { SCENARIOS, ScenarioId } from './scenarios.js';
import { tokengate } from './tokengate.js';
import { workloadFor } from './workload.js';

export const RESULT_PREFIX = 'BENCH_RESULT ';

export interface RunRequest {
  readonly contender: ContenderId;
  readonly scenario: ScenarioId;
  /** Give up after this long; unfinished jobs count as lost. */
  readonly timeoutMs: number;
}

export interface RawRun extends ContenderResult, DeploymentFacts {
  readonly contender: ContenderId;
  readonly scenario: ScenarioId;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** CPU of the contender's process (not the deployment's). */
  readonly cpuMs: number;
}

const CONTENDER_RUNS: Record<ContenderId, Contender> = {
  tokengate,
  'openai-plimit': openaiPlimit,
  bottleneck,
  cookbook,
};

/** The deployment process: its endpoint, and requests answered in order over its IPC channel. */
interface Deployment {
  readonly endpoint: string;
  ask<K extends DeploymentRequest['kind']>(kind: K): Promise<Extract<DeploymentMessage, { kind: K }>>;
}

function startDeployment(scenario: ScenarioId): Promise<Deployment> {
  const child: ChildProcess = fork(join(__dirname, 'deployment.js'), [scenario], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: ((message: DeploymentMessage) => void)[] = [];
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the deployment process exited (${code}) before it was ready`)));
    child.on('message', (message: DeploymentMessage) => {
      if (message.kind === 'ready') {
        resolve({
          endpoint: message.endpoint,
          ask: (kind) =>
            new Promise((answer) => {
              waiting.push(answer as (message: DeploymentMessage) => void);
              child.send({ kind } satisfies DeploymentRequest);
            }),
        });
        return;
      }
      waiting.shift()?.(message);
    });
  });
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as RunRequest;
  const scenario = SCENARIOS.find((s) => s.id === request.scenario);
  const run = CONTENDER_RUNS[request.contender];
  if (!scenario || !run) throw new Error(`unknown run ${process.argv[2]}`);
  // The tokenizer's first use costs ~350 ms; a long-running service has it warm.
  countPromptTokens({ messages: [{ role: 'user', content: 'warm up' }] }, MODEL);

  const deployment = await startDeployment(scenario.id);
  const startedAt = Date.now();
  const cpu = process.cpuUsage();
  const result = await run({
    scenario,
    endpoint: deployment.endpoint,
    deployment: MODEL,
    apiVersion: '2024-10-21',
    model: MODEL,
    jobs: workloadFor(scenario),
    deadline: startedAt + request.timeoutMs,
    recorded: async () => (await deployment.ask('recorded')).calls,
  });
  const used = process.cpuUsage(cpu);
  const finishedAt = Date.now();
  const facts: DeploymentFacts = (await deployment.ask('facts')).facts;

  const raw: RawRun = {
    ...result,
    contender: request.contender,
    scenario: scenario.id,
    startedAt,
    finishedAt,
    ...facts,
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
