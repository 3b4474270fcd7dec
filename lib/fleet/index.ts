export { fleet } from './fleet.js';
export { FLEET_TYPE, type EngineSelector, type Fleet, type FleetDiagnostic, type FleetPortfolio } from './types.js';
