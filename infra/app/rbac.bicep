// Least-privilege Azure RBAC for the app identity (and, optionally, the deploying user) on the resources
// in the app's resource group. Cosmos DB (data-plane sqlRoleAssignments) is in cosmos.bicep, Azure
// OpenAI in openaiAccess.bicep, Key Vault in keyVault.bicep. Each role is named by its built-in GUID.

param storageAccountName string
param applicationInsightsName string
param serviceBusName string
param feedbackInQueueName string
param feedbackOutQueueName string
param eventHubsName string
param jobsHubName string
param appPrincipalId string
@description('Optional: the deploying user, so local runs can use their own identity. Empty: none.')
param userPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param userPrincipalType string = 'User'

// Storage Blob Data Owner: host locks and keys, Event Hubs checkpoints, the Flex deployment package, Durable
// task hub blobs (leases and large payloads). The role the Functions docs give for an identity-based
// AzureWebJobsStorage.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: Durable Functions control and work-item queues.
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: Durable Functions history and instances tables.
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// Monitoring Metrics Publisher: send telemetry to Application Insights with Entra auth (local auth is off).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
// Azure Service Bus Data Receiver: receive and complete messages (processFeedback on feedback-in).
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
// Azure Service Bus Data Sender: send messages (saveResult's output to feedback-out).
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
// Azure Event Hubs Data Receiver: read hub `jobs` (dispatchJobs).
var eventHubsDataReceiver = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
// Azure Event Hubs Data Sender: send to hub `jobs` (producer's output binding).
var eventHubsDataSender = '2b629674-e913-4c01-ae53-ef4638d8f975'

var hasUser = !empty(userPrincipalId)

// API version: Microsoft.Storage/storageAccounts 2023-05-01 (GA).
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// API version: Microsoft.Insights/components 2020-02-02 (GA).
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// API version: Microsoft.ServiceBus/namespaces 2024-01-01 (GA).
resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusName
}

// API version: Microsoft.ServiceBus/namespaces/queues 2024-01-01 (GA).
resource feedbackIn 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: serviceBus
  name: feedbackInQueueName
}

resource feedbackOut 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: serviceBus
  name: feedbackOutQueueName
}

// API version: Microsoft.EventHub/namespaces 2024-01-01 (GA).
resource eventHubs 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsName
}

// API version: Microsoft.EventHub/namespaces/eventhubs 2024-01-01 (GA).
resource jobsHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  parent: eventHubs
  name: jobsHubName
}

// ---- The app identity ----

// API version: Microsoft.Authorization/roleAssignments 2022-04-01 (GA).
// The user gets no storage roles: local runs use Azurite for AzureWebJobsStorage.
resource appStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [storageBlobDataOwner, storageQueueDataContributor, storageTableDataContributor]: {
    name: guid(storage.id, appPrincipalId, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Queue-scoped: the app only receives from feedback-in and only sends to feedback-out.
resource appFeedbackInReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(feedbackIn.id, appPrincipalId, serviceBusDataReceiver)
  scope: feedbackIn
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appFeedbackOutSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(feedbackOut.id, appPrincipalId, serviceBusDataSender)
  scope: feedbackOut
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Hub-scoped: the producer sends to `jobs` and dispatchJobs reads it; nothing else in the namespace.
resource appJobsHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [eventHubsDataSender, eventHubsDataReceiver]: {
    name: guid(jobsHub.id, appPrincipalId, role)
    scope: jobsHub
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// ---- The deploying user (optional) ----
// A local `func start` runs the same bindings under the user's identity. The user may also send to
// feedback-in and read feedback-out (to try the feedback path), hence both roles on both queues.

resource userFeedbackIn 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (hasUser ? [serviceBusDataReceiver, serviceBusDataSender] : []): {
    name: guid(feedbackIn.id, userPrincipalId, role)
    scope: feedbackIn
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: userPrincipalId
      principalType: userPrincipalType
    }
  }
]

resource userFeedbackOut 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (hasUser ? [serviceBusDataReceiver, serviceBusDataSender] : []): {
    name: guid(feedbackOut.id, userPrincipalId, role)
    scope: feedbackOut
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: userPrincipalId
      principalType: userPrincipalType
    }
  }
]

resource userJobsHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (hasUser ? [eventHubsDataSender, eventHubsDataReceiver] : []): {
    name: guid(jobsHub.id, userPrincipalId, role)
    scope: jobsHub
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: userPrincipalId
      principalType: userPrincipalType
    }
  }
]
