import type { EngineAdapter } from './adapter.js';
import type { WatchOptions } from './options.js';
import type { Watcher } from './watcher.js';

/**
 * Builds an engine-agnostic {@link Watcher} over an adapter. (Implementation in progress.)
 */
export function watch(adapter: EngineAdapter, options: WatchOptions = {}): Watcher {
  void adapter; void options;
  throw new Error('watch(): not implemented yet');
}
