// The Functions host storage (AzureWebJobsStorage): host locks and keys, Event Hubs checkpoints, the Flex
// deployment package, and the Durable Functions task hub (Azure Storage backend: queues, tables, blobs).
// Shared-key access is off, so every client (host, Durable, deployment) must use an Entra identity.

param name string
param location string
param tags object
@description('Blob container Flex Consumption deploys the app package to.')
param deploymentContainerName string

// API version: Microsoft.Storage/storageAccounts 2023-05-01 (GA).
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// API version: Microsoft.Storage/storageAccounts/blobServices 2023-05-01 (GA).
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// API version: Microsoft.Storage/storageAccounts/blobServices/containers 2023-05-01 (GA).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
