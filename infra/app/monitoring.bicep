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

// API version: Microsoft.Insights/workbooks 2023-06-01 (GA). The workbook's queries read the app's
// OpenTelemetry metrics (customMetrics, names from src/lib/telemetry/metrics.ts; a test keeps them in step).
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID: a stable one per component.
  name: guid(applicationInsights.id, 'tokengate-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'TokenGate'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: loadTextContent('workbook.json')
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
