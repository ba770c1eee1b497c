/** Issue #7's targets for TokenGate, checked against its figures. */
import type { RunFigures } from './summary.js';
import { Scenario } from './scenarios.js';

export interface TargetCheck {
  readonly scenario: Scenario['id'];
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function checkTargets(scenario: Scenario, f: RunFigures): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (target: string, measured: string, met: boolean) => checks.push({ scenario: scenario.id, target, measured, met });
  // (d) reserves part of the quota for interactive work by design, so the quota share applies to (a) and (b).
  if (scenario.mode === 'standard' && scenario.interactive === null) {
    add('steady state ≥ 97% of quota', f.steadyShare === null ? 'not measured (drain too short)' : pct(f.steadyShare), (f.steadyShare ?? 0) >= 0.97);
  }
  if (scenario.interactive === null) {
    add('drain ≤ 1.05 × ideal', f.drainRatio === null ? 'nothing finished' : `${f.drainRatio.toFixed(3)} × (${((f.drainMs ?? 0) / 1000).toFixed(1)} s vs ${(f.idealDrainMs / 1000).toFixed(1)} s)`, (f.drainRatio ?? Infinity) <= 1.05);
  }
  add('≤ 0.5 429s per 100 calls', `${f.throttledPer100Calls.toFixed(2)} (${f.throttled} in ${f.calls})`, f.throttledPer100Calls <= 0.5);
  add('0 lost, 0 duplicated', `${f.lost} lost, ${f.duplicated} duplicated`, f.lost === 0 && f.duplicated === 0);
  if (f.interactive) {
    const limit = scenario.windowMs * 0.1;
    const p95 = f.interactive.p95Ms;
    add(`interactive p95 wait < 10% of the window (${limit} ms)`, p95 === null ? 'none' : p95 < 0 ? 'a request was never served' : `${Math.round(p95)} ms`, p95 !== null && p95 >= 0 && p95 < limit);
  }
  if (f.ptu) {
    const { meanUtilization: mean, maxUtilization: max, threshold } = f.ptu;
    add(`PTU mean utilization within 5 points of ${pct(threshold)}`, mean === null ? 'not measured' : pct(mean), mean !== null && Math.abs(mean - threshold) <= 0.05);
    add('PTU utilization never above 100%', max === null ? 'not measured' : `max ${pct(max)}`, max !== null && max <= 1);
  }
  return checks;
}
