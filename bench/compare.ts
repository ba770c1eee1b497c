/**
 * `npm run bench`: TokenGate against the peers (issue #7). Every contender runs every scenario in a
 * process of its own (bench/runContender.ts) against its own fresh deployment (bench/deployment.ts),
 * on the same jobs; the figures are computed here from what the deployment and the recorder saw.
 * Prints a table and the targets, writes bench/results/compare.json and compare.svg.
 *
 * TokenGate runs alone (its pipeline is the CPU-heavy one); the three peers of a scenario then run side
 * by side (each mostly waits on timers), which keeps the whole run near five minutes on two cores.
 * BENCH_PARALLEL_PEERS=0 runs them one at a time. Knobs: BENCH_SCALE (0.2 for a smoke run; its results
 * go to a temporary folder, never bench/results), BENCH_SCENARIOS (a,b,c,d), BENCH_CONTENDERS,
 * BENCH_JOBS, BENCH_WINDOW_SECONDS, BENCH_TOKENS_PER_WINDOW, BENCH_PLIMIT_CONCURRENCY,
 * BENCH_GATE_START_TOLERANCE_MS, BENCH_OUT, BENCH_DUMP (a folder for every run's raw facts as JSON).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chargeFor } from '../src/lib/model/charge.js';
import { CONTENDERS, ContenderId } from './contender.js';
import { idealDrain } from './ideal.js';
import { PLIMIT_CONCURRENCY } from './peers/openaiPlimit.js';
import { LATENCY, MODEL } from './deployment.js';
import { RESULT_PREFIX, RawRun, RunRequest } from './runContender.js';
import { SCALE, SCENARIOS, Scenario } from './scenarios.js';
import { RunFigures, summarize } from './summary.js';
import { chartSvg } from './svg.js';
import { grouped, markdownTable } from './table.js';
import { TargetCheck, checkTargets } from './targets.js';
import { startToleranceMs } from './tokengate.js';
import { workloadFor } from './workload.js';

const PARALLEL_PEERS = process.env.BENCH_PARALLEL_PEERS !== '0';
const selectedScenarios = SCENARIOS.filter((s) => (process.env.BENCH_SCENARIOS ?? 'a,b,c,d').split(',').includes(s.id));
const selectedContenders = CONTENDERS.filter((c) => (process.env.BENCH_CONTENDERS ?? CONTENDERS.join(',')).split(',').includes(c));
const OUT = process.env.BENCH_OUT ?? (SCALE === 1 ? resolve(__dirname, '..', '..', 'bench', 'results') : join(tmpdir(), 'tokengate-bench-smoke'));

function runChild(request: RunRequest): Promise<RawRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(__dirname, 'runContender.js'), JSON.stringify(request)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) return fail(new Error(`${request.contender} on (${request.scenario}) exited ${code}: ${stderr.slice(-2000)}`));
      done(JSON.parse(line.slice(RESULT_PREFIX.length)) as RawRun);
    });
  });
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
const ms = (x: number | null) => (x === null ? '–' : x < 0 ? 'never (lost)' : `${grouped(x)} ms`);

function row(scenario: Scenario, f: RunFigures): string[] {
  const interactive = f.interactive ? `${ms(f.interactive.p95Ms)}${f.interactive.served < f.interactive.count ? ` (${f.interactive.count - f.interactive.served} lost)` : ''}` : '–';
  return [
    scenario.id,
    f.contender,
    pct(f.steadyShare),
    f.drainRatio === null ? '–' : `${f.drainRatio.toFixed(2)} (${((f.drainMs ?? 0) / 1000).toFixed(1)} s)`,
    f.throttledPer100Calls.toFixed(1),
    String(f.lost),
    String(f.duplicated),
    interactive,
    f.ptu ? `${pct(f.ptu.meanUtilization)} / ${pct(f.ptu.maxUtilization)}` : '–',
    f.cpuMsPerJob.toFixed(1),
    ms(f.afterAnswerP50Ms),
  ];
}

export const TABLE_HEADER = [
  'scenario',
  'contender',
  'steady state, % of quota',
  'drain / ideal',
  '429s per 100 calls',
  'lost',
  'dup',
  'interactive p95 wait',
  'PTU util mean / max',
  'CPU ms per job',
  'answer → result p50',
];

async function main(): Promise<void> {
  const started = Date.now();
  const results: { scenario: Scenario; ideal: ReturnType<typeof idealDrain>; runs: RunFigures[] }[] = [];
  for (const scenario of selectedScenarios) {
    const jobs = workloadFor(scenario);
    const ideal = idealDrain(scenario, jobs.map((j) => j.request), MODEL, LATENCY);
    const charges = new Map(jobs.map((j) => [j.tag, chargeFor(j.request, MODEL)]));
    const timeoutMs = Math.round(ideal.lastAnswerMs * 3 + 30_000);
    console.error(
      `${scenario.title}: ${jobs.length} jobs, ${grouped(ideal.chargedTokens)} tokens charged = ${(ideal.chargedTokens / scenario.tokensPerWindow).toFixed(2)} windows of quota, ideal drain ${(ideal.lastAnswerMs / 1000).toFixed(1)} s`,
    );
    const raws: RawRun[] = [];
    const run = async (contender: ContenderId) => {
      const t = Date.now();
      const raw = await runChild({ contender, scenario: scenario.id, timeoutMs });
      if (process.env.BENCH_DUMP) writeFileSync(join(process.env.BENCH_DUMP, `${contender}-${scenario.id}.json`), JSON.stringify(raw));
      console.error(`  ${contender.padEnd(14)} ${((Date.now() - t) / 1000).toFixed(1)} s`);
      raws.push(raw);
    };
    const peers = selectedContenders.filter((c) => c !== 'tokengate');
    if (selectedContenders.includes('tokengate')) await run('tokengate');
    if (PARALLEL_PEERS) await Promise.all(peers.map(run));
    else for (const peer of peers) await run(peer);
    const order = (c: ContenderId) => CONTENDERS.indexOf(c);
    raws.sort((x, y) => order(x.contender) - order(y.contender));
    results.push({ scenario, ideal, runs: raws.map((raw) => summarize(raw, scenario, ideal, (tag) => charges.get(tag))) });
  }
  const totalSeconds = (Date.now() - started) / 1000;

  const table = markdownTable(
    TABLE_HEADER,
    results.flatMap(({ scenario, runs }) => runs.map((f) => row(scenario, f))),
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  const targets: TargetCheck[] = results.flatMap(({ scenario, runs }) => runs.filter((f) => f.contender === 'tokengate').flatMap((f) => checkTargets(scenario, f)));
  console.log(table);
  console.log('\nTokenGate targets:');
  for (const t of targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'} (${t.scenario}) ${t.target}: ${t.measured}`);
  console.log(`\n${results.reduce((n, r) => n + r.runs.length, 0)} runs in ${totalSeconds.toFixed(0)} s`);

  const windowMs = selectedScenarios[0]?.windowMs ?? 0;
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    join(OUT, 'compare.json'),
    `${JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        node: process.version,
        cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
        totalSeconds,
        scale: SCALE,
        parallelPeers: PARALLEL_PEERS,
        setup: {
          model: MODEL,
          windowMs,
          tokensPerWindow: selectedScenarios[0]?.tokensPerWindow,
          requestsPerWindow: ((selectedScenarios[0]?.tokensPerWindow ?? 0) / 1000) * 6,
          simulatorLatency: LATENCY,
          tokengateStartToleranceMs: Object.fromEntries(selectedScenarios.map((scenario) => [scenario.id, startToleranceMs(scenario)])),
          plimitConcurrency: PLIMIT_CONCURRENCY,
        },
        definitions: {
          steadyShare:
            'mean occupancy of the rolling window (standard: charged tokens; provisioned: used tokens) over [first admission + W, last admission − W], as a share of the quota',
          drain: 'submission → the last job’s result in the caller’s hands',
          idealDrain: 'the same jobs from a perfect client (no overhead, each call at the earliest moment the deployment’s rules allow), last answer',
          throttledPer100Calls: '429s (quota and high-demand) per 100 chat calls the deployment received',
          lost: 'jobs whose caller never got a completion (failed after retries, or unfinished at the deadline)',
          duplicated: 'jobs the deployment answered 200 more than once',
          interactiveWait: 'arrival → the deployment admitting the call; a request never served counts as infinite (-1 in JSON)',
          ptu: 'bucket utilization sampled every 10 ms: mean over the steady state, max over the run',
          cpuMsPerJob: "CPU of the contender's process per job (its deployment runs in a process of its own)",
          afterAnswerP50Ms: 'the deployment’s answer → the result available to the caller, median',
        },
        scenarios: results.map(({ scenario, ideal, runs }) => ({ ...scenario, ideal, runs })),
        targets,
        table,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(
    join(OUT, 'compare.svg'),
    chartSvg(
      `TokenGate vs peers: the deployment's load (${windowMs / 1000} s windows)`,
      results.map(({ scenario, runs }) => ({
        title: `${scenario.title}${scenario.mode === 'provisioned' ? ': utilization' : ': tokens in the last window'}`,
        windowSeconds: scenario.windowMs / 1000,
        references: scenario.ptuThreshold !== null ? [[1, '100%'], [scenario.ptuThreshold, `threshold ${scenario.ptuThreshold}`]] : [[1, 'quota']],
        lines: runs.map((f) => ({ contender: f.contender, points: f.series })),
      })),
    ),
  );
  console.log(`wrote ${join(OUT, 'compare.json')} and compare.svg`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  process.exitCode = 1;
});
