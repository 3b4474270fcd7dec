/**
 * whalewatcher's engine-agnostic core: the model, the watch pipeline, selectors and errors.
 *
 * @packageDocumentation
 */
export type { ComposerProject, Container, EngineRef, LifecycleEvent, Portfolio } from './model.js';
export type { Diagnostic, Watcher, WatcherState } from './watcher.js';
export type { BackoffOptions, ProjectInput, WatchOptions } from './options.js';
export type { ContainerDetails, ContainerList, ContainerSummary, EngineAdapter, EngineEvent, EngineInfo, Inspection, SkippedContainer } from './adapter.js';
export { watch } from './watch.js';
export { FLEET_TYPE, fleet, type EngineSelector, type Fleet, type FleetDiagnostic, type FleetPortfolio } from './fleet/index.js';
export { composeProject } from './reducer.js';
export { selectProject } from './operators/selectProject.js';
export { selectContainer } from './operators/selectContainer.js';
export {
  EngineUnreachableError,
  ProtocolError,
  WatcherAbortedError,
  WhalewatcherError,
  WrongEngineError,
} from './errors.js';
