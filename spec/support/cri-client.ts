/**
 * The project's own small CRI client for the test suites: runs pods with busybox containers on a
 * private CRI runtime, stops and removes them, and answers what the runtime itself says about
 * them (for comparison with what a watcher reports). Every call is bounded by a deadline.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createUnixGrpcTransport, notFoundAsUndefined, unixSocketPath } from '../../engines/grpc.js';
import {
  ContainerState,
  NamespaceMode,
  PodSandboxConfigSchema,
  PodSandboxState,
  RuntimeService,
} from '../../protos/gen/runtime/v1/api_pb.js';
import { parseVerboseInfo } from '../../engines/cri/labels.js';

/**
 * The Kubernetes namespace of every pod the CRI suites run (and clean up).
 *
 * @example
 * await cri.removePodsIn([TEST_NAMESPACE]);
 */
export const TEST_NAMESPACE = 'ww-cri-test';

/**
 * The busybox image the engine provisioning imported into containerd's `k8s.io` namespace.
 *
 * @example
 * const image = { image: TEST_IMAGE };
 */
export const TEST_IMAGE = 'docker.io/library/busybox:local';

/**
 * What to run: a pod and its containers.
 *
 * @example
 * const spec: PodSpec = { namespace: 'ww-test', name: 'p1', containers: [{ name: 'c1' }] };
 */
export interface PodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly containers: readonly {
    readonly name: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
    /** Command line; default `/bin/sleep 3600`. */
    readonly command?: readonly string[];
  }[];
}

/**
 * A pod that runs: its sandbox ID, UID and container IDs by name.
 *
 * @example
 * const pod = await cri.runPod(spec); console.log(pod.sandboxId, pod.containers['c1']);
 */
export interface RunningPod {
  readonly spec: PodSpec;
  readonly uid: string;
  readonly sandboxId: string;
  readonly containers: Readonly<Record<string, string>>;
}

/**
 * A small CRI client for tests.
 *
 * @example
 * const cri = new CriTestClient(process.env.WHALEWATCHER_TEST_CRI!);
 * const pod = await cri.runPod({ namespace: 'ww', name: 'p', containers: [{ name: 'c' }] });
 * await cri.removePod(pod.sandboxId);
 * await cri.close();
 */
export class CriTestClient {
  private readonly transport;
  readonly client;

  constructor(
    readonly socket: string,
    /** Deadline of each call in ms. */
    readonly timeoutMs = 30_000,
  ) {
    this.transport = createUnixGrpcTransport(unixSocketPath(socket));
    this.client = createClient(RuntimeService, this.transport.transport);
  }

  private get opts() {
    return { timeoutMs: this.timeoutMs };
  }

  /** Runs a pod (host network, no hostname) and starts its containers, in order. */
  async runPod(spec: PodSpec): Promise<RunningPod> {
    const uid = randomUUID();
    const config = create(PodSandboxConfigSchema, {
      metadata: { name: spec.name, namespace: spec.namespace, uid, attempt: 0 },
      labels: spec.labels ?? {},
      annotations: spec.annotations ?? {},
      linux: {
        securityContext: {
          namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.POD, ipc: NamespaceMode.POD },
        },
      },
    });
    const { podSandboxId } = await this.client.runPodSandbox({ config }, this.opts);
    const containers: Record<string, string> = {};
    try {
      for (const c of spec.containers) {
        const { containerId } = await this.client.createContainer(
          {
            podSandboxId,
            sandboxConfig: config,
            config: {
              metadata: { name: c.name, attempt: 0 },
              image: { image: TEST_IMAGE },
              command: [...(c.command ?? ['/bin/sleep', '3600'])],
              labels: c.labels ?? {},
              annotations: c.annotations ?? {},
            },
          },
          this.opts,
        );
        containers[c.name] = containerId;
        await this.client.startContainer({ containerId }, this.opts);
      }
    } catch (err) {
      await this.removePod(podSandboxId).catch(() => {});
      throw err;
    }
    return { spec, uid, sandboxId: podSandboxId, containers };
  }

  /** Stops a container right away (SIGKILL: busybox sleep as PID 1 ignores SIGTERM). */
  async stopContainer(containerId: string): Promise<void> {
    await this.client.stopContainer({ containerId, timeout: 0n }, this.opts);
  }

  /** Stops a pod's sandbox and all its containers. Idempotent. */
  async stopPod(sandboxId: string): Promise<void> {
    await notFoundAsUndefined(this.client.stopPodSandbox({ podSandboxId: sandboxId }, this.opts));
  }

  /** Stops and removes a pod with its containers. Idempotent. */
  async removePod(sandboxId: string): Promise<void> {
    await this.stopPod(sandboxId);
    await notFoundAsUndefined(this.client.removePodSandbox({ podSandboxId: sandboxId }, this.opts));
  }

  /** Removes every pod in the given Kubernetes namespaces (test cleanup, also of killed runs). */
  async removePodsIn(namespaces: readonly string[]): Promise<void> {
    const { items } = await this.client.listPodSandbox({}, this.opts);
    for (const pod of items) {
      if (namespaces.includes(pod.metadata?.namespace ?? '')) await this.removePod(pod.id);
    }
  }

  /**
   * What the runtime says is alive: READY sandboxes and RUNNING containers with their PIDs,
   * optionally only those of pods in one Kubernetes namespace.
   */
  async alive(namespace?: string): Promise<Map<string, { pid: number; sandbox: boolean }>> {
    const alive = new Map<string, { pid: number; sandbox: boolean }>();
    const { items } = await this.client.listPodSandbox({}, this.opts);
    const inScope = new Set(
      items.filter((pod) => namespace === undefined || pod.metadata?.namespace === namespace).map((pod) => pod.id),
    );
    for (const pod of items) {
      if (pod.state !== PodSandboxState.SANDBOX_READY || !inScope.has(pod.id)) continue;
      const answer = await notFoundAsUndefined(this.client.podSandboxStatus({ podSandboxId: pod.id, verbose: true }, this.opts));
      if (answer) alive.set(pod.id, { pid: parseVerboseInfo(answer.info).pid, sandbox: true });
    }
    const { containers } = await this.client.listContainers({}, this.opts);
    for (const c of containers) {
      if (c.state !== ContainerState.CONTAINER_RUNNING || !inScope.has(c.podSandboxId)) continue;
      const answer = await notFoundAsUndefined(this.client.containerStatus({ containerId: c.id, verbose: true }, this.opts));
      if (answer) alive.set(c.id, { pid: parseVerboseInfo(answer.info).pid, sandbox: false });
    }
    return alive;
  }

  /**
   * Leaves `n` stale event subscriptions behind. containerd 1.7 keeps serving a cancelled
   * `GetContainerEvents` call until its next event: the call's reader takes that one event from
   * the channel all subscribers share, then notices and ends. So each of these takes one of the
   * runtime's next events away from every other subscriber (as each closed watcher does).
   */
  async leaveStaleSubscriptions(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const ac = new AbortController();
      const ended = this.client.getContainerEvents({}, { signal: ac.signal })[Symbol.asyncIterator]().next().catch(() => undefined);
      await this.client.version({ version: '0.1.0' }, this.opts); // the runtime has seen the call
      ac.abort();
      await ended;
    }
  }

  /**
   * Runs and removes throwaway pods in `namespace` until a fresh event subscription gets an
   * event: then every stale subscription queued before it has taken its one (see
   * {@link leaveStaleSubscriptions}). Cancelled, that subscription is stale itself: one more pod
   * gives it its one event. Afterwards the next events reach live subscribers (what is left of
   * that pod's events stays buffered, and a watcher drops it as older than its subscription).
   * Returns the number of pods it took.
   */
  async flushStaleSubscriptions(namespace: string, maxPods = 30): Promise<number> {
    const ac = new AbortController();
    let seen = false;
    const first = this.client
      .getContainerEvents({}, { signal: ac.signal })
      [Symbol.asyncIterator]()
      .next()
      .then(
        () => void (seen = true),
        () => undefined,
      );
    await this.client.version({ version: '0.1.0' }, this.opts);
    let pods = 0;
    try {
      while (!seen && pods < maxPods) {
        const pod = await this.runPod({ namespace, name: `flush-${pods++}`, containers: [] });
        await this.removePod(pod.sandboxId);
      }
    } finally {
      ac.abort();
      await first;
    }
    if (!seen) throw new Error(`flushStaleSubscriptions: no event reached a fresh subscriber after ${pods} pods`);
    const last = await this.runPod({ namespace, name: `flush-${pods++}`, containers: [] });
    await this.removePod(last.sandboxId);
    return pods;
  }

  /** Releases the connection. */
  close(): Promise<void> {
    return this.transport.close();
  }
}
