/**
 * Engine-side helpers of the benchmark: the Docker and Podman containers, containerd tasks and
 * CRI pods it creates (all labelled or namespaced, all removed again), and counting proxies in
 * front of the engines' sockets.
 *
 * @module
 */
import * as net from 'node:net';
import { create } from '@bufbuild/protobuf';
import Docker from 'dockerode';
import { NamespaceMode, type PodSandboxConfig, PodSandboxConfigSchema, PodSandboxState } from '../../protos/gen/runtime/v1/api_pb.js';
import { CriTestClient, type RunningPod, TEST_IMAGE } from '../../spec/support/cri-client.js';
import { ctrAt, ctrRunFlags, importTestImage, socketPath, testEngines } from '../../spec/support/engines.js';
import { connectUpstream, listenOnUnixSocket } from '../../spec/support/unix-socket-server.js';

/** Label on every Docker container the benchmark creates; the cleanup removes exactly these. */
export const BENCH_LABEL = 'whalewatcher.bench';
/** The containerd namespace the benchmark's tasks live in; also the Kubernetes namespace of its CRI pods. */
export const BENCH_NAMESPACE = 'ww-bench';

/** A dockerode client of its own for an endpoint `unix:///path`. */
export function dockerClient(endpoint: string): Docker {
  return new Docker({ socketPath: socketPath(endpoint) });
}

/** The benchmark's Docker containers: started with dockerode (no CLI per container), removed by label. */
export class DockerFleet {
  readonly client: Docker;
  private serial = 0;

  constructor(
    readonly endpoint: string,
    readonly image: string,
  ) {
    this.client = dockerClient(endpoint);
  }

  /** IDs of the benchmark's alive containers. */
  async alive(): Promise<string[]> {
    const list = await this.client.listContainers({ filters: { label: [BENCH_LABEL] } });
    return list.map((c) => c.Id);
  }

  /** Container creations in flight, awaited by {@link removeAll}. */
  private readonly creating = new Set<Promise<unknown>>();
  private stopped = false;

  /** Refuses further containers (on Ctrl-C): what is being created is still removed by {@link removeAll}. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Starts one container (`sleep 3600`, no network) in compose-like project `project`;
   * `created(id)` is called between its creation and its start.
   */
  start(project: string, extraLabels: Record<string, string> = {}, created: (id: string) => void = () => undefined): Promise<string> {
    if (this.stopped) return Promise.reject(new Error('the benchmark was interrupted'));
    const p = this.create(project, extraLabels, created);
    this.creating.add(p);
    void p.finally(() => this.creating.delete(p)).catch(() => undefined);
    return p;
  }

  private async create(project: string, extraLabels: Record<string, string>, created: (id: string) => void): Promise<string> {
    const n = ++this.serial;
    const name = `ww-bench-${process.pid}-${n}`;
    const c = await this.client.createContainer({
      name,
      Image: this.image,
      Cmd: ['sleep', '3600'],
      Labels: {
        [BENCH_LABEL]: String(process.pid),
        'com.docker.compose.project': project,
        'com.docker.compose.service': `svc-${n % 7}`,
        'com.docker.compose.container-number': String(n),
        ...extraLabels,
      },
      HostConfig: { NetworkMode: 'none' },
    });
    created(c.id);
    try {
      await c.start();
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    return c.id;
  }

  /** Tops the benchmark's alive containers up to `n` (8 at a time), spread over 5 projects. */
  async ensure(n: number): Promise<void> {
    let missing = n - (await this.alive()).length;
    let failures = 0;
    const worker = async () => {
      while (missing > 0) {
        missing--;
        try {
          await this.start(`bench-${missing % 5}`);
        } catch (err) {
          // runc fails now and then on a loaded machine: try again, a few times in all.
          if (this.stopped || ++failures > 5) throw err;
          missing++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }

  /** Removes one container (SIGKILL). */
  async remove(id: string): Promise<void> {
    await this.client.getContainer(id).remove({ force: true });
  }

  /** Removes every container carrying the benchmark label, alive or not. */
  async removeAll(): Promise<number> {
    await Promise.allSettled([...this.creating]);
    const all = await this.client.listContainers({ all: true, filters: { label: [BENCH_LABEL] } });
    let left = all.map((c) => c.Id);
    const worker = async () => {
      for (let id = left.pop(); id; id = left.pop()) {
        await this.client.getContainer(id).remove({ force: true }).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    left = [];
    return all.length;
  }
}

/** The benchmark's containerd tasks, made with `ctr` in {@link BENCH_NAMESPACE}. */
export class CtrFleet {
  private readonly ids: string[] = [];
  private serial = 0;
  private readonly creating = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(readonly address: string) {}

  /** Refuses further tasks (on Ctrl-C). */
  stop(): void {
    this.stopped = true;
  }

  private ctr(args: string[], timeoutMs = 30_000): Promise<string> {
    return ctrAt(this.address, BENCH_NAMESPACE, args, { timeoutMs });
  }

  /** Imports the test image into the namespace (idempotent). */
  async prepare(): Promise<void> {
    await importTestImage(BENCH_NAMESPACE, 'containerd');
  }

  /** Runs `n` tasks (`sleep 3600`), 4 at a time. */
  async start(n: number): Promise<void> {
    let left = n;
    const image = testEngines().images.containerd;
    const worker = async () => {
      while (left > 0) {
        left--;
        const id = `bench-${process.pid}-${this.serial++}`;
        if (this.stopped) throw new Error('the benchmark was interrupted');
        this.ids.push(id);
        const run = this.ctr(['run', '-d', ...ctrRunFlags(), '--label', 'com.docker.compose.project=bench', '--label', `nerdctl/name=${id}`, image, id, '/bin/sleep', '3600']);
        this.creating.add(run);
        await run.finally(() => this.creating.delete(run));
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /** How many tasks this fleet started (and has not removed). */
  get size(): number {
    return this.ids.length;
  }

  /** Tops the fleet's tasks up to `n` (see {@link start}). */
  async ensure(n: number): Promise<void> {
    if (n > this.ids.length) await this.start(n - this.ids.length);
  }

  /**
   * Runs one task `id` (`sleep 3600`) with `ctr run -d`, which returns once the task started;
   * `id` is the caller's, so it can wait for the task's events before they happen.
   */
  async startOne(id: string): Promise<void> {
    if (this.stopped) throw new Error('the benchmark was interrupted');
    this.ids.push(id);
    const image = testEngines().images.containerd;
    const run = this.ctr(['run', '-d', ...ctrRunFlags(), '--label', 'com.docker.compose.project=bench-latency', '--label', `nerdctl/name=${id}`, image, id, '/bin/sleep', '3600']);
    this.creating.add(run);
    try {
      await run;
    } finally {
      this.creating.delete(run);
    }
  }

  /** Kills (SIGKILL) and removes one task and its container. */
  async remove(id: string): Promise<void> {
    await this.ctr(['tasks', 'rm', '-f', id]).catch(() => undefined);
    await this.ctr(['containers', 'rm', id]);
    const i = this.ids.indexOf(id);
    if (i >= 0) this.ids.splice(i, 1);
  }

  /** Removes every task and container of the namespace (the benchmark's own namespace). */
  async removeAll(): Promise<number> {
    await Promise.allSettled([...this.creating]);
    const listed = (await this.ctr(['containers', 'ls', '-q']).catch(() => '')).split('\n').filter(Boolean);
    const left = [...new Set([...listed, ...this.ids.splice(0)])];
    const count = left.length;
    const worker = async () => {
      for (let id = left.pop(); id; id = left.pop()) {
        await this.ctr(['tasks', 'rm', '-f', id]).catch(() => undefined);
        await this.ctr(['containers', 'rm', id]).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return count;
  }
}

/**
 * The benchmark's CRI pods, run through the project's CRI test client (spec/support/cri-client.ts)
 * in the Kubernetes namespace {@link BENCH_NAMESPACE}, each labelled {@link BENCH_LABEL}; removed
 * again by namespace. Every pod sandbox and every container counts as one alive container.
 *
 * @example
 * const fleet = new CriFleet(testEngines().cri!);
 * await fleet.ensure(50); // 50 pods: 50 sandboxes + 50 containers
 * await fleet.removeAll();
 * await fleet.close();
 */
export class CriFleet {
  readonly cri: CriTestClient;
  private serial = 0;
  private readonly creating = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(readonly socket: string) {
    this.cri = new CriTestClient(socket);
  }

  /** Refuses further pods (on Ctrl-C). */
  stop(): void {
    this.stopped = true;
  }

  /** The benchmark's pods that are ready. */
  async alive(): Promise<string[]> {
    const { items } = await this.cri.client.listPodSandbox({}, { timeoutMs: 30_000 });
    return items
      .filter((p) => p.metadata?.namespace === BENCH_NAMESPACE && p.state === PodSandboxState.SANDBOX_READY)
      .map((p) => p.id);
  }

  /** Runs one pod with the given containers (`sleep 3600`). */
  runPod(containers: readonly string[] = ['app']): Promise<RunningPod> {
    if (this.stopped) return Promise.reject(new Error('the benchmark was interrupted'));
    const n = ++this.serial;
    const p = this.cri.runPod({
      namespace: BENCH_NAMESPACE,
      name: `bench-${process.pid}-${n}`,
      labels: { [BENCH_LABEL]: String(process.pid) },
      containers: containers.map((name) => ({ name })),
    });
    this.creating.add(p);
    void p.finally(() => this.creating.delete(p)).catch(() => undefined);
    return p;
  }

  /** Tops the benchmark's ready pods up to `n` (one container each), 4 at a time. */
  async ensure(n: number): Promise<void> {
    let missing = n - (await this.alive()).length;
    let failures = 0;
    const worker = async () => {
      while (missing > 0) {
        missing--;
        try {
          await this.runPod();
        } catch (err) {
          if (this.stopped || ++failures > 5) throw err;
          missing++;
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /**
   * Creates and starts one more container `name` in a running pod; `created(id)` is called
   * between the two calls, i.e. before the container's STARTED event can exist.
   */
  async startContainer(pod: RunningPod, name: string, created: (id: string) => void = () => undefined): Promise<string> {
    if (this.stopped) throw new Error('the benchmark was interrupted');
    const opts = { timeoutMs: 30_000 };
    const { containerId } = await this.cri.client.createContainer(
      {
        podSandboxId: pod.sandboxId,
        sandboxConfig: sandboxConfig(pod),
        config: {
          metadata: { name, attempt: 0 },
          image: { image: TEST_IMAGE },
          command: ['/bin/sleep', '3600'],
          labels: { [BENCH_LABEL]: String(process.pid) },
        },
      },
      opts,
    );
    created(containerId);
    await this.cri.client.startContainer({ containerId }, opts);
    return containerId;
  }

  /** Stops (SIGKILL) and removes one container. */
  async removeContainer(containerId: string): Promise<void> {
    await this.cri.stopContainer(containerId);
    await this.cri.client.removeContainer({ containerId }, { timeoutMs: 30_000 });
  }

  /**
   * Lets every ended event subscription have its one event (containerd 1.7 serves a cancelled
   * `GetContainerEvents` call until its next event, which it takes from everybody): throwaway
   * pods until a fresh subscriber gets an event. Returns the number of pods it took. After
   * {@link stop}, only with `force` (the cleanup's).
   */
  flush(force = false): Promise<number> {
    // Once stopped (Ctrl-C), only the cleanup flushes, after the benchmark's own calls ended.
    if (this.stopped && !force) return Promise.resolve(0);
    const p = this.cri.flushStaleSubscriptions(BENCH_NAMESPACE);
    this.creating.add(p);
    void p.finally(() => this.creating.delete(p)).catch(() => undefined);
    return p;
  }

  /** Removes every pod of the benchmark's namespace (alive or not) with its containers; returns how many. */
  async removeAll(): Promise<number> {
    await Promise.allSettled([...this.creating]);
    const { items } = await this.cri.client.listPodSandbox({}, { timeoutMs: 30_000 });
    const left = items.filter((p) => p.metadata?.namespace === BENCH_NAMESPACE).map((p) => p.id);
    const count = left.length;
    const worker = async () => {
      for (let id = left.pop(); id; id = left.pop()) await this.cri.removePod(id).catch(() => undefined);
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return count;
  }

  /** Releases the client's connection. */
  close(): Promise<void> {
    return this.cri.close();
  }
}

/** The sandbox configuration `CriTestClient.runPod` ran `pod` with (CreateContainer wants it again). */
function sandboxConfig(pod: RunningPod): PodSandboxConfig {
  return create(PodSandboxConfigSchema, {
    metadata: { name: pod.spec.name, namespace: pod.spec.namespace, uid: pod.uid, attempt: 0 },
    labels: pod.spec.labels ?? {},
    annotations: pod.spec.annotations ?? {},
    linux: {
      securityContext: {
        namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.POD, ipc: NamespaceMode.POD },
      },
    },
  });
}

/** A unix-socket proxy that passes everything through and records what it saw. */
export interface CountingProxy {
  /** The proxy's socket path. */
  readonly path: string;
  /** HTTP/1.1: request lines (`GET /containers/json?… HTTP/1.1`); HTTP/2: one entry per new client stream. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * A counting proxy in front of a unix socket. `http1`: every request line a client sends is
 * recorded (Docker's API). `http2`: every HEADERS frame that opens a new client stream, i.e.
 * every gRPC call (containerd's API), is recorded as `stream <id>`.
 */
export async function countingProxy(target: string, protocol: 'http1' | 'http2'): Promise<CountingProxy> {
  const requests: string[] = [];
  const server = net.createServer((client) => {
    const upstream = connectUpstream(client, socketPath(target));
    const count = protocol === 'http1' ? http1Counter(requests) : http2Counter(requests);
    client.on('data', (b: Buffer) => {
      count(b);
      upstream.write(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    });
    upstream.on('data', (b: Buffer) => client.write(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
  });
  const unix = await listenOnUnixSocket(server, 'bench-proxy');
  return { path: unix.path, requests, close: unix.close };
}

function http1Counter(requests: string[]): (b: Buffer) => void {
  return (b) => {
    for (const line of b.toString('latin1').split('\r\n')) {
      if (/^[A-Z]+ \/\S* HTTP\/1\.[01]$/.test(line)) requests.push(line);
    }
  };
}

const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function http2Counter(requests: string[]): (b: Buffer) => void {
  const PREFACE = 24;
  let buffered = Buffer.alloc(0);
  let prefaceLeft = PREFACE;
  let highest = 0;
  return (b) => {
    buffered = buffered.length ? Buffer.concat([u8(buffered), u8(b)]) : b;
    if (prefaceLeft > 0) {
      const skip = Math.min(prefaceLeft, buffered.length);
      buffered = buffered.subarray(skip);
      prefaceLeft -= skip;
    }
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const type = buffered[3]!;
      const stream = buffered.readUInt32BE(5) & 0x7fffffff;
      if (type === 0x1 && stream % 2 === 1 && stream > highest) {
        highest = stream;
        requests.push(`stream ${stream}`);
      }
      buffered = buffered.subarray(9 + length);
    }
  };
}
