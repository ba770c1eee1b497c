#!/usr/bin/env node
/**
 * azd postprovision hook: writes local.settings.json from the provisioned environment, so `func start`
 * (or `npm start`) on this machine talks to the same Event Hubs, Service Bus, Cosmos DB and Azure OpenAI.
 *
 * Every setting of local.settings.sample.json that the azd environment holds under the same name
 * (infra/main.bicep's outputs are named like the settings) is copied. Left as they are:
 * - AzureWebJobsStorage and FUNCTIONS_WORKER_RUNTIME: locally the host and Durable use Azurite;
 * - AZURE_CLIENT_ID: locally the app signs in as the developer (az login), not as the app's identity;
 * - anything that looks like a secret: never written from the environment;
 * - values already in local.settings.json that the environment does not provide (your own edits).
 *
 * Run it again any time: `node scripts/writeLocalSettings.mjs` (reads `azd env get-values`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Settings whose local value differs from Azure's on purpose. */
export const LOCAL_ONLY = new Set(['AzureWebJobsStorage', 'FUNCTIONS_WORKER_RUNTIME', 'AZURE_CLIENT_ID']);
const SECRET = /KEY|SECRET|PASSWORD|CONNECTION_STRING/i;

/**
 * @param {{ Values: Record<string, string> }} sample local.settings.sample.json
 * @param {{ Values?: Record<string, string> } & Record<string, unknown> | undefined} existing local.settings.json, if any
 * @param {Record<string, string | undefined>} env the azd environment
 */
export function buildLocalSettings(sample, existing, env) {
  const values = { ...sample.Values, ...(existing?.Values ?? {}) };
  const fromEnv = [];
  for (const name of Object.keys(sample.Values)) {
    if (LOCAL_ONLY.has(name) || SECRET.test(name)) continue;
    const value = env[name];
    if (typeof value === 'string' && value !== '') {
      values[name] = value;
      fromEnv.push(name);
    }
  }
  return { settings: { ...(existing ?? {}), IsEncrypted: false, Values: values }, fromEnv };
}

/** The azd environment's values; inside an azd hook they are also in process.env. */
function azdEnvironment() {
  try {
    const json = execFileSync('azd', ['env', 'get-values', '--output', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { ...process.env, ...JSON.parse(json) };
  } catch {
    return { ...process.env };
  }
}

function main() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8'));
  const target = join(root, 'local.settings.json');
  const existing = existsSync(target) ? JSON.parse(readFileSync(target, 'utf8')) : undefined;
  const { settings, fromEnv } = buildLocalSettings(sample, existing, azdEnvironment());
  writeFileSync(target, `${JSON.stringify(settings, null, 2)}\n`);
  console.log(`local.settings.json: ${fromEnv.length} setting(s) from the azd environment (${fromEnv.join(', ') || 'none'}).`);
  console.log('AzureWebJobsStorage stays on Azurite (run `azurite`); sign in with `az login` for the data roles.');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
