// Cosmos DB for NoSQL, serverless, Entra-only (disableLocalAuth): database `tokengate` with containers
// `jobs`, `batches` and `queues`, all partitioned by /id. Names, partition key and the jobs indexing policy
// mirror src/lib/store/cosmosJobStore.ts (JOBS_CONTAINER, BATCHES_CONTAINER, PARTITION_KEY_PATH,
// JOBS_INDEXING_POLICY) and src/lib/queues/cosmosQueueStore.ts (QUEUES_CONTAINER, QUEUES_PARTITION_KEY_PATH:
// a queue's document id is its name); test/infra/bicepContract.test.ts checks that they agree. The app never creates
// containers in Azure (data-plane RBAC cannot), so they must exist here.

param name string
param location string
param tags object
param databaseName string
@description('Principal ids (the app identity, optionally the deploying user) given Cosmos DB Built-in Data Contributor.')
param dataContributorPrincipalIds array

// API version: Microsoft.DocumentDB/databaseAccounts 2024-11-15 (GA; serverless via EnableServerless).
resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      // Session is enough: every job is read and written by its own orchestration.
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

// API version: Microsoft.DocumentDB/databaseAccounts/sqlDatabases 2024-11-15 (GA).
resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

// API version: Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers 2024-11-15 (GA).
resource jobs 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'jobs'
  properties: {
    resource: {
      id: 'jobs'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
      }
      // JOBS_INDEXING_POLICY: result paging orders by (batchId, createdAt, id), which real Cosmos refuses
      // without this composite index; request and result bodies stay out of the index (cheaper writes).
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/request/*'
          }
          {
            path: '/result/*'
          }
          {
            path: '/"_etag"/?'
          }
        ]
        compositeIndexes: [
          [
            {
              path: '/batchId'
              order: 'ascending'
            }
            {
              path: '/createdAt'
              order: 'ascending'
            }
            {
              path: '/id'
              order: 'ascending'
            }
          ]
        ]
      }
    }
  }
}

resource batches 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'batches'
  properties: {
    resource: {
      id: 'batches'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
      }
    }
  }
}

// Named queues (POST /api/queues): a handful of small documents, id = queue name.
resource queues 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'queues'
  properties: {
    resource: {
      id: 'queues'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
      }
    }
  }
}

// Cosmos DB Built-in Data Contributor, a data-plane role (sqlRoleDefinitions, not Microsoft.Authorization):
// read/write items and read metadata, nothing on the control plane.
var cosmosBuiltInDataContributor = '00000000-0000-0000-0000-000000000002'

// API version: Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments 2024-11-15 (GA).
// Scope: the account. The account holds only this app's database, and the SDK reads account metadata at
// start-up, which a database-scoped assignment would not cover.
resource dataContributors 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in dataContributorPrincipalIds: {
    parent: account
    name: guid(account.id, principalId, cosmosBuiltInDataContributor)
    properties: {
      roleDefinitionId: '${account.id}/sqlRoleDefinitions/${cosmosBuiltInDataContributor}'
      principalId: principalId
      scope: account.id
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output jobsContainerName string = jobs.name
output batchesContainerName string = batches.name
output queuesContainerName string = queues.name
