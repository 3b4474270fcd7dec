/**
 * Test kit: an in-memory engine to script container histories against whalewatcher.
 *
 * @example
 * import { FakeEngine } from 'whalewatcher/testing';
 * import { watch } from 'whalewatcher';
 * const engine = new FakeEngine();
 * const w = watch(engine);
 *
 * @packageDocumentation
 */
export { FakeEngine, type FakeContainerSpec, type FakeEngineOptions } from './fakeEngine.js';
