/**
 * containerd naming: watcher IDs and names are `namespace/id`, bare in the `default` namespace.
 *
 * @module
 */

/** The namespace whose containers keep their bare IDs and names. */
export const DEFAULT_NAMESPACE = 'default';

/**
 * The label nerdctl stores a container's name in.
 *
 * @example
 * const name = container.labels[NERDCTL_NAME_LABEL] ?? container.id;
 */
export const NERDCTL_NAME_LABEL = 'nerdctl/name';

/**
 * Namespaces a plain-containerd watcher skips by default: Docker's (`moby`) and Kubernetes' (`k8s.io`).
 *
 * @example
 * containerdWatcher(undefined, { ignoredNamespaces: [...DEFAULT_IGNORED_NAMESPACES, 'buildkit'] });
 */
export const DEFAULT_IGNORED_NAMESPACES: readonly string[] = ['moby', 'k8s.io'];

/**
 * The watcher ID (or name) of a containerd object: `namespace/id`, bare in `default`.
 *
 * @example
 * qualify('default', 'c1'); // 'c1'
 * qualify('prod', 'c1');    // 'prod/c1'
 */
export function qualify(namespace: string, id: string): string {
  return namespace === DEFAULT_NAMESPACE ? id : `${namespace}/${id}`;
}

/**
 * Splits a watcher ID back into namespace and containerd ID (neither may contain `/`).
 *
 * @example
 * unqualify('prod/c1'); // { namespace: 'prod', id: 'c1' }
 * unqualify('c1');      // { namespace: 'default', id: 'c1' }
 */
export function unqualify(qualified: string): { namespace: string; id: string } {
  const slash = qualified.indexOf('/');
  return slash < 0
    ? { namespace: DEFAULT_NAMESPACE, id: qualified }
    : { namespace: qualified.slice(0, slash), id: qualified.slice(slash + 1) };
}

/**
 * A container's watcher name: its `nerdctl/name` label, else its ID, qualified like IDs.
 *
 * @example
 * containerName('prod', 'c1', { 'nerdctl/name': 'web' }); // 'prod/web'
 * containerName('default', 'c1', {});                      // 'c1'
 */
export function containerName(namespace: string, id: string, labels: Readonly<Record<string, string>>): string {
  const name = labels[NERDCTL_NAME_LABEL];
  return qualify(namespace, name ? name : id);
}

/**
 * Decides which namespaces a watcher covers: an optional allow-list, minus the ignored ones.
 *
 * @example
 * const watched = namespaceFilter({ ignoredNamespaces: ['moby'] });
 * watched('moby');    // false
 * watched('default'); // true
 */
export function namespaceFilter(options: {
  readonly ignoredNamespaces?: readonly string[];
  readonly namespaces?: readonly string[];
}): (namespace: string) => boolean {
  const ignored = new Set(options.ignoredNamespaces ?? DEFAULT_IGNORED_NAMESPACES);
  const allowed = options.namespaces ? new Set(options.namespaces) : undefined;
  return (namespace) => !ignored.has(namespace) && (allowed === undefined || allowed.has(namespace));
}
