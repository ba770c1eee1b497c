// Only when a webhook signing secret is given: a Key Vault (RBAC mode, no access policies) holding it, so
// the app setting WEBHOOK_SIGNING_SECRET is a Key Vault reference resolved with the app identity and the
// secret itself never appears in the app's configuration.

param name string
param location string
param tags object
param secretName string
@secure()
param secretValue string
param appPrincipalId string

// Key Vault Secrets User: read secret values (what a Key Vault reference needs), nothing else.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// API version: Microsoft.KeyVault/vaults 2023-07-01 (GA).
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

// API version: Microsoft.KeyVault/vaults/secrets 2023-07-01 (GA).
resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: secretValue
  }
}

// API version: Microsoft.Authorization/roleAssignments 2022-04-01 (GA).
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(secret.id, appPrincipalId, keyVaultSecretsUser)
  scope: secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
// Versionless: the reference follows the latest version when the secret is rotated.
output secretUri string = secret.properties.secretUri
