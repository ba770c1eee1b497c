/**
 * The infrastructure agrees with the code:
 * - every resource type and API version is one checked against the Bicep reference (table below);
 * - every setting the code, the bindings and host.json read is set by the Function App's app settings
 *   (infra/app/functionApp.bicep, deployed by infra/main.bicep) and listed in local.settings.sample.json,
 *   and every app setting Bicep sets is read by the app or the Functions host;
 * - the queues, hub, consumer groups and Cosmos containers the code uses exist as the code expects them;
 * - local (key) auth is off wherever the service allows it, and every role is a named built-in GUID.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCHES_CONTAINER, JOBS_CONTAINER, JOBS_INDEXING_POLICY, PARTITION_KEY_PATH } from '../../src/lib/store/cosmosJobStore';
import { bindingConnections, bindingValues, settingsReadByApp } from './appReads';
import {
  Literal,
  Resource,
  SyntaxNode,
  at,
  bicepFile,
  bicepFiles,
  declarations,
  literal,
  parameterDefault,
  properties,
  resources,
  root,
  stringValue,
} from './bicep';

/**
 * Resource types and API versions, checked against the Bicep resource reference
 * (https://learn.microsoft.com/azure/templates/<provider>/<version>/<type>) and, for Flex Consumption,
 * the Azure-Samples Flex templates. A new type or version fails until it is checked and added here.
 */
const REFERENCE: Record<string, { version: string; note: string }> = {
  'Microsoft.Resources/resourceGroups': { version: '2024-03-01', note: 'GA' },
  'Microsoft.ManagedIdentity/userAssignedIdentities': { version: '2023-01-31', note: 'GA' },
  'Microsoft.Storage/storageAccounts': { version: '2023-05-01', note: 'GA; allowSharedKeyAccess' },
  'Microsoft.Storage/storageAccounts/blobServices': { version: '2023-05-01', note: 'GA' },
  'Microsoft.Storage/storageAccounts/blobServices/containers': { version: '2023-05-01', note: 'GA' },
  'Microsoft.OperationalInsights/workspaces': { version: '2023-09-01', note: 'GA' },
  'Microsoft.Insights/components': { version: '2020-02-02', note: 'GA; DisableLocalAuth' },
  'Microsoft.Insights/workbooks': { version: '2023-06-01', note: 'GA; kind shared, GUID name' },
  'Microsoft.ServiceBus/namespaces': { version: '2024-01-01', note: 'GA; disableLocalAuth, minimumTlsVersion' },
  'Microsoft.ServiceBus/namespaces/queues': { version: '2024-01-01', note: 'GA; maxDeliveryCount, deadLetteringOnMessageExpiration' },
  'Microsoft.EventHub/namespaces': { version: '2024-01-01', note: 'GA; disableLocalAuth' },
  'Microsoft.EventHub/namespaces/eventhubs': { version: '2024-01-01', note: 'GA' },
  'Microsoft.EventHub/namespaces/eventhubs/consumergroups': { version: '2024-01-01', note: 'GA' },
  'Microsoft.DocumentDB/databaseAccounts': { version: '2024-11-15', note: 'GA; EnableServerless, disableLocalAuth' },
  'Microsoft.DocumentDB/databaseAccounts/sqlDatabases': { version: '2024-11-15', note: 'GA' },
  'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers': { version: '2024-11-15', note: 'GA; indexingPolicy.compositeIndexes' },
  'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments': { version: '2024-11-15', note: 'GA; data-plane RBAC' },
  'Microsoft.CognitiveServices/accounts': { version: '2024-10-01', note: 'GA; customSubDomainName, disableLocalAuth' },
  'Microsoft.CognitiveServices/accounts/deployments': { version: '2024-10-01', note: 'GA; sku name/capacity, model format/name/version' },
  'Microsoft.KeyVault/vaults': { version: '2023-07-01', note: 'GA; enableRbacAuthorization' },
  'Microsoft.KeyVault/vaults/secrets': { version: '2023-07-01', note: 'GA' },
  'Microsoft.Web/serverfarms': { version: '2024-04-01', note: 'GA; FC1 FlexConsumption' },
  'Microsoft.Web/sites': { version: '2024-04-01', note: 'GA; functionAppConfig (since 2023-12-01)' },
  'Microsoft.Web/sites/config': { version: '2024-04-01', note: 'GA; appsettings' },
  'Microsoft.Web/sites/basicPublishingCredentialsPolicies': { version: '2024-04-01', note: 'GA' },
  'Microsoft.Authorization/roleAssignments': { version: '2022-04-01', note: 'GA' },
};

/** Built-in roles by GUID (Azure built-in roles reference; Cosmos DB data-plane built-in roles). */
const ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  '43d0d8ad-25c7-4714-9337-8ba259a9fe05': 'Monitoring Reader',
  '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0': 'Azure Service Bus Data Receiver',
  '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39': 'Azure Service Bus Data Sender',
  'a638d3c7-ab3a-418d-83e6-5f17a39d4fde': 'Azure Event Hubs Data Receiver',
  '2b629674-e913-4c01-ae53-ef4638d8f975': 'Azure Event Hubs Data Sender',
  '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd': 'Cognitive Services OpenAI User',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  '00000000-0000-0000-0000-000000000002': 'Cosmos DB Built-in Data Contributor',
};

/** Read by the Functions host itself, not by src/. */
const HOST_READS: Record<string, string> = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'host telemetry',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Entra auth for telemetry (the component has local auth disabled)',
};

/** Settings the app reads that Azure gets another way, and how that is checked. */
const PROVIDED_OTHERWISE: Record<string, string> = {
  FUNCTIONS_WORKER_RUNTIME: 'Flex Consumption: functionAppConfig.runtime.name (the setting itself is not allowed)',
  AzureWebJobsStorage: 'identity-based: AzureWebJobsStorage__<service>ServiceUri + __credential + __clientId',
};

/** Key auth: only for emulators and local runs. Azure has local auth disabled, so Bicep must not set them. */
const KEY_AUTH_ONLY = ['AZURE_OPENAI_API_KEY', 'COSMOS_KEY'];

/** Suffixes of an identity-based connection besides __fullyQualifiedNamespace / service URIs. */
const IDENTITY_SUFFIXES = ['__credential', '__clientId'];
const STORAGE_SUFFIXES = ['__blobServiceUri', '__queueServiceUri', '__tableServiceUri', '__accountName', ...IDENTITY_SUFFIXES];

/** App settings Flex Consumption rejects or replaces with functionAppConfig. */
const NOT_ON_FLEX = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'FUNCTIONS_WORKER_RUNTIME_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
];

function allResources(): Resource[] {
  return bicepFiles().flatMap(resources);
}

function resourcesOfType(type: string): Resource[] {
  return allResources().filter((r) => r.type === type && !r.existing);
}

function only<T>(items: readonly T[], what: string): T {
  expect(items, what).toHaveLength(1);
  return items[0]!;
}

/** The one `appsettings` resource and its keys → value nodes. */
function appSettings(): { resource: Resource; settings: Map<string, SyntaxNode> } {
  const resource = only(
    resourcesOfType('Microsoft.Web/sites/config').filter((r) => stringValue(at(r.body, 'name')) === 'appsettings'),
    'exactly one Microsoft.Web/sites/config named appsettings',
  );
  const object = at(resource.body, 'properties');
  expect(object?.type, 'appsettings properties must be an object literal, so every name is visible').toBe('object');
  return { resource, settings: new Map(properties(object!).map((p) => [p.key, p.value])) };
}

const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };

describe('resource types and API versions', () => {
  it('uses only types and versions checked against the Bicep reference', () => {
    const unchecked = allResources()
      .filter((r) => REFERENCE[r.type]?.version !== r.apiVersion)
      .map((r) => `${r.file}:${r.line} ${r.symbol} '${r.type}@${r.apiVersion}'`);
    expect(unchecked, 'not in REFERENCE (check the Bicep reference, then add it)').toEqual([]);
  });

  it('uses one API version per type everywhere', () => {
    const versions = new Map<string, Set<string>>();
    for (const r of allResources()) versions.set(r.type, (versions.get(r.type) ?? new Set()).add(r.apiVersion));
    for (const [type, seen] of versions) expect([...seen], type).toHaveLength(1);
  });

  it('provisions every kind of resource the issue asks for', () => {
    for (const type of [
      'Microsoft.ManagedIdentity/userAssignedIdentities',
      'Microsoft.Storage/storageAccounts',
      'Microsoft.Web/serverfarms',
      'Microsoft.Web/sites',
      'Microsoft.ServiceBus/namespaces/queues',
      'Microsoft.EventHub/namespaces/eventhubs/consumergroups',
      'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers',
      'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments',
      'Microsoft.OperationalInsights/workspaces',
      'Microsoft.Insights/components',
      'Microsoft.CognitiveServices/accounts/deployments',
      'Microsoft.Authorization/roleAssignments',
    ]) {
      expect(resourcesOfType(type).length, type).toBeGreaterThan(0);
    }
  });

  it('main.bicep deploys every module under infra/app', () => {
    const main = bicepFile('infra/main.bicep');
    const modules = new Set(bicepFiles().filter((f) => f.path.startsWith('infra/app/')).map((f) => `./${f.path.slice('infra/'.length)}`));
    const used = new Set(main.tree.rootNode.namedChildren.filter((c) => c.type === 'module_declaration').map((c) => stringValue(c.namedChild(1))));
    for (const module of modules) expect(used.has(module), module).toBe(true);
  });
});

describe('Flex Consumption Function App', () => {
  const site = only(resourcesOfType('Microsoft.Web/sites'), 'one Function App');
  const plan = only(resourcesOfType('Microsoft.Web/serverfarms'), 'one plan');

  it('runs on FC1 / FlexConsumption, Linux, Node 22 by default (20 allowed)', () => {
    expect(literal(at(plan.body, 'sku')!)).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    expect(literal(at(plan.body, 'properties', 'reserved')!)).toBe(true);
    expect(stringValue(at(site.body, 'kind'))).toBe('functionapp,linux');
    expect(stringValue(at(site.body, 'properties', 'functionAppConfig', 'runtime', 'name'))).toBe('node');
    const version = declarations(bicepFile('infra/main.bicep'), 'parameter_declaration').get('nodeVersion')!;
    expect(stringValue(parameterDefault(version))).toBe('22');
  });

  it('deploys its package with the user-assigned identity and runs as it', () => {
    const auth = at(site.body, 'properties', 'functionAppConfig', 'deployment', 'storage', 'authentication', 'type');
    expect(stringValue(auth)).toBe('UserAssignedIdentity');
    expect(stringValue(at(site.body, 'identity', 'type'))).toBe('UserAssigned');
  });
});

describe('app settings contract', () => {
  const { settings } = appSettings();
  const set = new Set(settings.keys());
  const read = settingsReadByApp();
  const connections = bindingConnections();

  it('finds what the app reads (sanity)', () => {
    expect(read.size).toBeGreaterThan(20);
    expect(read).toContain('DURABLE_TASK_HUB_NAME');
    expect(connections).toEqual(new Set(['EventHubConnection', 'ServiceBusConnection']));
  });

  it('sets every setting the code, the bindings and host.json read', () => {
    const missing = [...read].filter((name) => !set.has(name) && !(name in PROVIDED_OTHERWISE) && !KEY_AUTH_ONLY.includes(name));
    expect(missing.sort(), 'read by the app but not set in infra/app/functionApp.bicep appsettings').toEqual([]);
  });

  it('lists every setting the app reads in local.settings.sample.json', () => {
    const unlisted = [...read].filter((name) => !(name in sample.Values));
    expect(unlisted.sort()).toEqual([]);
  });

  it('sets nothing that nobody reads', () => {
    const connectionPrefixes = [...connections].map((c) => `${c}__`);
    const unread = [...set].filter(
      (name) =>
        !read.has(name) &&
        !(name in HOST_READS) &&
        !(name.startsWith('AzureWebJobsStorage__') && STORAGE_SUFFIXES.some((s) => name === `AzureWebJobsStorage${s}`)) &&
        !connectionPrefixes.some((p) => name.startsWith(p) && IDENTITY_SUFFIXES.includes(name.slice(p.length - 2))),
    );
    expect(unread.sort(), 'set in Bicep but read by nothing').toEqual([]);
  });

  it('connects every binding and the host storage with the managed identity', () => {
    for (const prefix of [...connections, 'AzureWebJobsStorage']) {
      expect(stringValue(settings.get(`${prefix}__credential`)), `${prefix}__credential`).toBe('managedidentity');
      expect(settings.get(`${prefix}__clientId`)?.text, `${prefix}__clientId`).toBe('identityClientId');
    }
    for (const service of ['blob', 'queue', 'table']) {
      // Durable Functions' Azure Storage backend needs all three.
      expect(set.has(`AzureWebJobsStorage__${service}ServiceUri`), service).toBe(true);
    }
    expect(settings.get('AZURE_CLIENT_ID')?.text).toBe('identityClientId');
    expect(set.has('AzureWebJobsStorage'), 'no connection string').toBe(false);
  });

  it('sets no key-auth setting and nothing Flex Consumption rejects', () => {
    for (const name of [...KEY_AUTH_ONLY, ...NOT_ON_FLEX]) expect(set.has(name), name).toBe(false);
  });

  it('keeps secrets out: the webhook secret is a Key Vault reference or empty', () => {
    const value = settings.get('WEBHOOK_SIGNING_SECRET')!;
    expect(value.type).toBe('ternary_expression');
    expect(value.text).toContain('@Microsoft.KeyVault(SecretUri=');
    expect(stringValue(settings.get('WEBHOOK_ALLOW_PRIVATE_NETWORKS'))).toBe('false');
  });

  it('defaults main.bicep\'s parameters to the sample\'s values', () => {
    const params = declarations(bicepFile('infra/main.bicep'), 'parameter_declaration');
    const mirror: Record<string, string> = {
      DURABLE_TASK_HUB_NAME: 'durableTaskHubName',
      AZURE_OPENAI_DEPLOYMENT: 'openAiDeploymentName',
      AZURE_OPENAI_MODEL: 'openAiModelName',
      AZURE_OPENAI_API_VERSION: 'openAiApiVersion',
      MODEL_TIMEOUT_SECONDS: 'modelTimeoutSeconds',
      COSMOS_DATABASE: 'cosmosDatabaseName',
      GATE_REQUESTS_PER_MINUTE: 'gateRequestsPerMinute',
      GATE_RPM_PER_1000_TPM: 'gateRpmPer1000Tpm',
      GATE_WINDOW_SECONDS: 'gateWindowSeconds',
      GATE_HORIZON_SECONDS: 'gateHorizonSeconds',
      GATE_INTERACTIVE_RESERVE: 'gateInteractiveReserve',
      GATE_START_TOLERANCE_MS: 'gateStartToleranceMs',
      GATE_WAKE_LEAD_MS: 'gateWakeLeadMs',
      GATE_DEFAULT_MAX_TOKENS: 'gateDefaultMaxTokens',
      PTU_MAX_UTILIZATION: 'ptuMaxUtilization',
      GATE_MAX_IN_FLIGHT: 'gateMaxInFlight',
      GATE_MIN_INTERVAL_MS: 'gateMinIntervalMs',
      GATE_LEASE_SECONDS: 'gateLeaseSeconds',
      JOB_MAX_ATTEMPTS: 'jobMaxAttempts',
      JOB_RETRY_BASE_MS: 'jobRetryBaseMs',
      JOB_RETRY_MAX_MS: 'jobRetryMaxMs',
      PRODUCER_MAX_ITEMS: 'producerMaxItems',
      PRODUCER_MAX_BODY_BYTES: 'producerMaxBodyBytes',
    };
    for (const [setting, param] of Object.entries(mirror)) {
      const node = params.get(param);
      expect(node, param).toBeDefined();
      expect(String(literal(parameterDefault(node!)!)), `${param} vs ${setting}`).toBe(sample.Values[setting]);
    }
    // The default capacity (thousands of TPM) gives the sample's TPM.
    expect(String(Number(literal(parameterDefault(params.get('openAiCapacity')!)!)) * 1000)).toBe(sample.Values.GATE_TOKENS_PER_MINUTE);
  });

  it('outputs the endpoints a local run needs, under the settings\' names, and never AZURE_CLIENT_ID', () => {
    const outputs = declarations(bicepFile('infra/main.bicep'), 'output_declaration');
    for (const name of ['AZURE_OPENAI_ENDPOINT', 'AZURE_OPENAI_DEPLOYMENT', 'COSMOS_ENDPOINT', 'COSMOS_DATABASE', ...[...connections].map((c) => `${c}__fullyQualifiedNamespace`)]) {
      expect(outputs.has(name), name).toBe(true);
      expect(name in sample.Values, name).toBe(true);
    }
    expect(outputs.has('AZURE_CLIENT_ID')).toBe(false);
  });
});

describe('messaging matches the bindings', () => {
  const queues = resourcesOfType('Microsoft.ServiceBus/namespaces/queues');
  const hubs = resourcesOfType('Microsoft.EventHub/namespaces/eventhubs');
  const messaging = bicepFile('infra/app/messaging.bicep');
  const vars = declarations(messaging, 'variable_declaration');
  /** A queue/hub name: a literal, or a variable holding one. */
  const nameOf = (r: Resource): string | null => {
    const node = at(r.body, 'name')!;
    return stringValue(node) ?? stringValue(vars.get(node.text)?.namedChild(1));
  };

  it('has every queue the bindings use, with a max delivery count and dead-lettering', () => {
    const names = bindingValues('queueName');
    expect(names).toEqual(new Set(['feedback-in', 'feedback-out']));
    for (const name of names) {
      const queue = only(queues.filter((q) => nameOf(q) === name), name);
      expect(at(queue.body, 'properties', 'maxDeliveryCount'), `${name} maxDeliveryCount`).not.toBeNull();
      expect(literal(at(queue.body, 'properties', 'deadLetteringOnMessageExpiration')!), name).toBe(true);
    }
  });

  it('has every hub the bindings use, and a dedicated consumer group', () => {
    for (const name of bindingValues('eventHubName')) expect(hubs.filter((h) => nameOf(h) === name), name).toHaveLength(1);
    const groups = bindingValues('consumerGroup');
    for (const group of groups) {
      // $Default always exists; any other group a binding names must be provisioned (as the param default).
      if (group === '$Default' || group.startsWith('%')) continue;
      const param = declarations(bicepFile('infra/main.bicep'), 'parameter_declaration').get('eventHubConsumerGroupName')!;
      expect(stringValue(parameterDefault(param)), group).toBe(group);
    }
    expect(resourcesOfType('Microsoft.EventHub/namespaces/eventhubs/consumergroups')).toHaveLength(1);
  });
});

describe('Cosmos DB matches the store', () => {
  const containers = resourcesOfType('Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers');
  const container = (id: string) => only(containers.filter((c) => stringValue(at(c.body, 'properties', 'resource', 'id')) === id), id);

  it('has the jobs and batches containers, partitioned like the code', () => {
    for (const id of [JOBS_CONTAINER, BATCHES_CONTAINER]) {
      const c = container(id);
      expect(stringValue(at(c.body, 'name'))).toBe(id);
      expect(literal(at(c.body, 'properties', 'resource', 'partitionKey', 'paths')!)).toEqual([PARTITION_KEY_PATH]);
    }
  });

  it('gives jobs exactly JOBS_INDEXING_POLICY', () => {
    const policy = literal(at(container(JOBS_CONTAINER).body, 'properties', 'resource', 'indexingPolicy')!);
    expect(policy).toEqual(JOBS_INDEXING_POLICY as unknown as Literal);
  });

  it('is serverless', () => {
    const account = only(resourcesOfType('Microsoft.DocumentDB/databaseAccounts'), 'one account');
    expect(literal(at(account.body, 'properties', 'capabilities')!)).toEqual([{ name: 'EnableServerless' }]);
  });
});

describe('security', () => {
  /** Where each service turns local (key/SAS/shared-key) auth off. */
  const LOCAL_AUTH: Array<[type: string, path: string[], value: boolean]> = [
    ['Microsoft.Storage/storageAccounts', ['properties', 'allowSharedKeyAccess'], false],
    ['Microsoft.ServiceBus/namespaces', ['properties', 'disableLocalAuth'], true],
    ['Microsoft.EventHub/namespaces', ['properties', 'disableLocalAuth'], true],
    ['Microsoft.DocumentDB/databaseAccounts', ['properties', 'disableLocalAuth'], true],
    ['Microsoft.CognitiveServices/accounts', ['properties', 'disableLocalAuth'], true],
    ['Microsoft.Insights/components', ['properties', 'DisableLocalAuth'], true],
    ['Microsoft.KeyVault/vaults', ['properties', 'enableRbacAuthorization'], true],
  ];

  it.each(LOCAL_AUTH)('%s has local auth disabled', (type, path, value) => {
    const found = resourcesOfType(type);
    expect(found.length, type).toBeGreaterThan(0);
    for (const r of found) expect(literal(at(r.body, ...path)!), `${r.file}:${r.line}`).toBe(value);
  });

  it('disables basic-auth publishing', () => {
    const policies = resourcesOfType('Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((p) => stringValue(at(p.body, 'name'))).sort()).toEqual(['ftp', 'scm']);
    for (const p of policies) expect(literal(at(p.body, 'properties', 'allow')!)).toBe(false);
  });

  it('uses only known built-in role GUIDs, each declared with a comment saying what it is for', () => {
    const guid = /'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'/g;
    let declared = 0;
    for (const file of bicepFiles()) {
      for (const m of file.text.matchAll(guid)) expect(ROLES[m[1]!], `${file.path}: ${m[1]}`).toBeDefined();
      for (const decl of declarations(file, 'variable_declaration').values()) {
        if (!/^'[0-9a-f-]{36}'$/.test(decl.namedChild(1)?.text ?? '')) continue;
        declared += 1;
        // The comment block right above the declaration.
        const comment: string[] = [];
        for (let node = decl.previousNamedSibling; node?.type === 'comment'; node = node.previousNamedSibling) comment.unshift(node.text);
        expect(comment.length, `${file.path}: ${decl.text} needs a comment`).toBeGreaterThan(0);
        expect(comment.join('\n'), decl.text).toContain(ROLES[stringValue(decl.namedChild(1))!]!);
      }
    }
    expect(declared).toBeGreaterThanOrEqual(Object.keys(ROLES).length);
  });

  it('assigns every role named by the issue', () => {
    const used = new Set(bicepFiles().flatMap((f) => [...f.text.matchAll(/'([0-9a-f-]{36})'/g)].map((m) => ROLES[m[1]!])));
    for (const role of Object.values(ROLES)) expect(used.has(role), role).toBe(true);
  });
});
