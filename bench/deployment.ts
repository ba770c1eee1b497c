/**
 * The deployment a bench run talks to, in a process of its own: `node dist/bench/deployment.js <scenario>`,
 * started by runContender.ts with an IPC channel. It runs the simulator with the scenario's limits and the
 * recorder in front of it, samples a provisioned deployment's utilization every 10 ms, and answers the
 * parent's `facts` message with everything it saw. Apart from the contender, as Azure is: a contender that
 * keeps its own process busy (TokenGate runs the whole app there) must not also delay the deployment's
 * clock, which counts a call when it arrives (measured in one process: up to ~80 ms between a call leaving
 * and the simulator admitting it, under the opening burst).
 */
import { SimulatorCall, startSimulator } from '../src/local/simulator/server.js';
import { RecordedCall, startRecorder } from './recorder.js';
import { SCENARIOS, requestsPerWindow } from './scenarios.js';

export const MODEL = 'gpt-4o';
/** The local runtime's simulated latency, for every contender alike. */
export const LATENCY = { baseMs: 40, perTokenMs: 0.2 };
const UTILIZATION_SAMPLE_MS = 10;

/** What the deployment saw, sent to the parent on request. */
export interface DeploymentFacts {
  readonly admissions: readonly SimulatorCall[];
  readonly calls: readonly RecordedCall[];
  readonly requests: number;
  readonly throttled: { readonly rate_limit: number; readonly overloaded: number };
  readonly tokensUsed: number;
  /** Provisioned: [epoch ms, utilization fraction] every 10 ms. */
  readonly utilization: readonly (readonly [number, number])[];
}

/** Parent → child: `recorded` (the calls so far) or `facts` (everything, then the child exits). */
export type DeploymentRequest = { readonly kind: 'recorded' } | { readonly kind: 'facts' };
/** Child → parent. */
export type DeploymentMessage =
  | { readonly kind: 'ready'; readonly endpoint: string }
  | { readonly kind: 'recorded'; readonly calls: readonly RecordedCall[] }
  | { readonly kind: 'facts'; readonly facts: DeploymentFacts };

async function main(): Promise<void> {
  const scenario = SCENARIOS.find((s) => s.id === process.argv[2]);
  if (!scenario || !process.send) throw new Error(`usage: deployment.js <scenario id>, started with an IPC channel (got ${process.argv[2]})`);
  const send = (message: DeploymentMessage) => process.send!(message);
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
    scenario.mode === 'provisioned' ? setInterval(() => utilization.push([Date.now(), simulator.stats().utilization ?? 0]), UTILIZATION_SAMPLE_MS) : undefined;
  process.on('message', (request: DeploymentRequest) => {
    if (request.kind === 'recorded') {
      send({ kind: 'recorded', calls: recorder.calls() });
      return;
    }
    if (sampler) clearInterval(sampler);
    const stats = simulator.stats();
    const facts: DeploymentFacts = {
      admissions: stats.calls,
      calls: recorder.calls(),
      requests: stats.requests,
      throttled: stats.throttled,
      tokensUsed: stats.tokensUsed,
      utilization,
    };
    send({ kind: 'facts', facts });
    void Promise.all([recorder.close(), simulator.close()]).finally(() => process.exit(0));
  });
  // The parent died: nobody will ask for the facts.
  process.on('disconnect', () => process.exit(0));
  send({ kind: 'ready', endpoint: recorder.endpoint });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack ?? error.message : error);
    process.exit(1);
  });
}
