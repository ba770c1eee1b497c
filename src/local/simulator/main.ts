/**
 * The simulator as its own process (`node dist/src/local/simulator/main.js`), configured like the one
 * the local runtime starts (the gate's settings and the SIMULATOR_* knobs), on SIMULATOR_PORT (default:
 * any free port). Point a runtime at it with AZURE_OPENAI_ENDPOINT and any AZURE_OPENAI_API_KEY. It
 * outlives the runtimes that call it, as Azure does when a host dies: crash runs count the calls made
 * twice across restarts here (`GET /simulator/stats`), and change faults with `PUT /simulator/faults`.
 */
import { loadSettings } from '../../lib/config.js';
import { simulatorOptionsFor } from '../simulatorOptions.js';
import { startSimulator } from './server.js';

if (require.main === module) {
  const port = Number(process.env.SIMULATOR_PORT || 0);
  startSimulator({ ...simulatorOptionsFor(loadSettings()), port })
    .then((simulator) => {
      console.log(`Azure OpenAI simulator on ${simulator.endpoint}`);
      const stop = () => void simulator.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    });
}
