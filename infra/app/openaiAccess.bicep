// Roles on the Azure OpenAI account, new or existing. Deployed into the account's own resource group
// (which may be another one, or another subscription's, when pointing at an existing account).

param accountName string
@description('The app\'s user-assigned identity.')
param appPrincipalId string
@description('Optional: the deploying user, so local runs can use their own identity. Empty: none.')
param userPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param userPrincipalType string = 'User'

// Cognitive Services OpenAI User: chat completions and model list on the data plane; no keys, no management.
var cognitiveServicesOpenAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
// Monitoring Reader: read Azure Monitor metrics of this account (the PTU utilization metric the gate reads).
var monitoringReader = '43d0d8ad-25c7-4714-9337-8ba259a9fe05'

// API version: Microsoft.CognitiveServices/accounts 2024-10-01 (GA).
resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

var principals = concat(
  [{ id: appPrincipalId, type: 'ServicePrincipal' }],
  empty(userPrincipalId) ? [] : [{ id: userPrincipalId, type: userPrincipalType }]
)

// API version: Microsoft.Authorization/roleAssignments 2022-04-01 (GA).
resource openAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(account.id, principal.id, cognitiveServicesOpenAiUser)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUser)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource metricsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(account.id, principal.id, monitoringReader)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringReader)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

output id string = account.id
output location string = account.location
output endpoint string = 'https://${account.properties.customSubDomainName}.openai.azure.com/'
