// TokenGate: everything the app needs in Azure, provisioned by `azd up` (or `az deployment sub create`).
//
// Resources (modules under ./app):
//   identity       user-assigned managed identity, the app's only credential
//   storage        AzureWebJobsStorage: host, Event Hubs checkpoints, Flex deployment package, Durable task hub
//   monitoring     Log Analytics + Application Insights (Entra-only ingestion)
//   messaging      Service Bus queues feedback-in / feedback-out, Event Hubs hub `jobs` + consumer group
//   cosmos         Cosmos DB serverless: database, containers jobs / batches, data-plane roles
//   openai         Azure OpenAI account + deployment (or point at an existing one: openAiMode = 'existing')
//   keyVault       only with a webhook signing secret
//   rbac, openaiAccess   least-privilege role assignments
//   functionApp    Flex Consumption plan, Node 22 Function App and all its app settings
//
// Durable Functions backend: Azure Storage (the AzureWebJobsStorage account), not the Durable Task
// Scheduler. host.json uses the default provider with the GA extension bundle, every setting it needs
// already exists (identity-based AzureWebJobsStorage__*), and it costs nothing beyond storage transactions.
// The gate is a single durable entity per deployment, so entity throughput is what the backend limits:
// tens of operations per second on Azure Storage, enough for a deployment of a few hundred RPM. Move to
// the Durable Task Scheduler (a Microsoft.DurableTask/schedulers resource, storageProvider
// 'azureManaged' in host.json, Durable Task Data Contributor for the identity) when a deployment's RPM
// outgrows that.
//
// Local (key) auth is disabled on every service that allows it: Storage (shared key), Service Bus and
// Event Hubs (SAS), Cosmos DB, Azure OpenAI, Application Insights, and basic-auth publishing on the app.
//
// Resource types and API versions were checked against the Bicep reference (learn.microsoft.com/azure/templates);
// test/infra/bicepContract.test.ts holds the same table and fails on any type or version not in it.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region for everything except (optionally) Azure OpenAI. Must offer Flex Consumption: az functionapp list-flexconsumption-locations.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID). Given: that user gets data roles on Service Bus, Event Hubs, Cosmos DB and Azure OpenAI so local runs can use their own identity. Empty: no user roles.')
param principalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

// ---- Function App ----
@description('Node.js major version on Flex Consumption. 22: Node 20 left support in April 2026.')
@allowed(['20', '22'])
param nodeVersion string = '22'
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100
@description('Durable task hub (host.json reads %DURABLE_TASK_HUB_NAME%). Letters and digits, 3-45 characters.')
@minLength(3)
@maxLength(45)
param durableTaskHubName string = 'tokengate'

// ---- Azure OpenAI ----
@description('create: a new Azure OpenAI account and deployment. existing: use existingOpenAiAccountName and its deployment openAiDeploymentName (nothing is created; the identity gets its roles there).')
@allowed(['create', 'existing'])
param openAiMode string = 'create'
@description('Region of a new Azure OpenAI account (model availability differs by region); empty: location.')
param openAiLocation string = ''
@description('existing: the account name.')
param existingOpenAiAccountName string = ''
@description('existing: its resource group; empty: this environment\'s resource group.')
param existingOpenAiResourceGroupName string = ''
@description('existing: its subscription; empty: this one.')
param existingOpenAiSubscriptionId string = ''
@description('Optional endpoint override (e.g. a gateway in front of the account); empty: https://<custom subdomain>.openai.azure.com/.')
param openAiEndpoint string = ''
@description('Deployment name (AZURE_OPENAI_DEPLOYMENT; also the gate entity\'s key).')
param openAiDeploymentName string = 'gpt-4o'
@description('Model behind the deployment (AZURE_OPENAI_MODEL; picks the tokenizer).')
param openAiModelName string = 'gpt-4o'
@description('create: the model version to deploy.')
param openAiModelVersion string = '2024-11-20'
@description('The deployment\'s SKU, for a created or an existing deployment: *ProvisionedManaged sets GATE_MODE=provisioned.')
@allowed([
  'Standard'
  'GlobalStandard'
  'DataZoneStandard'
  'ProvisionedManaged'
  'GlobalProvisionedManaged'
  'DataZoneProvisionedManaged'
])
param openAiDeploymentSku string = 'GlobalStandard'
@description('The deployment\'s capacity: Standard kinds in thousands of TPM (30 = 30,000 TPM), provisioned kinds in PTUs.')
@minValue(1)
param openAiCapacity int = 30
@description('Data-plane API version the openai client sends (AZURE_OPENAI_API_VERSION).')
param openAiApiVersion string = '2024-10-21'
@description('Timeout of one model call, seconds (MODEL_TIMEOUT_SECONDS).')
@minValue(1)
param modelTimeoutSeconds int = 120

// ---- Gate (see README "Settings") ----
@description('GATE_TOKENS_PER_MINUTE. 0: openAiCapacity x 1000 for Standard kinds. Provisioned: set it to the tokens per minute your PTUs process at 100% utilization (model-specific).')
@minValue(0)
param gateTokensPerMinute int = 0
@description('GATE_REQUESTS_PER_MINUTE; empty: derived from TPM with GATE_RPM_PER_1000_TPM.')
param gateRequestsPerMinute string = ''
param gateRpmPer1000Tpm string = '6'
param gateWindowSeconds string = '60'
@description('GATE_HORIZON_SECONDS; empty: two windows.')
param gateHorizonSeconds string = ''
param gateInteractiveReserve string = '0.2'
@minValue(0)
param gateStartToleranceMs int = 1000
@minValue(0)
@description('GATE_WAKE_LEAD_MS; how long before its granted start a job\'s durable timer fires; the call then waits in process until the start.')
param gateWakeLeadMs int = 1000
@minValue(1)
param gateDefaultMaxTokens int = 1024
param ptuMaxUtilization string = '0.7'
@description('GATE_MAX_IN_FLIGHT; empty: derived from RPM, window and horizon.')
param gateMaxInFlight string = ''
@description('GATE_MIN_INTERVAL_MS; empty: derived (window / RPM on standard deployments).')
param gateMinIntervalMs string = ''
@description('GATE_LEASE_SECONDS; empty: 300. Must exceed MODEL_TIMEOUT_SECONDS plus GATE_START_TOLERANCE_MS.')
param gateLeaseSeconds string = ''

// ---- Jobs ----
@minValue(1)
param jobMaxAttempts int = 6
@minValue(1)
param jobRetryBaseMs int = 1000
@minValue(1)
param jobRetryMaxMs int = 60000
@minValue(1)
param producerMaxItems int = 10000
@minValue(1)
param producerMaxBodyBytes int = 10485760
@secure()
@description('Batch webhook HMAC secret. Given: stored in a new Key Vault and set as a Key Vault reference. Empty: batch webhooks are not sent.')
param webhookSigningSecret string = ''

// ---- Data and messaging ----
@description('COSMOS_DATABASE.')
param cosmosDatabaseName string = 'tokengate'
@allowed(['Basic', 'Standard', 'Premium'])
param serviceBusSku string = 'Standard'
@minValue(1)
param feedbackMaxDeliveryCount int = 5
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 4
param eventHubConsumerGroupName string = 'dispatchjobs'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
var isProvisioned = contains(openAiDeploymentSku, 'Provisioned')
var createOpenAi = openAiMode == 'create'
var hasWebhookSecret = !empty(webhookSigningSecret)
var keyVaultName = 'kv-${resourceToken}'
var webhookSecretName = 'webhook-signing-secret'

// API version: Microsoft.Resources/resourceGroups 2024-03-01 (GA).
resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity './app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${take(functionAppName, 32)}'
  }
}

module monitoring './app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module messaging './app/messaging.bicep' = {
  name: 'messaging'
  scope: rg
  params: {
    serviceBusName: 'sb-${resourceToken}'
    eventHubsName: 'evhns-${resourceToken}'
    location: location
    tags: tags
    serviceBusSku: serviceBusSku
    feedbackMaxDeliveryCount: feedbackMaxDeliveryCount
    eventHubPartitionCount: eventHubPartitionCount
    eventHubConsumerGroupName: eventHubConsumerGroupName
  }
}

module cosmos './app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    dataContributorPrincipalIds: empty(principalId) ? [identity.outputs.principalId] : [identity.outputs.principalId, principalId]
  }
}

module openAi './app/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: openAiDeploymentName
    modelName: openAiModelName
    modelVersion: openAiModelVersion
    skuName: openAiDeploymentSku
    capacity: openAiCapacity
  }
}

var openAiAccountName = createOpenAi ? 'oai-${resourceToken}' : existingOpenAiAccountName

module openAiAccess './app/openaiAccess.bicep' = {
  name: 'openai-access'
  // The account's resource group: ours when created, any (also another subscription's) when existing.
  scope: resourceGroup(
    createOpenAi || empty(existingOpenAiSubscriptionId) ? subscription().subscriptionId : existingOpenAiSubscriptionId,
    createOpenAi || empty(existingOpenAiResourceGroupName) ? rg.name : existingOpenAiResourceGroupName
  )
  dependsOn: [
    openAi
  ]
  params: {
    accountName: openAiAccountName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusName: messaging.outputs.serviceBusName
    feedbackInQueueName: messaging.outputs.feedbackInQueueName
    feedbackOutQueueName: messaging.outputs.feedbackOutQueueName
    eventHubsName: messaging.outputs.eventHubsName
    jobsHubName: messaging.outputs.jobsHubName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module keyVault './app/keyVault.bicep' = if (hasWebhookSecret) {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    secretName: webhookSecretName
    secretValue: webhookSigningSecret
    appPrincipalId: identity.outputs.principalId
  }
}

var resolvedOpenAiEndpoint = !empty(openAiEndpoint) ? openAiEndpoint : openAiAccess.outputs.endpoint
var gateMode = isProvisioned ? 'provisioned' : 'standard'
// Azure Monitor's regional metrics endpoint for the account's region (public cloud host name).
var metricsEndpoint = 'https://${toLower(replace(openAiAccess.outputs.location, ' ', ''))}.metrics.monitor.azure.com'
var gateTpm = gateTokensPerMinute > 0 ? gateTokensPerMinute : openAiCapacity * 1000

module functionApp './app/functionApp.bicep' = {
  name: 'function-app'
  scope: rg
  // The host needs its storage and messaging roles as soon as it starts.
  dependsOn: [
    rbac
    keyVault
  ]
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    nodeVersion: nodeVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: 'app-package-${take(functionAppName, 32)}'
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    eventHubsFullyQualifiedNamespace: messaging.outputs.eventHubsFullyQualifiedNamespace
    eventHubConsumerGroupName: messaging.outputs.consumerGroupName
    serviceBusFullyQualifiedNamespace: messaging.outputs.serviceBusFullyQualifiedNamespace
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    durableTaskHubName: durableTaskHubName
    // Versionless secret URI (known before the vault exists), so the reference follows rotations.
    webhookSigningSecretUri: hasWebhookSecret ? 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/${webhookSecretName}' : ''
    openAi: {
      endpoint: resolvedOpenAiEndpoint
      deployment: openAiDeploymentName
      model: openAiModelName
      apiVersion: openAiApiVersion
      timeoutSeconds: modelTimeoutSeconds
      resourceId: openAiAccess.outputs.id
      metricsEndpoint: metricsEndpoint
    }
    gate: {
      mode: gateMode
      tokensPerMinute: gateTpm
      requestsPerMinute: gateRequestsPerMinute
      rpmPer1000Tpm: gateRpmPer1000Tpm
      windowSeconds: gateWindowSeconds
      horizonSeconds: gateHorizonSeconds
      interactiveReserve: gateInteractiveReserve
      startToleranceMs: gateStartToleranceMs
      wakeLeadMs: gateWakeLeadMs
      defaultMaxTokens: gateDefaultMaxTokens
      ptuMaxUtilization: ptuMaxUtilization
      maxInFlight: gateMaxInFlight
      minIntervalMs: gateMinIntervalMs
      leaseSeconds: gateLeaseSeconds
    }
    jobs: {
      maxAttempts: jobMaxAttempts
      retryBaseMs: jobRetryBaseMs
      retryMaxMs: jobRetryMaxMs
      producerMaxItems: producerMaxItems
      producerMaxBodyBytes: producerMaxBodyBytes
    }
  }
}

// ---- Outputs: azd stores them in .azure/<env>/.env; scripts/writeLocalSettings.mjs copies every output
// named like a setting in local.settings.sample.json into local.settings.json. ----
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
// Not AZURE_CLIENT_ID: locally the app must sign in as the developer, not as this identity.
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output EVENTHUB_CONSUMER_GROUP string = messaging.outputs.consumerGroupName

output AZURE_OPENAI_ENDPOINT string = resolvedOpenAiEndpoint
output AZURE_OPENAI_DEPLOYMENT string = openAiDeploymentName
output AZURE_OPENAI_MODEL string = openAiModelName
output AZURE_OPENAI_API_VERSION string = openAiApiVersion
output AZURE_OPENAI_RESOURCE_ID string = openAiAccess.outputs.id
output AZURE_MONITOR_METRICS_ENDPOINT string = metricsEndpoint
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output EventHubConnection__fullyQualifiedNamespace string = messaging.outputs.eventHubsFullyQualifiedNamespace
output ServiceBusConnection__fullyQualifiedNamespace string = messaging.outputs.serviceBusFullyQualifiedNamespace
output GATE_MODE string = gateMode
output GATE_TOKENS_PER_MINUTE string = string(gateTpm)
output GATE_REQUESTS_PER_MINUTE string = gateRequestsPerMinute
output GATE_RPM_PER_1000_TPM string = gateRpmPer1000Tpm
output PTU_MAX_UTILIZATION string = ptuMaxUtilization
