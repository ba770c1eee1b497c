// Service Bus (feedback in/out) and Event Hubs (`jobs`), both Entra-only (SAS keys disabled).
// The app connects with identity-based connections: ServiceBusConnection__* and EventHubConnection__*.

param serviceBusName string
param eventHubsName string
param location string
param tags object

@allowed(['Basic', 'Standard', 'Premium'])
param serviceBusSku string = 'Standard'
@description('Deliveries of a feedback-in message before Service Bus dead-letters it. processFeedback fails an unparseable message on every delivery (the Node model cannot dead-letter explicitly), so this bounds the wasted deliveries.')
@minValue(1)
param feedbackMaxDeliveryCount int = 5

@description('Partitions of hub `jobs`: the most dispatchJobs instances that read it in parallel.')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 4
@description('Dedicated consumer group for dispatchJobs on hub `jobs`.')
param eventHubConsumerGroupName string = 'dispatchjobs'

// Names the code uses (src/functions/processFeedback.ts, saveResult.ts, producer.ts, dispatchJobs.ts).
var feedbackInQueueName = 'feedback-in'
var feedbackOutQueueName = 'feedback-out'
var jobsHubName = 'jobs'

// API version: Microsoft.ServiceBus/namespaces 2024-01-01 (GA).
resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: serviceBusName
  location: location
  tags: tags
  sku: {
    name: serviceBusSku
    tier: serviceBusSku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// API version: Microsoft.ServiceBus/namespaces/queues 2024-01-01 (GA).
resource feedbackIn 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: feedbackInQueueName
  properties: {
    maxDeliveryCount: feedbackMaxDeliveryCount
    // A form that waited two weeks is stale; keep it in the dead-letter queue rather than drop it.
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    // Analysing one form only starts an orchestration: a minute of lock is plenty.
    lockDuration: 'PT1M'
  }
}

resource feedbackOut 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: feedbackOutQueueName
  properties: {
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P14D'
    // Analyses nobody collected go to the dead-letter queue instead of vanishing.
    deadLetteringOnMessageExpiration: true
    lockDuration: 'PT1M'
  }
}

// API version: Microsoft.EventHub/namespaces 2024-01-01 (GA). Standard: Basic allows only $Default.
resource eventHubs 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: eventHubsName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

// API version: Microsoft.EventHub/namespaces/eventhubs 2024-01-01 (GA).
resource jobsHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: eventHubs
  name: jobsHubName
  properties: {
    partitionCount: eventHubPartitionCount
    // Events carry ids only and start orchestrations within seconds; the store is the record.
    messageRetentionInDays: 1
  }
}

// API version: Microsoft.EventHub/namespaces/eventhubs/consumergroups 2024-01-01 (GA).
resource dispatchConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: jobsHub
  name: eventHubConsumerGroupName
}

output serviceBusName string = serviceBus.name
// Host name from the endpoint ('https://<ns>.servicebus.windows.net:443/'), so other clouds work too.
output serviceBusFullyQualifiedNamespace string = split(replace(serviceBus.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output feedbackInQueueName string = feedbackIn.name
output feedbackOutQueueName string = feedbackOut.name
output eventHubsName string = eventHubs.name
output eventHubsFullyQualifiedNamespace string = split(replace(eventHubs.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output jobsHubName string = jobsHub.name
output consumerGroupName string = dispatchConsumerGroup.name
