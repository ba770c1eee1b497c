/**
 * The simulator the local runtime starts when AZURE_OPENAI_ENDPOINT is unset: the deployment the gate
 * is configured for (same quota, mode and scaled window), plus latency and fault knobs from the
 * environment (SIMULATOR_*), so fault and benchmark runs can drive the whole app against a sick model.
 */
import { AppSettings } from '../lib/config.js';
import { SimulatorOptions } from './simulator/server.js';

function rate(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new Error(`${name} must be a share between 0 and 1 (got "${text}")`);
  return value;
}

function milliseconds(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of milliseconds, 0 or more (got "${text}")`);
  return value;
}

export function simulatorOptionsFor(settings: AppSettings, env: NodeJS.ProcessEnv = process.env): SimulatorOptions {
  return {
    mode: settings.gate.mode,
    tokensPerMinute: settings.gate.tokensPerMinute,
    requestsPerMinute: settings.gate.requestsPerMinute,
    windowMs: settings.gate.windowMs,
    model: settings.model,
    latency: { baseMs: milliseconds(env, 'SIMULATOR_LATENCY_BASE_MS') ?? 40, perTokenMs: milliseconds(env, 'SIMULATOR_LATENCY_PER_TOKEN_MS') ?? 0.2 },
    faults: {
      serverErrorRate: rate(env, 'SIMULATOR_SERVER_ERROR_RATE'),
      dropRate: rate(env, 'SIMULATOR_DROP_RATE'),
      slowRate: rate(env, 'SIMULATOR_SLOW_RATE'),
      slowMs: milliseconds(env, 'SIMULATOR_SLOW_MS'),
      overloadedRate: rate(env, 'SIMULATOR_OVERLOADED_RATE'),
    },
    seed: env.SIMULATOR_SEED ? Number(env.SIMULATOR_SEED) : undefined,
  };
}
