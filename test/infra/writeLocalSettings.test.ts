/**
 * The postprovision hook (scripts/writeLocalSettings.mjs): what it copies from the azd environment into
 * local.settings.json, and that main.bicep's outputs reach the settings they are named after.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bicepFile, declarations, root } from './bicep';

const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
const load = () => import('../../scripts/writeLocalSettings.mjs');

describe('writeLocalSettings', () => {
  it('copies provisioned values over the sample, and nothing else', async () => {
    const { buildLocalSettings } = await load();
    const env = {
      AZURE_OPENAI_ENDPOINT: 'https://oai-x.openai.azure.com/',
      COSMOS_ENDPOINT: 'https://cosmos-x.documents.azure.com:443/',
      EventHubConnection__fullyQualifiedNamespace: 'evhns-x.servicebus.windows.net',
      AZURE_LOCATION: 'swedencentral',
      PATH: '/usr/bin',
    };
    const { settings, fromEnv } = buildLocalSettings(sample, undefined, env);
    expect(fromEnv.sort()).toEqual(['AZURE_OPENAI_ENDPOINT', 'COSMOS_ENDPOINT', 'EventHubConnection__fullyQualifiedNamespace']);
    expect(settings.Values.COSMOS_ENDPOINT).toBe(env.COSMOS_ENDPOINT);
    expect(Object.keys(settings.Values).sort()).toEqual(Object.keys(sample.Values).sort());
    expect(settings.IsEncrypted).toBe(false);
  });

  it('keeps local storage, the developer\'s identity and secrets, and the developer\'s own edits', async () => {
    const { buildLocalSettings } = await load();
    const env = {
      AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=x',
      FUNCTIONS_WORKER_RUNTIME: 'python',
      AZURE_CLIENT_ID: '00000000-1111-2222-3333-444444444444',
      WEBHOOK_SIGNING_SECRET: 'from-the-environment',
      COSMOS_KEY: 'k',
      GATE_MODE: '',
    };
    const existing = { IsEncrypted: false, Values: { ...sample.Values, GATE_MODE: 'provisioned', WEBHOOK_SIGNING_SECRET: 'mine' }, Host: { LocalHttpPort: 7072 } };
    const { settings, fromEnv } = buildLocalSettings(sample, existing, env);
    expect(fromEnv).toEqual([]);
    expect(settings.Values.AzureWebJobsStorage).toBe(sample.Values.AzureWebJobsStorage);
    expect(settings.Values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(settings.Values.AZURE_CLIENT_ID).toBe('');
    expect(settings.Values.WEBHOOK_SIGNING_SECRET).toBe('mine');
    expect(settings.Values.GATE_MODE).toBe('provisioned');
    expect(settings.Host).toEqual({ LocalHttpPort: 7072 });
  });

  it('gets every setting-named output of main.bicep that a local run may take', async () => {
    const { LOCAL_ONLY } = await load();
    const outputs = [...declarations(bicepFile('infra/main.bicep'), 'output_declaration').keys()];
    const settingOutputs = outputs.filter((name) => name in sample.Values);
    expect(settingOutputs.length).toBeGreaterThan(8);
    for (const name of settingOutputs) expect(LOCAL_ONLY.has(name), name).toBe(false);
  });
});
