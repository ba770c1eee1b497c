/**
 * `npm run bench:reliability`: issue #8's faults, crashes and load at full size on the local runtime
 * (child processes, as `npm start` runs it). Prints a table and writes bench/results/reliability.json.
 * RELIABILITY_LOAD_JOBS sets the load batch (default 20,000), RELIABILITY_ONLY=faults|crashes|load one part;
 * a part not run keeps its last figures in the JSON (each with its own `at`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrashResult, FaultsResult, LoadResult, runCrashes, runFaults, runLoad } from './reliability/scenarios.js';
import { repoRoot } from './reliability/processes.js';
import { grouped, markdownTable } from './table.js';

const log = (line: string) => console.log(`  ${line}`);
const only = process.env.RELIABILITY_ONLY;
const wanted = (part: string) => !only || only.split(',').includes(part);

async function main(): Promise<void> {
  const started = Date.now();
  let faults: FaultsResult | undefined;
  let crashes: CrashResult | undefined;
  let load: LoadResult | undefined;
  if (wanted('faults')) {
    console.log('faults: 1,000 jobs with 10% 5xx, 5% drops, 3% slower than the timeout; then a 429 storm and an outage, a minute each');
    faults = await runFaults({ noiseJobs: 1000, episodeJobs: 300, windowSeconds: 6, tokensPerMinute: 120_000, modelTimeoutSeconds: 1, seed: 8, timeoutMs: 600_000 }, log);
  }
  if (wanted('crashes')) {
    console.log('crashes: 1,000 jobs, kill -9 at 6 random moments');
    crashes = await runCrashes({ jobs: 1000, kills: 6, windowSeconds: 6, tokensPerMinute: 40_000, seed: 8, minUpMs: 3000, maxUpMs: 12_000, timeoutMs: 600_000 }, log);
  }
  if (wanted('load')) {
    const jobs = Number(process.env.RELIABILITY_LOAD_JOBS || 20_000);
    console.log(`load: ${grouped(jobs)} jobs, instant model, quota out of reach`);
    load = await runLoad({ jobs, timeoutMs: 3_600_000 }, log);
  }

  const rows: string[][] = [];
  for (const p of faults?.phases ?? []) {
    const failed = Object.entries(p.export.failedBy).map(([code, n]) => `${n} ${code}`).join(', ') || '0';
    const s = p.simulator;
    const injected = p.name === 'noise'
      ? `${s.serverErrors} 5xx, ${s.drops} drops, ${s.abandoned} timed out, ${s.contentFiltered} filtered`
      : p.name === 'storm' ? `${s.storm} storm 429s` : `${s.outage} refused`;
    rows.push([`faults: ${p.name}`, grouped(p.jobs), `${p.export.completed} completed, failed: ${failed}`, injected, `${p.notFinal} stuck, ${p.export.missing} missing, ${p.export.duplicateLines} exported twice, ${p.writtenTwice} written twice, ${p.export.filterMismatches} filter mismatches`, `${p.seconds.toFixed(1)} s`]);
  }
  if (crashes) {
    const c = crashes;
    const failed = Object.entries(c.export.failedBy).map(([code, n]) => `${n} ${code}`).join(', ') || '0';
    rows.push(['crashes', grouped(c.jobs), `${c.export.completed} completed, failed: ${failed}`, `${c.kills} kill -9 (at ${c.finalAtKill.join(', ')} final); ${c.duplicateModelCalls} duplicate model calls of ${c.modelCalls}`, `${c.export.missing} missing, ${c.export.duplicateLines} exported twice, ${c.writtenTwice} written twice`, `${c.seconds.toFixed(1)} s`]);
  }
  if (load) {
    const l = load;
    rows.push(['load', grouped(l.jobs), `${l.export.completed} completed, ${l.export.failed} failed`, `${l.jobsPerSecond.toFixed(1)} jobs/s; peak RSS ${l.peakRssBytes === null ? 'n/a' : `${Math.round(l.peakRssBytes / 2 ** 20)} MB`}`, `${l.export.missing} missing, ${l.export.duplicateLines} exported twice`, `${l.seconds.toFixed(1)} s (submit ${l.submitSeconds.toFixed(1)} s)`]);
  }
  console.log();
  console.log(markdownTable(['scenario', 'jobs', 'outcome', 'faults / figures', 'invariants', 'time'], rows));
  const out = join(repoRoot(), 'bench', 'results', 'reliability.json');
  mkdirSync(join(out, '..'), { recursive: true });
  const at = new Date().toISOString();
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  const stamped = (part: object | undefined) => (part === undefined ? undefined : { at, ...part });
  // Parts written before each carried its own `at` take the file's.
  const kept = (part: unknown) => (typeof part === 'object' && part !== null ? { at: previous.at, ...part } : undefined);
  const merged = { faults: stamped(faults) ?? kept(previous.faults), crashes: stamped(crashes) ?? kept(previous.crashes), load: stamped(load) ?? kept(previous.load) };
  writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
  console.log(`\nwritten ${out} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
