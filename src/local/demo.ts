/**
 * `npm run demo`: starts the local runtime, submits a representative batch over HTTP like any client,
 * shows its progress until it drains, then a summary against the quota. Windows are shortened so the
 * run takes seconds (GATE_WINDOW_SECONDS, default 6 here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busiestWindow } from './busiestWindow.js';
import { startLocalRuntime } from './runtime.js';

const DEMO_DEFAULTS: Record<string, string> = { GATE_WINDOW_SECONDS: '6', GATE_TOKENS_PER_MINUTE: '30000', GATE_START_TOLERANCE_MS: '200' };
for (const [name, value] of Object.entries(DEMO_DEFAULTS)) process.env[name] ??= value;
const JOBS = Number(process.env.DEMO_JOBS ?? 100);

const TOPICS = ['delivery delays', 'billing errors', 'a great support call', 'the new dashboard', 'login problems', 'pricing'];

function request(i: number) {
  const words = 20 + ((i * 7919) % 300);
  const body = Array.from({ length: words }, (_, w) => ['customers', 'mentioned', TOPICS[i % TOPICS.length], 'this', 'week'][w % 5]).join(' ');
  return {
    custom_id: `demo-${i}`,
    messages: [
      { role: 'system', content: 'Summarize the report in two sentences.' },
      { role: 'user', content: body },
    ],
    max_tokens: 100 + ((i * 37) % 400),
  };
}

async function main(): Promise<void> {
  // A fresh data folder: the demo's batch should not mix with what `npm start` keeps in .local-data.
  const dataDir = mkdtempSync(join(tmpdir(), 'tokengate-demo-'));
  const runtime = await startLocalRuntime({ port: Number(process.env.PORT ?? 0), dataDir, log: () => undefined });
  const { gate } = runtime.settings;
  console.log(`TokenGate demo on the local runtime at ${runtime.url}`);
  console.log(`  simulated deployment: ${gate.mode}, ${gate.tokensPerMinute} tokens per ${gate.windowMs / 1000} s window (shortened from 60 s)`);
  const started = Date.now();
  const submitted = await fetch(`${runtime.url}/api/producer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: JOBS }, (_, i) => request(i))),
  });
  const { batch_id } = (await submitted.json()) as { batch_id: string };
  console.log(`  POST /api/producer → ${submitted.status}, batch ${batch_id} with ${JOBS} jobs`);
  let status: { done: boolean; counts: Record<string, number> };
  for (;;) {
    status = (await (await fetch(`${runtime.url}/api/batches/${batch_id}`)).json()) as typeof status;
    const finished = (status.counts.completed ?? 0) + (status.counts.failed ?? 0);
    const bar = '#'.repeat(Math.round((finished / JOBS) * 30)).padEnd(30, '.');
    process.stdout.write(`\r  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s [${bar}] ${finished}/${JOBS}  waiting ${status.counts.waiting ?? 0}  running ${status.counts.running ?? 0}   `);
    if (status.done) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const elapsed = (Date.now() - started) / 1000;
  const stats = runtime.simulator!.stats();
  const calls = [...stats.calls].sort((a, b) => a.at - b.at);
  const span = (calls[calls.length - 1]!.at - calls[0]!.at) / 1000;
  // The gate's promise, measured by the deployment itself.
  const busiest = busiestWindow(calls, gate.windowMs);
  console.log('\n');
  console.log(`  jobs           ${status.counts.completed} completed, ${status.counts.failed} failed`);
  console.log(`  tokens         ${stats.tokensAdmitted} charged by the deployment, ${stats.tokensUsed} used`);
  console.log(`  429s           ${stats.throttled.rate_limit} from the deployment in ${stats.requests} calls`);
  console.log(`  elapsed        ${elapsed.toFixed(1)} s; calls spread over ${span.toFixed(1)} s = ${(span / (gate.windowMs / 1000)).toFixed(1)} windows`);
  console.log(`  busiest window ${busiest} tokens admitted by the deployment in any ${gate.windowMs / 1000} s, quota ${gate.tokensPerMinute} (${((busiest / gate.tokensPerMinute) * 100).toFixed(1)}%)`);
  await runtime.close();
  rmSync(dataDir, { recursive: true, force: true });
  if (status.counts.failed !== 0 || busiest > gate.tokensPerMinute) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
