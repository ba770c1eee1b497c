// The one identity the app uses for everything (storage, messaging, Cosmos DB, Azure OpenAI, App Insights).
// User-assigned rather than system-assigned so its roles exist before the Function App starts, and so
// AZURE_CLIENT_ID / <Connection>__clientId can name it.

param name string
param location string
param tags object

// API version: Microsoft.ManagedIdentity/userAssignedIdentities 2023-01-31 (GA).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
