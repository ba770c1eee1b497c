import { app } from '@azure/functions';
import { startAzureMonitor } from './lib/telemetry/azureMonitor.js';

app.setup({ enableHttpStream: false });
startAzureMonitor();
