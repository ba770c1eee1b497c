// Log Analytics + workspace-based Application Insights with local (instrumentation-key) auth disabled:
// telemetry is only accepted from Entra identities holding Monitoring Metrics Publisher (see rbac.bicep).

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object
@minValue(30)
param retentionInDays int = 30

// API version: Microsoft.OperationalInsights/workspaces 2023-09-01 (GA).
resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

// API version: Microsoft.Insights/components 2020-02-02 (GA; the newest GA version with DisableLocalAuth).
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Entra-only ingestion: the app sends with APPLICATIONINSIGHTS_AUTHENTICATION_STRING (its identity).
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
