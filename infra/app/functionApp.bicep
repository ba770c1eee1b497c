// The Function App on Flex Consumption (FC1, Linux) and every app setting it runs with.
//
// App settings live in exactly one place, the `appsettings` resource below, named exactly as the code
// reads them (src/lib/config.ts, host.json, the bindings; see local.settings.sample.json).
// test/infra/bicepContract.test.ts checks both directions: everything the app reads is set here, and
// everything set here is read by the app or the Functions host.
//
// Flex Consumption takes the runtime from functionAppConfig.runtime, so FUNCTIONS_WORKER_RUNTIME (and
// FUNCTIONS_EXTENSION_VERSION, WEBSITE_NODE_DEFAULT_VERSION, WEBSITE_RUN_FROM_PACKAGE) must not be set.

param name string
param planName string
param location string
param tags object
@description('azd deploys the code to the site tagged with this service name (azure.yaml).')
param serviceName string = 'api'

@description('Node.js major version. 22: Node 20 left support in April 2026; the code still runs on 20.')
@allowed(['20', '22'])
param nodeVersion string = '22'
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsConnectionString string

@description('Host names (<ns>.servicebus.windows.net) of the Event Hubs and Service Bus namespaces.')
@description('Consumer group the dispatchJobs trigger reads the jobs hub with.')
param eventHubConsumerGroupName string

param eventHubsFullyQualifiedNamespace string
param serviceBusFullyQualifiedNamespace string
param cosmosEndpoint string
param cosmosDatabaseName string
param durableTaskHubName string

@description('Key Vault secret URI of the webhook signing secret; empty: webhooks are not signed, so not sent.')
param webhookSigningSecretUri string = ''

type OpenAiSettings = {
  endpoint: string
  deployment: string
  model: string
  apiVersion: string
  timeoutSeconds: int
  @description('ARM id of the account, for the PTU monitor (Azure Monitor utilization metric).')
  resourceId: string
  @description('Regional Azure Monitor metrics endpoint of the account, https://<region>.metrics.monitor.azure.com.')
  metricsEndpoint: string
}
param openAi OpenAiSettings

// Fractions and optional values are strings: app settings are strings, Bicep has no decimals, and an
// empty string means "use the code's default" (src/lib/config.ts).
type GateSettings = {
  mode: 'standard' | 'provisioned'
  tokensPerMinute: int
  requestsPerMinute: string
  rpmPer1000Tpm: string
  windowSeconds: string
  horizonSeconds: string
  interactiveReserve: string
  startToleranceMs: int
  wakeLeadMs: int
  defaultMaxTokens: int
  ptuMaxUtilization: string
  maxInFlight: string
  minIntervalMs: string
  leaseSeconds: string
}
param gate GateSettings

type JobSettings = {
  maxAttempts: int
  retryBaseMs: int
  retryMaxMs: int
  producerMaxItems: int
  producerMaxBodyBytes: int
}
param jobs JobSettings

// Synchronous routes, several deployments per model and their circuit breakers. Strings, as above
// (empty AZURE_OPENAI_DEPLOYMENTS: the one deployment of `openAi` and `gate`); defaults are the sample's.
@description('Longest wait for a slot a synchronous call accepts before an immediate 429 (SYNC_MAX_WAIT_SECONDS).')
param syncMaxWaitSeconds string = '30'
@description('Several deployments in priority order, name:mode:tokensPerMinute[:ptuMaxUtilization],... or JSON (AZURE_OPENAI_DEPLOYMENTS).')
param openAiDeployments string = ''
param deploymentSpilloverWaitSeconds string = '2'
param breakerFailureThreshold string = '5'
param breakerWindowSeconds string = ''
param breakerCooldownSeconds string = ''

// API version: Microsoft.Storage/storageAccounts 2023-05-01 (GA).
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// API version: Microsoft.Web/serverfarms 2024-04-01 (GA; FC1 / FlexConsumption).
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

// API version: Microsoft.Web/sites 2024-04-01 (GA; functionAppConfig for Flex Consumption since 2023-12-01).
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (WEBHOOK_SIGNING_SECRET) resolve with the app identity, not a system one.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// Publishing uses Entra ID (azd, func CLI); basic-auth publishing credentials are local auth: off.
// API version: Microsoft.Web/sites/basicPublishingCredentialsPolicies 2024-04-01 (GA).
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

// API version: Microsoft.Web/sites/config 2024-04-01 (GA). Replaces all app settings on every deployment.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: {
    // -- Functions host and Durable Functions (Azure Storage backend), identity-based.
    // Separate service URIs (not __accountName) keep it explicit which services Durable needs.
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    DURABLE_TASK_HUB_NAME: durableTaskHubName
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    // Entra auth for telemetry (the component has local auth disabled).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

    // -- Bindings: identity-based connections (the binding's `connection` name + __fullyQualifiedNamespace).
    EventHubConnection__fullyQualifiedNamespace: eventHubsFullyQualifiedNamespace
    EventHubConnection__credential: 'managedidentity'
    EventHubConnection__clientId: identityClientId
    ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
    ServiceBusConnection__credential: 'managedidentity'
    ServiceBusConnection__clientId: identityClientId
    // The dispatchJobs trigger's consumer group (%EVENTHUB_CONSUMER_GROUP% in its binding).
    EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroupName

    // -- The app's own SDK clients (Azure OpenAI, Cosmos DB): DefaultAzureCredential with this identity.
    AZURE_CLIENT_ID: identityClientId

    // -- Azure OpenAI. No AZURE_OPENAI_API_KEY: key auth is disabled, Entra ID only.
    AZURE_OPENAI_ENDPOINT: openAi.endpoint
    AZURE_OPENAI_DEPLOYMENT: openAi.deployment
    AZURE_OPENAI_MODEL: openAi.model
    AZURE_OPENAI_API_VERSION: openAi.apiVersion
    MODEL_TIMEOUT_SECONDS: string(openAi.timeoutSeconds)
    // The PTU monitor (ptuMonitor timer) reads the account's utilization metric; it only runs when
    // GATE_MODE is provisioned, so both are always set and switching the mode needs no new settings.
    AZURE_OPENAI_RESOURCE_ID: openAi.resourceId
    AZURE_MONITOR_METRICS_ENDPOINT: openAi.metricsEndpoint

    // -- The gate.
    GATE_MODE: gate.mode
    GATE_TOKENS_PER_MINUTE: string(gate.tokensPerMinute)
    GATE_REQUESTS_PER_MINUTE: gate.requestsPerMinute
    GATE_RPM_PER_1000_TPM: gate.rpmPer1000Tpm
    GATE_WINDOW_SECONDS: gate.windowSeconds
    GATE_HORIZON_SECONDS: gate.horizonSeconds
    GATE_INTERACTIVE_RESERVE: gate.interactiveReserve
    GATE_START_TOLERANCE_MS: string(gate.startToleranceMs)
    GATE_WAKE_LEAD_MS: string(gate.wakeLeadMs)
    GATE_DEFAULT_MAX_TOKENS: string(gate.defaultMaxTokens)
    PTU_MAX_UTILIZATION: gate.ptuMaxUtilization
    GATE_MAX_IN_FLIGHT: gate.maxInFlight
    GATE_MIN_INTERVAL_MS: gate.minIntervalMs
    GATE_LEASE_SECONDS: gate.leaseSeconds

    // -- Jobs and the store. No COSMOS_KEY: local auth is disabled, Entra ID only.
    COSMOS_ENDPOINT: cosmosEndpoint
    COSMOS_DATABASE: cosmosDatabaseName
    JOB_MAX_ATTEMPTS: string(jobs.maxAttempts)
    JOB_RETRY_BASE_MS: string(jobs.retryBaseMs)
    JOB_RETRY_MAX_MS: string(jobs.retryMaxMs)
    PRODUCER_MAX_ITEMS: string(jobs.producerMaxItems)
    PRODUCER_MAX_BODY_BYTES: string(jobs.producerMaxBodyBytes)

    // -- Synchronous routes; several deployments per model and each one's circuit breaker.
    SYNC_MAX_WAIT_SECONDS: syncMaxWaitSeconds
    AZURE_OPENAI_DEPLOYMENTS: openAiDeployments
    DEPLOYMENT_SPILLOVER_WAIT_SECONDS: deploymentSpilloverWaitSeconds
    BREAKER_FAILURE_THRESHOLD: breakerFailureThreshold
    BREAKER_WINDOW_SECONDS: breakerWindowSeconds
    BREAKER_COOLDOWN_SECONDS: breakerCooldownSeconds

    // -- Batch webhooks: the secret is a Key Vault reference, never a value in the configuration.
    WEBHOOK_SIGNING_SECRET: empty(webhookSigningSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${webhookSigningSecretUri})'
    // Never in Azure: a caller could otherwise make the app call into its own network.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false'
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output planName string = plan.name
