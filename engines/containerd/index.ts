/**
 * The containerd watcher: containerd's native gRPC API, all namespaces except Docker's and
 * Kubernetes' by default.
 *
 * @module
 */
import { watch } from '../../lib/watch.js';
import type { Watcher } from '../../lib/watcher.js';
import { createContainerdAdapter, DEFAULT_CONTAINERD_SOCKET } from './adapter.js';
import type { ContainerdOptions } from './options.js';

export { createContainerdAdapter, CONTAINERD_TYPE, DEFAULT_CONTAINERD_SOCKET, type ContainerdRaw } from './adapter.js';
export type { ContainerdOptions } from './options.js';
export { DEFAULT_IGNORED_NAMESPACES, NERDCTL_NAME_LABEL } from './names.js';

/**
 * Watches the alive containers of a containerd engine. IDs are `namespace/id` (bare in
 * `default`), names come from the `nerdctl/name` label (same form), else the ID; projects from
 * `com.docker.compose.project` (or the `project` option).
 *
 * @example
 * const w = containerdWatcher('/run/containerd/containerd.sock', { ignoredNamespaces: ['moby', 'k8s.io', 'buildkit'] });
 * const portfolio = await w.ready({ signal: AbortSignal.timeout(10_000) });
 * console.log(portfolio.containers().map((c) => c.name));
 * await w.close();
 */
export function containerdWatcher(socket: string = DEFAULT_CONTAINERD_SOCKET, options: ContainerdOptions = {}): Watcher {
  return watch(createContainerdAdapter(socket, options), options);
}
