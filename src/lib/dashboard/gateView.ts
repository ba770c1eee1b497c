/**
 * What the dashboard shows of one deployment's gate, from the `tokenGate` entity's stored state: the
 * gate's own `status()` (passed on whole, so fields added to it later show up without a change here)
 * and the tokens and requests it charged per time slice over the last window and the reservations
 * ahead. Those buckets are real per-time-slice data, so the page has a chart from its first load.
 */
import { GateConfig } from '../gate/config.js';
import { GateState, GateStateV1, status, upgradeGateState } from '../gate/gate.js';
import { at, bucketOf, bucketStart } from '../gate/schedule.js';
import { GateStatus } from '../gate/types.js';

/** About this many slices per window: readable bars whatever the bucket resolution. */
export const SLICES_PER_WINDOW = 60;

export interface UsageSlice {
  /** Start of the slice (epoch ms). After `now`: reserved for calls that start later. */
  readonly at: number;
  /** Tokens charged to calls starting in the slice (standard), or reserved (provisioned). */
  readonly tokens: number;
  /** Requests admitted in the slice (standard). */
  readonly requests: number;
}

export interface GateView {
  readonly mode: GateStatus['mode'];
  /** The gate's clock: the later of the read time and the latest time it has seen. */
  readonly now: number;
  readonly windowMs: number;
  /** Tokens per window the gate admits now: the quota times the adaptive factor. */
  readonly quota: number;
  /** Standard: tokens in the window ending now over the quota. Provisioned: the gate's utilization estimate. */
  readonly utilization: number;
  readonly sliceMs: number;
  /** The last window (its final slice ends with the current bucket), then every slice up to the last reservation. */
  readonly slices: readonly UsageSlice[];
  /** `status()` as the gate computes it, every field included. */
  readonly status: GateStatus;
}

export class UnreadableGateStateError extends Error {
  override readonly name = 'UnreadableGateStateError';
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Enough of the entity state's shape to compute from; anything else is refused, not guessed at. */
function parseStored(stored: unknown): { config: GateConfig; gate: GateState } {
  if (!isObject(stored) || !isObject(stored.config) || !isObject(stored.gate)) throw new UnreadableGateStateError('the gate state has no config and gate');
  const { config, gate } = stored;
  if (!isNumber(config.windowMs) || !isNumber(config.bucketsPerWindow) || config.bucketsPerWindow < 1 || (config.mode !== 'standard' && config.mode !== 'provisioned')) {
    throw new UnreadableGateStateError('the gate configuration is not one this version reads');
  }
  if ((gate.v !== 1 && gate.v !== 2) || !isNumber(gate.base) || !isNumber(gate.clock) || !Array.isArray(gate.tokens) || !Array.isArray(gate.requests)) {
    throw new UnreadableGateStateError('the gate state is not one this version reads');
  }
  return { config: config as unknown as GateConfig, gate: upgradeGateState(gate as unknown as GateState | GateStateV1) };
}

/** Buckets per slice: the largest divisor of the window's buckets leaving at least SLICES_PER_WINDOW slices. */
export function bucketsPerSlice(bucketsPerWindow: number): number {
  for (let g = Math.floor(bucketsPerWindow / SLICES_PER_WINDOW); g > 1; g--) if (bucketsPerWindow % g === 0) return g;
  return 1;
}

export function gateView(stored: unknown, now: number): GateView {
  const { config, gate } = parseStored(stored);
  const gateStatus = status(gate, now, config);
  const current = bucketOf(gateStatus.at, config);
  const perSlice = bucketsPerSlice(config.bucketsPerWindow);
  const first = current - config.bucketsPerWindow + 1;
  const lastKept = gate.base + Math.max(gate.tokens.length, gate.requests.length) - 1;
  const futureSlices = Math.max(0, Math.ceil((lastKept - current) / perSlice));
  const sliceCount = config.bucketsPerWindow / perSlice + futureSlices;
  const slices: UsageSlice[] = [];
  for (let s = 0; s < sliceCount; s++) {
    let tokens = 0;
    let requests = 0;
    for (let k = first + s * perSlice; k < first + (s + 1) * perSlice; k++) {
      tokens += at(gate.tokens, gate.base, k);
      requests += at(gate.requests, gate.base, k);
    }
    slices.push({ at: bucketStart(first + s * perSlice, config), tokens, requests });
  }
  const quota = gateStatus.tokensPerWindow * gateStatus.factor;
  return {
    mode: gateStatus.mode,
    now: gateStatus.at,
    windowMs: config.windowMs,
    quota,
    utilization: gateStatus.mode === 'provisioned' ? (gateStatus.utilization ?? 0) : gateStatus.tokensPerWindow > 0 ? gateStatus.windowTokens / gateStatus.tokensPerWindow : 0,
    sliceMs: (perSlice * config.windowMs) / config.bucketsPerWindow,
    slices,
    status: gateStatus,
  };
}
