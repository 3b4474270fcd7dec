import type { ContainerDetails } from '../../lib/adapter.js';
import { MAX_PID } from '../../lib/reducer.js';
import type { ContainerStatus, PodSandboxMetadata, PodSandboxStatus } from '../../protos/gen/runtime/v1/api_pb.js';

/**
 * Label on pod sandboxes only (value `""`): tells a sandbox ("pause" container) from the pod's
 * workload containers. Same key as the Go whalewatcher.
 *
 * @example
 * const sandboxes = portfolio.containers().filter((c) => CRI_SANDBOX_LABEL in c.labels);
 */
export const CRI_SANDBOX_LABEL = 'io.kubernetes.sandbox';

/**
 * Prefix of the labels that carry the Kubernetes annotations of containers and sandboxes.
 * Annotations are no labels in Kubernetes; the prefix keeps the two apart.
 *
 * @example
 * const hash = container.labels[`${CRI_ANNOTATION_PREFIX}io.kubernetes.container.hash`];
 */
export const CRI_ANNOTATION_PREFIX = 'io.kubernetes.annotation/';

/**
 * Label with the pod's name, on containers and sandboxes.
 *
 * @example
 * const pod = container.labels[CRI_POD_NAME_LABEL];
 */
export const CRI_POD_NAME_LABEL = 'io.kubernetes.pod.name';

/**
 * Label with the pod's Kubernetes namespace, on containers and sandboxes.
 *
 * @example
 * criWatcher(socket, { project: (c) => c.labels[CRI_POD_NAMESPACE_LABEL] ?? '' });
 */
export const CRI_POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';

/**
 * Label with the pod's UID, on containers and sandboxes.
 *
 * @example
 * const uid = container.labels[CRI_POD_UID_LABEL];
 */
export const CRI_POD_UID_LABEL = 'io.kubernetes.pod.uid';

/**
 * Label with the container's name inside its pod, on workload containers only.
 *
 * @example
 * const inPod = container.labels[CRI_CONTAINER_NAME_LABEL]; // e.g. "nginx"
 */
export const CRI_CONTAINER_NAME_LABEL = 'io.kubernetes.container.name';

/** Copies the CRI labels, then the annotations under {@link CRI_ANNOTATION_PREFIX}. */
function baseLabels(
  labels: Readonly<Record<string, string>>,
  annotations: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  for (const [key, value] of Object.entries(annotations)) out[CRI_ANNOTATION_PREFIX + key] = value;
  return out;
}

/** Adds the pod's name, namespace and UID. */
function podLabels(out: Record<string, string>, pod: PodSandboxMetadata | undefined): Record<string, string> {
  out[CRI_POD_NAME_LABEL] = pod?.name ?? '';
  out[CRI_POD_NAMESPACE_LABEL] = pod?.namespace ?? '';
  out[CRI_POD_UID_LABEL] = pod?.uid ?? '';
  return out;
}

/**
 * The name of a pod sandbox: `namespace/pod`.
 *
 * @example
 * sandboxName({ name: 'web', namespace: 'shop' }); // 'shop/web'
 */
export function sandboxName(pod: Pick<PodSandboxMetadata, 'name' | 'namespace'> | undefined): string {
  return `${pod?.namespace ?? ''}/${pod?.name ?? ''}`;
}

/**
 * The name of a workload container: `namespace/pod/container`, unique across pods.
 *
 * @example
 * containerName({ name: 'web', namespace: 'shop' }, 'nginx'); // 'shop/web/nginx'
 */
export function containerName(pod: Pick<PodSandboxMetadata, 'name' | 'namespace'> | undefined, name: string): string {
  return `${sandboxName(pod)}/${name}`;
}

/**
 * Details of a pod sandbox, from its status and PID.
 *
 * @example
 * const details = sandboxDetails(status, 4242); // name 'ns/pod', labels with io.kubernetes.sandbox
 */
export function sandboxDetails(status: PodSandboxStatus, pid: number): ContainerDetails {
  const labels = podLabels(baseLabels(status.labels, status.annotations), status.metadata);
  labels[CRI_SANDBOX_LABEL] = '';
  return { id: status.id, name: sandboxName(status.metadata), labels, pid, paused: false, raw: status };
}

/**
 * Details of a workload container, from its status, its pod's metadata and its PID.
 *
 * @example
 * const details = containerDetails(status, sandbox.metadata, 4243); // name 'ns/pod/container'
 */
export function containerDetails(
  status: ContainerStatus,
  pod: PodSandboxMetadata | undefined,
  pid: number,
): ContainerDetails {
  const name = status.metadata?.name ?? '';
  const labels = podLabels(baseLabels(status.labels, status.annotations), pod);
  labels[CRI_CONTAINER_NAME_LABEL] = name;
  return { id: status.id, name: containerName(pod, name), labels, pid, paused: false, raw: status };
}

/**
 * What a verbose status's `info` map tells: the PID (0 when missing, not a positive integer or
 * above Linux's maximum {@link MAX_PID}, with `problem` saying what was wrong) and, for
 * containers, the sandbox ID where the runtime reports it (containerd and cri-o do).
 *
 * @example
 * parseVerboseInfo({ info: '{"pid":4242,"sandboxID":"ab12…"}' }); // { pid: 4242, sandboxId: 'ab12…' }
 * parseVerboseInfo({ info: '<html>' }).problem; // 'its verbose info is not JSON: "<html>"'
 */
export function parseVerboseInfo(info: Readonly<Record<string, string>>): {
  pid: number;
  sandboxId?: string;
  problem?: string;
} {
  const text = info['info'];
  if (!text) return { pid: 0, problem: 'it has no verbose info (no "info" entry)' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { pid: 0, problem: `its verbose info is not JSON: ${excerpt(text)}` };
  }
  if (typeof parsed !== 'object' || parsed === null) {
    return { pid: 0, problem: `its verbose info is not a JSON object: ${excerpt(text)}` };
  }
  const { pid, sandboxID } = parsed as { pid?: unknown; sandboxID?: unknown };
  const integer = typeof pid === 'number' && Number.isInteger(pid) && pid > 0;
  const result: { pid: number; sandboxId?: string; problem?: string } = !integer
    ? { pid: 0, problem: `its verbose info has no positive integer "pid" (found ${pid === undefined ? 'none' : JSON.stringify(pid).slice(0, 60)})` }
    : pid > MAX_PID
      ? { pid: 0, problem: `its verbose info claims PID ${pid}, outside Linux's range 1..${MAX_PID}` }
      : { pid };
  if (typeof sandboxID === 'string' && sandboxID !== '') result.sandboxId = sandboxID;
  return result;
}

/** At most 60 characters of `text`, quoted, for a message. */
function excerpt(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}
