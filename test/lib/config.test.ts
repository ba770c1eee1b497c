import { describe, expect, it } from 'vitest';
import { Env, loadSettings, SettingsError } from '../../src/lib/config.js';

/** The SettingsError loadSettings throws for `env`, or a failed assertion when it throws nothing (or something else). */
function settingsError(env: Env): SettingsError {
  let caught: unknown;
  try {
    loadSettings(env);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SettingsError);
  if (!(caught instanceof SettingsError)) throw new Error(`expected a SettingsError, got ${String(caught)}`);
  expect(caught.name).toBe('SettingsError');
  for (const problem of caught.problems) expect(caught.message).toContain(problem);
  return caught;
}

describe('loadSettings: defaults', () => {
  it('gives a standard 30k TPM gate with 6 RPM per 1,000 TPM, a 60 s window and a 120 s horizon', () => {
    const settings = loadSettings({});
    expect(settings.deployment).toBe('gpt-4o');
    expect(settings.model).toBe('gpt-4o');
    expect(settings.defaultMaxTokens).toBe(1024);
    expect(settings.gate).toEqual({
      mode: 'standard',
      tokensPerMinute: 30_000,
      requestsPerMinute: 180,
      windowMs: 60_000,
      horizonMs: 120_000,
      ptuMaxUtilization: 0.7,
      interactiveReserve: 0.2,
      startToleranceMs: 1000,
      bucketsPerWindow: 240,
    });
  });

  it('derives the default RPM from the TPM setting (6 per 1,000 TPM, at least 1)', () => {
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '100000' }).gate.requestsPerMinute).toBe(600);
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '2500' }).gate.requestsPerMinute).toBe(15);
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '500' }).gate.requestsPerMinute).toBe(3);
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '30000', GATE_RPM_PER_1000_TPM: '0.1' }).gate.requestsPerMinute).toBe(3);
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '100', GATE_RPM_PER_1000_TPM: '0.1' }).gate.requestsPerMinute).toBe(1);
  });

  it('rejects values that round to nothing and numbers that are not plain decimals, naming the setting', () => {
    for (const env of [{ GATE_HORIZON_SECONDS: '0.0004' }, { GATE_WINDOW_SECONDS: '0.0594' }, { GATE_TOKENS_PER_MINUTE: '0x10' }, { GATE_START_TOLERANCE_MS: '1e3' }]) {
      const name = Object.keys(env)[0]!;
      expect(() => loadSettings(env)).toThrow(SettingsError);
      expect(() => loadSettings(env)).toThrow(name);
    }
  });

  it('reads the model from AZURE_OPENAI_MODEL, falling back to the deployment name', () => {
    expect(loadSettings({ AZURE_OPENAI_DEPLOYMENT: 'chat-prod' })).toMatchObject({ deployment: 'chat-prod', model: 'chat-prod' });
    expect(loadSettings({ AZURE_OPENAI_DEPLOYMENT: 'chat-prod', AZURE_OPENAI_MODEL: 'gpt-4' })).toMatchObject({ deployment: 'chat-prod', model: 'gpt-4' });
  });

  it('treats empty and blank values as unset and trims the rest', () => {
    const settings = loadSettings({ GATE_MODE: '  ', GATE_TOKENS_PER_MINUTE: '', GATE_WINDOW_SECONDS: ' 30 ', AZURE_OPENAI_DEPLOYMENT: ' ' });
    expect(settings.gate.mode).toBe('standard');
    expect(settings.gate.tokensPerMinute).toBe(30_000);
    expect(settings.gate.windowMs).toBe(30_000);
    expect(settings.deployment).toBe('gpt-4o');
  });
});

describe('loadSettings: explicit values', () => {
  it('applies GATE_RPM_PER_1000_TPM to the TPM', () => {
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '60000', GATE_RPM_PER_1000_TPM: '1' }).gate.requestsPerMinute).toBe(60);
    // o1: 1 RPM per 6,000 TPM.
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '600000', GATE_RPM_PER_1000_TPM: String(1 / 6) }).gate.requestsPerMinute).toBe(100);
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '10000', GATE_RPM_PER_1000_TPM: '12' }).gate.requestsPerMinute).toBe(120);
  });

  it('lets GATE_REQUESTS_PER_MINUTE override the derived RPM', () => {
    expect(loadSettings({ GATE_TOKENS_PER_MINUTE: '60000', GATE_RPM_PER_1000_TPM: '1', GATE_REQUESTS_PER_MINUTE: '42' }).gate.requestsPerMinute).toBe(42);
  });

  it('scales windowMs (and the default horizon) with GATE_WINDOW_SECONDS', () => {
    const six = loadSettings({ GATE_WINDOW_SECONDS: '6' }).gate;
    expect(six.windowMs).toBe(6000);
    expect(six.horizonMs).toBe(12_000);
    expect(six.bucketsPerWindow).toBe(240);

    const half = loadSettings({ GATE_WINDOW_SECONDS: '0.5' }).gate;
    expect(half.windowMs).toBe(500);
    expect(half.horizonMs).toBe(1000);
    expect(half.bucketsPerWindow % 6).toBe(0);

    // The smallest window: buckets shrink to keep every bucket at least 1 ms wide.
    const tiny = loadSettings({ GATE_WINDOW_SECONDS: '0.06' }).gate;
    expect(tiny.windowMs).toBe(60);
    expect(tiny.bucketsPerWindow).toBe(60);
    expect(tiny.windowMs / tiny.bucketsPerWindow).toBeGreaterThanOrEqual(1);

    expect(loadSettings({ GATE_WINDOW_SECONDS: '6', GATE_HORIZON_SECONDS: '9' }).gate.horizonMs).toBe(9000);
  });

  it('reads the provisioned settings', () => {
    const settings = loadSettings({
      GATE_MODE: 'provisioned',
      GATE_TOKENS_PER_MINUTE: '250000',
      PTU_MAX_UTILIZATION: '1',
      GATE_INTERACTIVE_RESERVE: '0',
      GATE_DEFAULT_MAX_TOKENS: '4096',
    });
    expect(settings.gate).toMatchObject({ mode: 'provisioned', tokensPerMinute: 250_000, ptuMaxUtilization: 1, interactiveReserve: 0 });
    expect(settings.defaultMaxTokens).toBe(4096);
  });
});

describe('loadSettings: bad values', () => {
  it.each([
    ['GATE_MODE', 'fast'],
    ['GATE_MODE', 'Standard'],
    ['GATE_TOKENS_PER_MINUTE', '-1'],
    ['GATE_TOKENS_PER_MINUTE', '0'],
    ['GATE_TOKENS_PER_MINUTE', '1.5'],
    ['GATE_TOKENS_PER_MINUTE', 'lots'],
    ['GATE_TOKENS_PER_MINUTE', 'Infinity'],
    ['GATE_RPM_PER_1000_TPM', '0'],
    ['GATE_RPM_PER_1000_TPM', '-6'],
    ['GATE_REQUESTS_PER_MINUTE', '0'],
    ['GATE_REQUESTS_PER_MINUTE', '2.5'],
    ['GATE_WINDOW_SECONDS', '0.01'],
    ['GATE_WINDOW_SECONDS', 'a minute'],
    ['GATE_HORIZON_SECONDS', '0'],
    ['GATE_HORIZON_SECONDS', '-5'],
    ['PTU_MAX_UTILIZATION', '1.5'],
    ['PTU_MAX_UTILIZATION', '0'],
    ['PTU_MAX_UTILIZATION', '70%'],
    ['GATE_INTERACTIVE_RESERVE', '1'],
    ['GATE_INTERACTIVE_RESERVE', '-0.1'],
    ['GATE_DEFAULT_MAX_TOKENS', '0'],
    ['GATE_DEFAULT_MAX_TOKENS', '100.5'],
  ])('%s=%s throws a SettingsError naming the setting and the value', (name, value) => {
    const error = settingsError({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(name);
    expect(error.problems[0]).toContain(`"${value}"`);
  });

  it('reports every problem at once', () => {
    const error = settingsError({
      GATE_MODE: 'fast',
      GATE_TOKENS_PER_MINUTE: '-1',
      PTU_MAX_UTILIZATION: '1.5',
      GATE_WINDOW_SECONDS: 'soon',
      GATE_DEFAULT_MAX_TOKENS: 'many',
    });
    expect(error.problems).toHaveLength(5);
    for (const name of ['GATE_MODE', 'GATE_TOKENS_PER_MINUTE', 'PTU_MAX_UTILIZATION', 'GATE_WINDOW_SECONDS', 'GATE_DEFAULT_MAX_TOKENS']) {
      expect(error.problems.filter((p) => p.includes(name))).toHaveLength(1);
    }
  });

  it('does not report good settings alongside bad ones', () => {
    const error = settingsError({ GATE_TOKENS_PER_MINUTE: '50000', GATE_INTERACTIVE_RESERVE: '2' });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^GATE_INTERACTIVE_RESERVE/);
  });
});

describe('loadSettings: GATE_WAKE_LEAD_MS', () => {
  it('defaults to 1000 ms, takes whole milliseconds from 0 up, and treats empty as unset', () => {
    expect(loadSettings({}).wakeLeadMs).toBe(1_000);
    expect(loadSettings({ GATE_WAKE_LEAD_MS: '250' }).wakeLeadMs).toBe(250);
    expect(loadSettings({ GATE_WAKE_LEAD_MS: ' 0 ' }).wakeLeadMs).toBe(0);
    expect(loadSettings({ GATE_WAKE_LEAD_MS: '' }).wakeLeadMs).toBe(1_000);
  });

  it('rejects negative, fractional and non-decimal values with an error naming the setting', () => {
    for (const raw of ['-1', '1.5', 'soon', '1e3', '0x10']) {
      const error = settingsError({ GATE_WAKE_LEAD_MS: raw });
      expect(error.problems).toEqual([`GATE_WAKE_LEAD_MS must be a whole number of milliseconds, 0 or more (got "${raw}")`]);
    }
  });
});
