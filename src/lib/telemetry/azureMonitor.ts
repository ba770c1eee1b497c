/**
 * Sends the app's metrics (and the worker's traces) to Application Insights when the host has a
 * connection string. Authentication is Entra ID (the component has local auth disabled): the same
 * user-assigned identity as the rest of the app.
 */
import { ManagedIdentityCredential } from '@azure/identity';
import { useAzureMonitor } from '@azure/monitor-opentelemetry';

export function startAzureMonitor(): boolean {
  const connectionString = process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return false;
  const clientId = process.env.AZURE_CLIENT_ID;
  useAzureMonitor({
    azureMonitorExporterOptions: {
      connectionString,
      credential: clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential(),
    },
  });
  return true;
}
