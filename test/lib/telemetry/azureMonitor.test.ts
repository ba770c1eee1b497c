/** The Azure Monitor distro loads on Node 20 (what this code must still run on) and stays off without a connection string. */
import { describe, expect, it } from 'vitest';
import { startAzureMonitor } from '../../../src/lib/telemetry/azureMonitor.js';

describe('startAzureMonitor', () => {
  it('does nothing when no Application Insights connection string is set', () => {
    const saved = process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
    delete process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
    try {
      expect(startAzureMonitor()).toBe(false);
    } finally {
      if (saved !== undefined) process.env.APPLICATIONINSIGHTS_CONNECTION_STRING = saved;
    }
  });
});
