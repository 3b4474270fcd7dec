import type { WatchOptions } from '../../lib/options.js';

/**
 * Options of a containerd watcher: the common {@link WatchOptions} plus the namespaces to cover.
 *
 * @example
 * containerdWatcher('/run/containerd/containerd.sock', { namespaces: ['default', 'prod'], resyncInterval: 30_000 });
 */
export interface ContainerdOptions extends WatchOptions {
  /** Namespaces to skip (default `['moby', 'k8s.io']`: Docker's and Kubernetes' containers). */
  readonly ignoredNamespaces?: readonly string[];
  /** If given, only these namespaces are watched (still minus the ignored ones). */
  readonly namespaces?: readonly string[];
}
