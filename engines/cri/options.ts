import type { WatchOptions } from '../../lib/options.js';

/**
 * Options of the CRI watcher: the common {@link WatchOptions} plus what only CRI needs.
 *
 * @example
 * criWatcher('/run/containerd/containerd.sock', {
 *   events: 'auto', pollInterval: 5_000,
 *   project: (c) => c.labels['io.kubernetes.pod.namespace'] ?? '',
 * });
 */
export interface CriWatchOptions extends WatchOptions {
  /**
   * What to do when the runtime lacks `GetContainerEvents` (containerd 1.6; cri-o without
   * `enable_pod_events = true`): `'auto'` (default) falls back to polling the container list
   * every {@link pollInterval} ms and tells so once on `diagnostics$` (code `no-events-fallback`);
   * `'required'` fails with a `WrongEngineError` instead. The runtime's refusal races the probe
   * that proves the event stream live: rarely, `ready()` resolves a few milliseconds before the
   * watcher fails, so watch `state$` for `failed` too.
   */
  readonly events?: 'auto' | 'required';
  /** Polling period in ms of the no-events fallback (default 2000). */
  readonly pollInterval?: number;
}
