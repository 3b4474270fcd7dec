/**
 * Scriptable fake containerd and CRI runtimes for the hostile-input suites: Connect gRPC routers
 * (connect-node) served over HTTP/2 on unix sockets, so the real adapters, transports and error
 * mapping run against them. Each exposes its data and a hook to break things.
 *
 * @module
 */
import * as http2 from 'node:http2';
import { create } from '@bufbuild/protobuf';
import { anyPack, timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { TaskExitSchema, TaskStartSchema } from '../../protos/gen/containerd/events/task_pb.js';
import { Containers, type Container } from '../../protos/gen/containerd/services/containers/v1/containers_pb.js';
import { EnvelopeSchema, Events, type Envelope } from '../../protos/gen/containerd/services/events/v1/events_pb.js';
import { Introspection } from '../../protos/gen/containerd/services/introspection/v1/introspection_pb.js';
import { Namespaces } from '../../protos/gen/containerd/services/namespaces/v1/namespace_pb.js';
import { Tasks } from '../../protos/gen/containerd/services/tasks/v1/tasks_pb.js';
import { Version } from '../../protos/gen/containerd/services/version/v1/version_pb.js';
import { listenOnUnixSocket } from './unix-socket-server.js';
import { ProcessSchema, type Process, type Status } from '../../protos/gen/containerd/types/task_pb.js';
import { ContainerEventResponseSchema, ContainerSchema, ContainerState, ContainerStatusSchema, PodSandboxSchema, PodSandboxState, PodSandboxStatusSchema, RuntimeService, type ContainerEventResponse } from '../../protos/gen/runtime/v1/api_pb.js';

/** A queue-backed server stream that ends when the call aborts or `fail` is called. */
class StreamHub<T> {
  private readonly listeners = new Set<{ push(m: T): void; fail(e: unknown): void }>();
  get open(): number {
    return this.listeners.size;
  }
  push(m: T): void {
    for (const l of this.listeners) l.push(m);
  }
  /** Ends every open stream with `err` (or normally when undefined). */
  fail(err?: unknown): void {
    for (const l of this.listeners) l.fail(err ?? 'end');
  }
  stream(signal: AbortSignal, filter: (m: T) => boolean = () => true): AsyncIterable<T> {
    const listeners = this.listeners;
    return (async function* () {
      const queue: T[] = [];
      let end: unknown;
      let wake: (() => void) | undefined;
      const me = {
        push: (m: T) => {
          if (!filter(m)) return;
          queue.push(m);
          wake?.();
        },
        fail: (e: unknown) => {
          end = e;
          wake?.();
        },
      };
      listeners.add(me);
      const onAbort = () => wake?.();
      signal.addEventListener('abort', onAbort);
      try {
        for (;;) {
          // By index, not shift(): a burst of 40,000 events would cost O(n²) moves.
          for (let head = 0; head < queue.length; head++) yield queue[head]!;
          queue.length = 0;
          if (end === 'end' || signal.aborted) return;
          if (end !== undefined) throw end;
          await new Promise<void>((r) => (wake = r));
        }
      } finally {
        listeners.delete(me);
        signal.removeEventListener('abort', onAbort);
      }
    })();
  }
}

/** Serves `routes` over HTTP/2 on a fresh unix socket. */
async function serve(name: string, routes: (router: ConnectRouter) => void): Promise<{ socket: string; close(): Promise<void> }> {
  const unix = await listenOnUnixSocket(http2.createServer(connectNodeAdapter({ routes })), `rel-${name}`);
  return { socket: unix.path, close: unix.close };
}

/** containerd's type URLs are bare full names (`containerd.events.TaskStart`). */
export function bareAny<T extends { typeUrl: string }>(any: T): T {
  any.typeUrl = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
  return any;
}

/** What both fake runtimes share: an event hub, and serving their routes on a fresh unix socket. */
abstract class FakeGrpcServer<E> {
  readonly events = new StreamHub<E>();
  socket = '';
  #close: (() => Promise<void>) | undefined;

  protected constructor(private readonly name: string) {}

  abstract routes: (router: ConnectRouter) => void;

  async start(routes: (router: ConnectRouter) => void = this.routes): Promise<this> {
    const s = await serve(this.name, routes);
    this.socket = s.socket;
    this.#close = s.close;
    return this;
  }

  async close(): Promise<void> {
    this.events.fail();
    await this.#close?.();
  }
}

/** A fake containerd (namespace `default` only) with its events, tasks and containers. */
export class FakeContainerdServer extends FakeGrpcServer<Envelope> {
  readonly containers: Container[] = [];
  readonly tasks: Process[] = [];
  /** Container IDs whose lookups (Tasks/Get, Containers/Get) never answer (until the call is cancelled). */
  readonly hang = new Set<string>();

  /** A lookup's answer: never while `id` hangs (until cancelled), NotFound without `found`. */
  async #lookup<T>(id: string, signal: AbortSignal, found: T | undefined): Promise<T> {
    if (this.hang.has(id)) {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new ConnectError('cancelled', Code.Canceled)), { once: true }));
    }
    if (found === undefined) throw new ConnectError('not found', Code.NotFound);
    return found;
  }
  uuid = 'fake-containerd-uuid';

  add(id: string, pid: number, status: Status, labels: Record<string, string> = {}): void {
    this.containers.push({ $typeName: 'containerd.services.containers.v1.Container', id, labels, image: 'busybox' } as Container);
    this.tasks.push(create(ProcessSchema, { containerId: id, id, pid, status }));
  }

  /** Emits an envelope in namespace `default`. */
  emit(topic: string, event: Envelope['event']): void {
    this.events.push(create(EnvelopeSchema, { namespace: 'default', topic, timestamp: timestampNow(), event }));
  }

  /** A TaskExit payload of a container's init process, packed like containerd does. */
  static taskExit(containerId: string, pid: number): Envelope['event'] {
    return bareAny(anyPack(TaskExitSchema, create(TaskExitSchema, { containerId, id: containerId, pid })));
  }

  /** A TaskStart payload, packed like containerd does. */
  static taskStart(containerId: string, pid: number): Envelope['event'] {
    return bareAny(anyPack(TaskStartSchema, create(TaskStartSchema, { containerId, pid })));
  }

  routes = (router: ConnectRouter): void => {
    router.service(Events, {
      publish: (req, ctx) => {
        this.emit(req.topic, req.event);
        void ctx;
        return {};
      },
      subscribe: (req, ctx) => {
        const topics = req.filters.map((f) => JSON.parse(f.slice('topic=='.length)) as string);
        return this.events.stream(ctx.signal, (e) => topics.includes(e.topic));
      },
    });
    router.service(Namespaces, { list: () => ({ namespaces: [{ name: 'default' }] }) });
    router.service(Tasks, {
      list: () => ({ tasks: this.tasks }),
      get: async (req, ctx) => ({
        process: await this.#lookup(req.containerId, ctx.signal, this.tasks.find((t) => t.containerId === req.containerId)),
      }),
    });
    router.service(Containers, {
      list: () => ({ containers: this.containers }),
      get: async (req, ctx) => ({ container: await this.#lookup(req.id, ctx.signal, this.containers.find((c) => c.id === req.id)) }),
    });
    router.service(Introspection, { server: () => ({ uuid: this.uuid, pid: 4242n, pidns: 1n }) });
    router.service(Version, { version: () => ({ version: '1.7.24', revision: 'fake' }) });
  };

  constructor() {
    super('containerd');
  }
}

/** One sandbox or container of the fake CRI runtime. */
export interface FakeCriEntity {
  kind: 'sandbox' | 'container';
  id: string;
  name: string;
  pid: number;
  podId?: string;
  /** Overrides the verbose `info` JSON (e.g. non-JSON text). */
  info?: string;
  /** Overrides the container state enum (e.g. an unknown value). */
  state?: number;
  /** Labels, in lists and statuses (e.g. a huge one, for answer-size bounds). */
  labels?: Record<string, string>;
}

/** A fake CRI runtime: the RuntimeService calls the CRI adapter makes. */
export class FakeCriServer extends FakeGrpcServer<ContainerEventResponse> {
  readonly entities = new Map<string, FakeCriEntity>();
  /** IDs whose status calls never answer (until the call is cancelled). */
  readonly hang = new Set<string>();
  /** Status calls made, as `containerStatus <id>` / `podSandboxStatus <id>`. */
  readonly statusCalls: string[] = [];

  sandbox(id: string, name: string, pid: number, more: Partial<FakeCriEntity> = {}): void {
    this.entities.set(id, { kind: 'sandbox', id, name, pid, ...more });
  }
  container(id: string, podId: string, name: string, pid: number, more: Partial<FakeCriEntity> = {}): void {
    this.entities.set(id, { kind: 'container', id, name, pid, podId, ...more });
  }
  emit(containerId: string, containerEventType: number): void {
    this.events.push(create(ContainerEventResponseSchema, { containerId, containerEventType, createdAt: BigInt(Date.now()) * 1_000_000n }));
  }
  /** Emits an event with the statuses a real runtime sends along (the pod's sandbox, the container). */
  emitWithStatuses(containerId: string, containerEventType: number): void {
    const e = this.entities.get(containerId)!;
    const sandbox = e.kind === 'sandbox' ? e : this.entities.get(e.podId!)!;
    this.events.push(
      create(ContainerEventResponseSchema, {
        containerId,
        containerEventType,
        createdAt: BigInt(Date.now()) * 1_000_000n,
        podSandboxStatus: create(PodSandboxStatusSchema, { id: sandbox.id, metadata: this.#meta(sandbox), state: PodSandboxState.SANDBOX_READY }),
        containersStatuses: e.kind === 'container' ? [create(ContainerStatusSchema, { id: e.id, metadata: { name: e.name } })] : [],
      }),
    );
  }

  #meta(e: FakeCriEntity) {
    return { name: e.name, namespace: 'ns', uid: `uid-${e.id}` };
  }
  #info(e: FakeCriEntity): Record<string, string> {
    return { info: e.info ?? JSON.stringify({ pid: e.pid, ...(e.podId ? { sandboxID: e.podId } : {}) }) };
  }

  routes = (router: ConnectRouter): void => {
    const find = (id: string, kind: FakeCriEntity['kind']) => {
      const e = this.entities.get(id);
      if (!e || e.kind !== kind) throw new ConnectError(`${id} not found`, Code.NotFound);
      return e;
    };
    const hanging = (id: string, signal: AbortSignal): Promise<void> =>
      this.hang.has(id)
        ? new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(new ConnectError('cancelled', Code.Canceled)), { once: true }))
        : Promise.resolve();
    router.service(RuntimeService, {
      version: () => ({ version: '0.1.0', runtimeName: 'fakerd', runtimeVersion: '1.0', runtimeApiVersion: 'v1' }),
      listPodSandbox: () => ({
        items: [...this.entities.values()]
          .filter((e) => e.kind === 'sandbox')
          .map((e) => create(PodSandboxSchema, { id: e.id, metadata: this.#meta(e), state: PodSandboxState.SANDBOX_READY, labels: e.labels ?? {} })),
      }),
      listContainers: () => ({
        containers: [...this.entities.values()]
          .filter((e) => e.kind === 'container')
          .map((e) =>
            create(ContainerSchema, {
              id: e.id,
              podSandboxId: e.podId!,
              metadata: { name: e.name },
              state: (e.state ?? ContainerState.CONTAINER_RUNNING) as ContainerState,
              labels: e.labels ?? {},
            }),
          ),
      }),
      podSandboxStatus: async (req, ctx) => {
        this.statusCalls.push(`podSandboxStatus ${req.podSandboxId}`);
        await hanging(req.podSandboxId, ctx.signal);
        const e = find(req.podSandboxId, 'sandbox');
        return {
          status: create(PodSandboxStatusSchema, { id: e.id, metadata: this.#meta(e), state: PodSandboxState.SANDBOX_READY, labels: e.labels ?? {} }),
          info: req.verbose ? this.#info(e) : {},
        };
      },
      containerStatus: async (req, ctx) => {
        this.statusCalls.push(`containerStatus ${req.containerId}`);
        await hanging(req.containerId, ctx.signal);
        const e = find(req.containerId, 'container');
        return {
          status: create(ContainerStatusSchema, {
            id: e.id,
            metadata: { name: e.name },
            state: (e.state ?? ContainerState.CONTAINER_RUNNING) as ContainerState,
            labels: e.labels ?? {},
          }),
          info: req.verbose ? this.#info(e) : {},
        };
      },
      getContainerEvents: (_req, ctx) => this.events.stream(ctx.signal),
    });
  };

  constructor() {
    super('cri');
  }
}

/**
 * A gRPC server that answers every call with a length prefix announcing a message of `claimed`
 * bytes, then sends zeros for as long as the client reads them. `written()` tells how many bytes
 * of the message it got to send before the client gave up: a client that bounds answers stops
 * at the length prefix instead of buffering the message.
 */
export async function oversizedGrpcServer(
  claimed = 0xffff_fff0,
): Promise<{ socket: string; written(): number; close(): Promise<void> }> {
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024);
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {}); // the client resets the stream: expected
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(claimed, 1);
    stream.write(prefix);
    const pump = () => {
      while (!stream.destroyed && !stream.closed && written < claimed) {
        written += chunk.length;
        if (!stream.write(chunk)) return; // flow control: wait for the client to read
      }
    };
    stream.on('drain', pump);
    pump();
  });
  const unix = await listenOnUnixSocket(server, 'rel-oversized');
  return { socket: unix.path, written: () => written, close: unix.close };
}

/** Serves an empty gRPC router (no services at all: every call is UNIMPLEMENTED). */
export async function emptyGrpcServer(): Promise<{ socket: string; close(): Promise<void> }> {
  return serve('empty', () => undefined);
}
