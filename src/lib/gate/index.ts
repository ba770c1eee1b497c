export * from './config.js';
export * from './types.js';
export { GateState, GateStateV1, Step, initialGateState, upgradeGateState, acquire, settle, reportUtilization, reconfigure, status, shareOf, effectiveCap, inFlightCap, batchCapped } from './gate.js';
export { leaseExpiry } from './leases.js';
export { ADAPTIVE } from './adaptive.js';
export { bucketOf, bucketStart } from './schedule.js';
