/**
 * The CRI watcher: alive pod sandboxes and containers of any Kubernetes CRI runtime
 * (`runtime.v1`: containerd's CRI plugin, cri-o), watched through `GetContainerEvents`.
 *
 * @module
 */
import { watch } from '../../lib/watch.js';
import type { Watcher } from '../../lib/watcher.js';
import { createCriAdapter } from './adapter.js';
import type { CriWatchOptions } from './options.js';

export { CRI_ENGINE_TYPE, createCriAdapter } from './adapter.js';
export {
  CRI_ANNOTATION_PREFIX,
  CRI_CONTAINER_NAME_LABEL,
  CRI_POD_NAME_LABEL,
  CRI_POD_NAMESPACE_LABEL,
  CRI_POD_UID_LABEL,
  CRI_SANDBOX_LABEL,
} from './labels.js';
export type { CriWatchOptions } from './options.js';

/**
 * Watches the alive pod sandboxes (named `namespace/pod`) and containers (named
 * `namespace/pod/container`) of the CRI runtime at a unix socket (`/path` or `unix:///path`).
 *
 * The runtime shares ONE event channel among all `GetContainerEvents` callers: kubelet's evented
 * PLEG or a second watcher on the same runtime takes events away from this one (the periodic
 * resync catches up). A runtime without container events (containerd 1.6, cri-o without
 * `enable_pod_events = true`) is polled every `pollInterval` ms instead, unless `events: 'required'`.
 *
 * @example
 * const w = criWatcher('/run/containerd/containerd.sock', {
 *   project: (c) => c.labels['io.kubernetes.pod.namespace'] ?? '',
 * });
 * const portfolio = await w.ready({ signal: AbortSignal.timeout(10_000) });
 * console.log(portfolio.project('kube-system')?.containerNames());
 * await w.close();
 */
export function criWatcher(socket: string, options: CriWatchOptions = {}): Watcher {
  return watch(createCriAdapter(socket, options), options);
}
