/** AZURE_OPENAI_DEPLOYMENTS and the other settings of synchronous calls, failover and the breaker. */
import { describe, expect, it } from 'vitest';
import { SettingsError, failoverOrderFor, gateConfigForKey, loadSettings } from '../../src/lib/config.js';
import { parseDeploymentList } from '../../src/lib/deployments.js';

describe('AZURE_OPENAI_DEPLOYMENTS', () => {
  it('reads the compact form and the JSON form alike', () => {
    const compact = parseDeploymentList('gpt4o-ptu:provisioned:300000:0.8, gpt4o-east:standard:450000');
    const json = parseDeploymentList(
      JSON.stringify([
        { name: 'gpt4o-ptu', mode: 'provisioned', tokensPerMinute: 300000, ptuMaxUtilization: 0.8 },
        { name: 'gpt4o-east', mode: 'standard', tokensPerMinute: 450000 },
      ]),
    );
    expect(compact).toEqual({ problems: [], entries: [{ name: 'gpt4o-ptu', mode: 'provisioned', tokensPerMinute: 300000, ptuMaxUtilization: 0.8 }, { name: 'gpt4o-east', mode: 'standard', tokensPerMinute: 450000 }] });
    expect(json).toEqual(compact);
    expect(parseDeploymentList('  ')).toEqual({ entries: [], problems: [] });
  });

  it('names every problem: shape, mode, quota, threshold, duplicates, unknown JSON fields', () => {
    expect(parseDeploymentList('a:standard').problems).toEqual([expect.stringMatching(/entry 1 .* must be name:mode:tokensPerMinute/)]);
    expect(parseDeploymentList('a:ptu:1000').problems).toEqual([expect.stringMatching(/mode must be one of standard, provisioned/)]);
    expect(parseDeploymentList('a:standard:0x10').problems).toEqual([expect.stringMatching(/tokensPerMinute must be a whole number/)]);
    expect(parseDeploymentList('a:standard:1000:0.5').problems).toEqual([expect.stringMatching(/provisioned deployments only/)]);
    expect(parseDeploymentList('a:provisioned:1000:1.5').problems).toEqual([expect.stringMatching(/ptuMaxUtilization must be a fraction/)]);
    expect(parseDeploymentList('a:standard:1000,a:standard:2000').problems).toEqual([expect.stringMatching(/"a" is listed twice/)]);
    expect(parseDeploymentList('a/b:standard:1000').problems).toEqual([expect.stringMatching(/name must be a deployment name/)]);
    expect(parseDeploymentList('[{"name":"a","mode":"standard","tokensPerMinute":1000,"tpm":5}]').problems).toEqual([expect.stringMatching(/unknown field\(s\) tpm/)]);
    expect(parseDeploymentList('[').problems).toEqual([expect.stringMatching(/not valid JSON/)]);
    expect(parseDeploymentList('[]').problems).toEqual([expect.stringMatching(/non-empty JSON list/)]);
  });

  it('gives each deployment its own gate over the shared GATE_* settings; the first is the app deployment', () => {
    const settings = loadSettings({ AZURE_OPENAI_DEPLOYMENTS: 'ptu:provisioned:60000:0.8,std:standard:30000', GATE_WINDOW_SECONDS: '6', AZURE_OPENAI_MODEL: 'gpt-4o' });
    expect(settings.deployment).toBe('ptu');
    expect(settings.gate).toBe(settings.deployments[0]!.gate);
    expect(settings.deployments.map((d) => [d.name, d.gate.mode, d.gate.tokensPerMinute, d.gate.requestsPerMinute, d.gate.windowMs])).toEqual([
      ['ptu', 'provisioned', 60000, 360, 6000],
      ['std', 'standard', 30000, 180, 6000],
    ]);
    expect(settings.deployments[0]!.gate.ptuMaxUtilization).toBe(0.8);
    expect(gateConfigForKey(settings, 'std').tokensPerMinute).toBe(30000);
    expect(gateConfigForKey(settings, 'api.openai.com/gpt-4o')).toBe(settings.gate);
    expect(failoverOrderFor(settings, 'ptu')).toEqual(['ptu', 'std']);
    expect(failoverOrderFor(settings, 'api.openai.com/gpt-4o')).toBeUndefined();
    expect(settings.model).toBe('gpt-4o');
  });

  it('keeps one deployment, no failover, when the list is empty', () => {
    const settings = loadSettings({ AZURE_OPENAI_DEPLOYMENT: 'prod', GATE_TOKENS_PER_MINUTE: '9000' });
    expect(settings.deployments).toEqual([{ name: 'prod', gate: settings.gate }]);
    expect(failoverOrderFor(settings, 'prod')).toBeUndefined();
    expect(settings.sync).toEqual({ maxWaitMs: 30_000 });
    expect(settings.spilloverWaitMs).toBe(2_000);
    expect(settings.breaker).toEqual({ failureThreshold: 5, windowMs: 60_000, coolDownMs: 30_000, maxCoolDownMs: 300_000 });
  });

  it('refuses bad values with errors naming the setting; BREAKER_FAILURE_THRESHOLD=0 turns the breaker off', () => {
    expect(() => loadSettings({ AZURE_OPENAI_DEPLOYMENTS: 'x:standard' })).toThrow(SettingsError);
    expect(() => loadSettings({ SYNC_MAX_WAIT_SECONDS: '500' })).toThrow(/SYNC_MAX_WAIT_SECONDS must be a number of seconds from 0 to 200/);
    expect(() => loadSettings({ DEPLOYMENT_SPILLOVER_WAIT_SECONDS: '-1' })).toThrow(/DEPLOYMENT_SPILLOVER_WAIT_SECONDS/);
    expect(() => loadSettings({ BREAKER_FAILURE_THRESHOLD: '2.5' })).toThrow(/BREAKER_FAILURE_THRESHOLD/);
    expect(loadSettings({ BREAKER_FAILURE_THRESHOLD: '0' }).breaker).toBeNull();
  });
});
