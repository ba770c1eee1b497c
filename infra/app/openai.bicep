// A new Azure OpenAI account with one model deployment (used when openAiMode = 'create').
// Keys are disabled: the app signs in with its identity (Cognitive Services OpenAI User, openaiAccess.bicep).

param name string
param location string
param tags object
param deploymentName string
param modelName string
param modelVersion string
@description('Deployment SKU: Standard kinds are quota in thousands of TPM; ProvisionedManaged kinds are PTUs.')
param skuName string
@description('Standard: thousands of tokens per minute (30 = 30,000 TPM). Provisioned: PTUs.')
param capacity int

// API version: Microsoft.CognitiveServices/accounts 2024-10-01 (GA).
resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    // Entra ID tokens are only accepted on a custom subdomain endpoint.
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

// API version: Microsoft.CognitiveServices/accounts/deployments 2024-10-01 (GA).
resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    // The gate's tokenizer and quota are set for this model version: upgrade deliberately, not silently.
    versionUpgradeOption: 'NoAutoUpgrade'
  }
}

output name string = account.name
output id string = account.id
output endpoint string = 'https://${account.properties.customSubDomainName}.openai.azure.com/'
output deploymentName string = deployment.name
