/**
 * The containerd engine adapter: containerd's native gRPC API over its unix socket.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { createClient, type CallOptions, type Client } from '@connectrpc/connect';
import { catchError, defer, mergeMap, Observable, of, repeat, Subscription, throwError, timer } from 'rxjs';
import type { ContainerDetails, ContainerList, EngineAdapter, EngineEvent, EngineInfo, Inspection, SkippedContainer } from '../../lib/adapter.js';
import { EngineUnreachableError, ProtocolError } from '../../lib/errors.js';
import { MAX_PID } from '../../lib/reducer.js';
import { Containers, type Container } from '../../protos/gen/containerd/services/containers/v1/containers_pb.js';
import { Events } from '../../protos/gen/containerd/services/events/v1/events_pb.js';
import { Introspection } from '../../protos/gen/containerd/services/introspection/v1/introspection_pb.js';
import { Namespaces } from '../../protos/gen/containerd/services/namespaces/v1/namespace_pb.js';
import { Tasks } from '../../protos/gen/containerd/services/tasks/v1/tasks_pb.js';
import { Version } from '../../protos/gen/containerd/services/version/v1/version_pb.js';
import { ProcessSchema, Status, type Process } from '../../protos/gen/containerd/types/task_pb.js';
import { LookupHints } from '../hints.js';
import { createUnixGrpcTransport, fromCall, fromServerStream, grpcEngineError, notFoundAsUndefined, unixSocketPath } from '../grpc.js';
import { envelopeEvent, EVENT_TOPICS, topicFilters } from './events.js';
import { containerName, DEFAULT_NAMESPACE, namespaceFilter, qualify, unqualify } from './names.js';
import type { ContainerdOptions } from './options.js';

/**
 * containerd's default API socket.
 *
 * @example
 * containerdWatcher(DEFAULT_CONTAINERD_SOCKET); // the same as containerdWatcher()
 */
export const DEFAULT_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

/**
 * The engine type of containerd watchers.
 *
 * @example
 * if (w.type === CONTAINERD_TYPE) console.log('plain containerd');
 */
export const CONTAINERD_TYPE = 'containerd.io';

/**
 * What a containerd container's `raw` details (and so the `rucksack` option) get: the namespace,
 * the container record and its task (init process). After a `/tasks/start` the task is what the
 * event told (container ID, PID, status `RUNNING`), not an answer of `Tasks/Get`.
 *
 * @example
 * containerdWatcher(undefined, { rucksack: (d) => (d.raw as ContainerdRaw).container.image });
 */
export interface ContainerdRaw {
  readonly namespace: string;
  readonly container: Container;
  readonly task: Process;
}

/**
 * Creates the containerd {@link EngineAdapter}; {@link containerdWatcher} wraps it in a watcher.
 * Exported for tests and for composing custom watchers.
 *
 * - `events()`: ONE `Events/Subscribe` across namespaces, proven live by publishing a marker event
 *   (`/whalewatcher/marker/<random>`) and waiting to see it on the subscription.
 * - `list()`: `Namespaces/List`, then per watched namespace `Tasks/List` and, if any task is alive,
 *   `Containers/List`; summaries carry full details, so the core needs no inspections. The
 *   namespaces of a `namespaces` allow-list are listed at once, beside `Namespaces/List`.
 * - `inspect(id)`: `Containers/Get` + `Tasks/Get`; only `Containers/Get` when the container's
 *   `/tasks/start` told its PID (a {@link LookupHints} entry, taken by that inspection; forgotten
 *   on its exit or pause, and by a list that no longer shows it).
 * - `info()`: `Introspection/Server` + `Version/Version`.
 *
 * Answers are bounded by `maxResponseBytes` (an answer over it is a `ProtocolError` naming the
 * call and the limit); the watch pipeline bounds the calls' time.
 *
 * @example
 * const adapter = createContainerdAdapter('/run/containerd/containerd.sock', { namespaces: ['default'] });
 * const containers = await firstValueFrom(adapter.list());
 * await adapter.close();
 */
export function createContainerdAdapter(
  socket: string = DEFAULT_CONTAINERD_SOCKET,
  options: ContainerdOptions = {},
): EngineAdapter {
  const grpc = createUnixGrpcTransport(unixSocketPath(socket), { maxResponseBytes: options.maxResponseBytes });
  const t = grpc.transport;
  const clients: ContainerdClients = {
    events: createClient(Events, t),
    namespaces: createClient(Namespaces, t),
    containers: createClient(Containers, t),
    tasks: createClient(Tasks, t),
    introspection: createClient(Introspection, t),
    version: createClient(Version, t),
  };
  return containerdAdapter(clients, socket, options, () => grpc.close());
}

/**
 * Connect clients of the containerd services the adapter calls.
 *
 * @example
 * const clients: ContainerdClients = { events: createClient(Events, transport), ... };
 */
export interface ContainerdClients {
  readonly events: Client<typeof Events>;
  readonly namespaces: Client<typeof Namespaces>;
  readonly containers: Client<typeof Containers>;
  readonly tasks: Client<typeof Tasks>;
  readonly introspection: Client<typeof Introspection>;
  readonly version: Client<typeof Version>;
}

/**
 * The containerd adapter over given service clients (unit tests pass fakes); `release` frees
 * their connection on `close()`.
 *
 * @example
 * const adapter = containerdAdapter(clients, '/fake.sock', {}, () => {});
 */
export function containerdAdapter(
  clients: ContainerdClients,
  api: string,
  options: ContainerdOptions,
  release: () => void | Promise<void>,
): EngineAdapter {
  const { events, namespaces, containers, tasks, introspection, version } = clients;
  const watched = namespaceFilter(options);
  /** The allow-listed namespaces that are watched: listed without waiting for `Namespaces/List`. */
  const allowList = [...new Set(options.namespaces ?? [])].filter(watched);
  /** PIDs that `/tasks/start` events told, by watcher ID, for the inspections they cause. */
  const pids = new LookupHints<number>();

  const engineErrors = <T>(source: Observable<T>): Observable<T> =>
    source.pipe(catchError((err: unknown) => throwError(() => grpcEngineError(err, api, CONTAINERD_TYPE))));
  const unary = (signal: AbortSignal, namespace?: string): CallOptions => ({
    signal,
    ...(namespace !== undefined && { headers: { 'containerd-namespace': namespace } }),
  });

  async function listNamespace(namespace: string, signal: AbortSignal): Promise<ContainerList> {
    const alive: Process[] = [];
    const skipped: SkippedContainer[] = [];
    for (const task of (await tasks.list({}, unary(signal, namespace))).tasks) {
      const skip = unreadableTask(namespace, task);
      if (skip) skipped.push(skip);
      else if (ALIVE_STATUSES.has(task.status)) alive.push(task);
    }
    if (alive.length === 0) return { containers: [], skipped };
    const records = (await containers.list({}, unary(signal, namespace))).containers;
    const byId = new Map(records.map((container) => [container.id, container]));
    const summaries = alive.flatMap((task) => {
      const container = byId.get(task.containerId || task.id);
      if (!container) return []; // deleted between the two calls: gone anyway
      const details = containerDetails(namespace, container, task);
      return [{ id: details.id, paused: details.paused, details }];
    });
    return { containers: summaries, skipped };
  }

  /** An inspection without a hint: the container record and its task. */
  async function inspectById(id: string, signal: AbortSignal): Promise<Inspection> {
    const { namespace, id: containerId } = unqualify(id);
    if (!watched(namespace)) return null;
    const [container, task] = await Promise.all([
      notFoundAsUndefined(containers.get({ id: containerId }, unary(signal, namespace))).then((r) => r?.container),
      notFoundAsUndefined(tasks.get({ containerId }, unary(signal, namespace))).then((r) => r?.process),
    ]);
    if (!container || !task) return null;
    const skip = unreadableTask(namespace, task);
    if (skip) return skip;
    return ALIVE_STATUSES.has(task.status) ? containerDetails(namespace, container, task) : null;
  }

  /**
   * An inspection after a `/tasks/start` that told the PID: the container record only, the task
   * as the event told it. Should the task have exited or paused meanwhile, its event follows the
   * start on the stream and the core lets it win over this answer.
   */
  async function inspectStarted(id: string, pid: number, signal: AbortSignal): Promise<Inspection> {
    const { namespace, id: containerId } = unqualify(id);
    const answer = await notFoundAsUndefined(containers.get({ id: containerId }, unary(signal, namespace)));
    if (!answer?.container) return null;
    const task = create(ProcessSchema, { containerId, id: containerId, pid, status: Status.RUNNING });
    return containerDetails(namespace, answer.container, task);
  }

  return {
    type: CONTAINERD_TYPE,
    api,

    events(): Observable<EngineEvent> {
      return engineErrors(
        new Observable<EngineEvent>((subscriber) => {
          pids.clear(); // a new subscription: exits may have gone unseen since the hints were given
          const marker = `/whalewatcher/marker/${randomBytes(8).toString('hex')}`;
          const filters = topicFilters([...EVENT_TOPICS, marker]);
          let live = false;
          const subscription = new Subscription();
          const proving = new Subscription();
          subscription.add(proving);
          subscription.add(
            fromServerStream((signal) => events.subscribe({ filters }, { signal })).subscribe({
              next: (envelope) => {
                if (envelope.topic === marker) {
                  if (!live) {
                    live = true;
                    proving.unsubscribe();
                    subscriber.next({ type: 'live' });
                  }
                  return;
                }
                if (!live) return; // happened before the subscription was proven: the next list covers it
                const event = envelopeEvent(envelope, watched, pids);
                if (event) subscriber.next(event);
              },
              error: (err: unknown) => subscriber.error(err),
              complete: () => subscriber.error(new EngineUnreachableError(api, 'the event stream ended')),
            }),
          );
          // Publish the marker until it shows up: a server stream says nothing before its first
          // event, so seeing our own marker is the proof that the subscription is in place. The
          // first marker often goes out before containerd has registered the subscription, and a
          // publish takes 2 to 6 ms to answer on a busy host: waiting for each answer before the
          // next one made up most of the wait for live. So markers go out on a clock of their own,
          // answered or not: every millisecond at first, then ever more rarely (at most every
          // second, so a hung engine sees a few dozen before the core gives up on live).
          proving.add(
            markerClock()
              .pipe(
                mergeMap(() =>
                  fromCall((signal) => events.publish({ topic: marker, event: MARKER_PAYLOAD }, unary(signal, DEFAULT_NAMESPACE))),
                ),
              )
              .subscribe({ error: (err: unknown) => subscriber.error(err) }),
          );
          return subscription;
        }),
      );
    },

    list(): Observable<ContainerList> {
      return engineErrors(
        fromCall(async (signal) => {
          const mark = pids.mark();
          // With an allow-list, its namespaces are listed beside Namespaces/List rather than after
          // it; the answers of those that do not exist (empty, or failed) are dropped.
          const early = new Map(allowList.map((namespace) => [namespace, listNamespace(namespace, signal)] as const));
          for (const answer of early.values()) answer.catch(() => undefined);
          const listed = (await namespaces.list({}, unary(signal))).namespaces;
          const names = listed.map((namespace) => namespace.name).filter(watched);
          const answers = await Promise.all(names.map((namespace) => early.get(namespace) ?? listNamespace(namespace, signal)));
          const alive = answers.flatMap((a) => a.containers);
          pids.prune(new Set(alive.map((summary) => summary.id)), mark); // a start during the list keeps its PID
          return { containers: alive, skipped: answers.flatMap((a) => a.skipped) };
        }),
      );
    },

    inspect(id: string): Observable<Inspection> {
      return engineErrors(
        defer(() => {
          const pid = pids.take(id);
          return fromCall((signal) => (pid === undefined ? inspectById(id, signal) : inspectStarted(id, pid, signal)));
        }),
      );
    },

    info(): Observable<EngineInfo> {
      return engineErrors(
        fromCall(async (signal) => {
          const [server, engine] = await Promise.all([
            introspection.server({}, unary(signal)),
            version.version({}, unary(signal)),
          ]);
          if (!server.uuid) throw new ProtocolError(api, 'ServerResponse.uuid', 'empty');
          const pid = Number(server.pid);
          return {
            id: server.uuid,
            version: ['containerd', engine.version, engine.revision].filter(Boolean).join(' '),
            type: CONTAINERD_TYPE,
            ...(pid > 0 && { pid }),
          };
        }),
      );
    },

    async close(): Promise<void> {
      pids.clear();
      await release();
    },
  };
}

/**
 * When the markers go out: at once (beside the subscription call), then a millisecond apart for
 * the next {@link MARKER_BURST}, then 2, 4, 8 ms and so on apart, at most a second.
 */
function markerClock(): Observable<unknown> {
  return of(0).pipe(repeat({ delay: (count) => timer(count < MARKER_BURST ? 1 : Math.min(1000, 2 ** (count - MARKER_BURST + 1))) }));
}

/** How many markers go out a millisecond apart before the pace slows down. */
const MARKER_BURST = 8;

/** The marker's payload: an empty message (the random topic is what identifies it). */
const MARKER_PAYLOAD = { $typeName: 'google.protobuf.Any', typeUrl: 'google.protobuf.Empty', value: new Uint8Array() } as const;

/** The task states of an alive container: its init process runs or is (being) paused. */
const ALIVE_STATUSES: ReadonlySet<Status> = new Set([Status.RUNNING, Status.PAUSED, Status.PAUSING]);

/**
 * Why a task cannot be read, or `undefined` when it can: a status this client does not know, or
 * an alive one without a PID or with one past Linux's maximum.
 */
function unreadableTask(namespace: string, task: Process): SkippedContainer | undefined {
  const id = qualify(namespace, task.containerId || task.id);
  const state = Status[task.status];
  if (state === undefined) {
    return { skipped: 'unknown-status', id, message: `containerd reports task status ${task.status}, a value this client does not know` };
  }
  if (!ALIVE_STATUSES.has(task.status)) return undefined;
  if (task.pid > MAX_PID) {
    return { skipped: 'unreadable-pid', id, message: `containerd reports its task ${state} with PID ${task.pid}, outside Linux's range 1..${MAX_PID}` };
  }
  return task.pid > 0 ? undefined : { skipped: 'no-pid', id, message: `containerd reports its task ${state} without a PID` };
}

function containerDetails(namespace: string, container: Container, task: Process): ContainerDetails {
  const labels = { ...container.labels };
  const raw: ContainerdRaw = { namespace, container, task };
  return {
    id: qualify(namespace, container.id),
    name: containerName(namespace, container.id, labels),
    labels,
    pid: task.pid,
    paused: task.status === Status.PAUSED || task.status === Status.PAUSING,
    raw,
  };
}
