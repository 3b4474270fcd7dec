import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { Observable, asyncScheduler, catchError, defer, interval, map, throwError, type OperatorFunction } from 'rxjs';
import type { ContainerDetails, ContainerList, ContainerSummary, EngineAdapter, EngineEvent, EngineInfo, Inspection, SkippedContainer } from '../../lib/adapter.js';
import { WrongEngineError } from '../../lib/errors.js';
import {
  ContainerEventType,
  ContainerState,
  PodSandboxState,
  RuntimeService,
  type ContainerEventResponse,
  type PodSandboxMetadata,
} from '../../protos/gen/runtime/v1/api_pb.js';
import { abortOnNextTurn, createUnixGrpcTransport, fromCall, fromServerStream, grpcEngineError, notFoundAsUndefined, unixSocketPath } from '../grpc.js';
import { LookupHints, type LookupHint } from './hints.js';
import { containerDetails, parseVerboseInfo, sandboxDetails } from './labels.js';
import type { CriWatchOptions } from './options.js';

/**
 * Engine type of CRI runtimes.
 *
 * @example
 * if (watcher.type === CRI_ENGINE_TYPE) console.log('a Kubernetes node runtime');
 */
export const CRI_ENGINE_TYPE = 'k8s.io/cri-api';

/** The CRI API version this client speaks, as sent in `Version`. */
const CRI_CLIENT_API_VERSION = '0.1.0';

/**
 * A Connect client of the CRI `runtime.v1.RuntimeService`.
 *
 * @example
 * const client: CriRuntimeClient = createClient(RuntimeService, transport);
 */
export type CriRuntimeClient = Client<typeof RuntimeService>;

/**
 * Creates the CRI engine adapter for the runtime at a unix socket (`/path` or `unix:///path`),
 * for use with the core's `watch()`. Opens nothing until its first call.
 *
 * - `events()`: `GetContainerEvents`, translated without any call of its own: a STARTED becomes
 *   `started` without details at once (the core inspects it), remembering what the event tells
 *   (sandbox or container, and the pod) so that the inspection costs one status call.
 * - `list()`: `ListPodSandbox` + `ListContainers` and nothing else; what the adapter inspected
 *   before comes with details, the others without (the core inspects them, one status call each).
 * - `inspect(id)`: one verbose `PodSandboxStatus` or `ContainerStatus` when a STARTED or a list
 *   told which one it is; else `ContainerStatus` (plus the pod's status), then `PodSandboxStatus`.
 *
 * Answers are bounded by `maxResponseBytes` (an answer over it is a `ProtocolError` naming the
 * call and the limit); the watch pipeline bounds the calls' time.
 *
 * @example
 * const w = watch(createCriAdapter('/run/containerd/containerd.sock'), options);
 */
export function createCriAdapter(socket: string, options: CriWatchOptions = {}): EngineAdapter {
  const { maxResponseBytes } = options;
  const { transport, close } = createUnixGrpcTransport(unixSocketPath(socket), { maxResponseBytes });
  return criAdapter(createClient(RuntimeService, transport), socket, options, close);
}

/**
 * The CRI adapter over a given RuntimeService client (unit tests pass a fake); `release` frees
 * the client's connection on `close()`. Answer sizes are the client's transport's to bound
 * ({@link createCriAdapter} passes `maxResponseBytes` to it).
 *
 * @example
 * const adapter = criAdapter(fakeClient, '/fake.sock', {}, () => {});
 */
export function criAdapter(
  client: CriRuntimeClient,
  api: string,
  options: CriWatchOptions,
  release: () => void | Promise<void>,
): EngineAdapter {
  const type = options.type ?? CRI_ENGINE_TYPE;
  const pollInterval = options.pollInterval ?? 2_000;
  const scheduler = options.scheduler ?? asyncScheduler;
  /**
   * Details of the alive sandboxes and containers this adapter has fetched, by ID. CRI never
   * restarts a container or sandbox under the same ID and its labels, annotations and metadata are
   * immutable, so they and the PID stay valid while the ID is alive: a list hands them out with
   * its summaries, and the core inspects only the newcomers. Pruned on every list and `died`.
   */
  const known = new Map<string, ContainerDetails>();
  /** Sandbox or container, and its pod, of IDs about to be inspected (see {@link LookupHints}). */
  const hints = new LookupHints();
  let fallbackNoticed = false;
  let closed = false;

  const mapError = <T>(): OperatorFunction<T, T> =>
    catchError((err: unknown) => throwError(() => grpcEngineError(err, api, type)));
  const call = (signal: AbortSignal) => ({ signal });

  /** A running container or ready sandbox without a readable PID: not alive, skipped. */
  const unreadable = (id: string, what: string, problem = 'no PID'): SkippedContainer => ({
    skipped: 'unreadable-status',
    id,
    message: `the CRI ${what} is alive by its state, but ${problem}`,
  });

  /** Verbose status of a container: undefined if there is none, null if not alive. */
  async function containerById(
    id: string,
    signal: AbortSignal,
    pod?: PodSandboxMetadata,
  ): Promise<Inspection | undefined> {
    const answer = await notFoundAsUndefined(client.containerStatus({ containerId: id, verbose: true }, call(signal)));
    const status = answer?.status;
    if (!answer || !status || status.id !== id) return undefined;
    const { pid, sandboxId, problem } = parseVerboseInfo(answer.info);
    if (status.state !== ContainerState.CONTAINER_RUNNING || pid === 0) {
      known.delete(id);
      return status.state === ContainerState.CONTAINER_RUNNING ? unreadable(id, 'container', problem) : null;
    }
    if (!pod) {
      const podId =
        sandboxId ??
        (await client.listContainers({ filter: { id } }, call(signal))).containers.find((c) => c.id === id)?.podSandboxId;
      if (podId) {
        pod = (await notFoundAsUndefined(client.podSandboxStatus({ podSandboxId: podId }, call(signal))))?.status
          ?.metadata;
      }
    }
    const details = containerDetails(status, pod, pid);
    known.set(id, details);
    return details;
  }

  /** Verbose status of a pod sandbox: undefined if there is none, null if not alive. */
  async function sandboxById(id: string, signal: AbortSignal): Promise<Inspection | undefined> {
    const answer = await notFoundAsUndefined(client.podSandboxStatus({ podSandboxId: id, verbose: true }, call(signal)));
    const status = answer?.status;
    if (!answer || !status || status.id !== id) return undefined;
    const { pid, problem } = parseVerboseInfo(answer.info);
    if (status.state !== PodSandboxState.SANDBOX_READY || pid === 0) {
      known.delete(id);
      return status.state === PodSandboxState.SANDBOX_READY ? unreadable(id, 'pod sandbox', problem) : null;
    }
    const details = sandboxDetails(status, pid);
    known.set(id, details);
    return details;
  }

  /**
   * What a STARTED event tells of its ID: a pod sandbox when the event's sandbox status is its
   * own, a container of that pod when one of the event's container statuses is its own.
   */
  function hintOf(event: ContainerEventResponse): LookupHint | undefined {
    const id = event.containerId;
    const sandbox = event.podSandboxStatus;
    if (sandbox?.id === id) return { sandbox: true };
    if (event.containersStatuses.some((s) => s.id === id)) return { sandbox: false, pod: sandbox?.metadata };
    return undefined;
  }

  /**
   * One runtime event as the core's event, or nothing; `since` is the subscription's start in ns.
   * Makes no call: whatever a lookup costs is the core's to schedule.
   */
  function translate(event: ContainerEventResponse, since: bigint): EngineEvent | undefined {
    const id = event.containerId;
    const at = new Date(Number(event.createdAt / 1_000_000n));
    if (event.createdAt < since) {
      return {
        type: 'diagnostic',
        code: 'stale-event',
        id,
        message: `dropped ${ContainerEventType[event.containerEventType] ?? event.containerEventType} of ${id} from ${at.toISOString()}: it predates this subscription (buffered by the runtime while nobody listened)`,
      };
    }
    switch (event.containerEventType) {
      case ContainerEventType.CONTAINER_STARTED_EVENT: {
        known.delete(id); // a new lifetime: never served from the cache
        const hint = hintOf(event);
        if (hint) hints.set(id, hint);
        else hints.delete(id);
        return { type: 'started', id, at };
      }
      case ContainerEventType.CONTAINER_STOPPED_EVENT:
        known.delete(id);
        hints.delete(id);
        return { type: 'died', id, at };
      case ContainerEventType.CONTAINER_CREATED_EVENT:
        return undefined;
      case ContainerEventType.CONTAINER_DELETED_EVENT:
        hints.delete(id);
        return undefined;
      default:
        return {
          type: 'diagnostic',
          code: 'unknown-event',
          id,
          message: `ignored CRI container event type ${String(event.containerEventType)} of ${id}`,
        };
    }
  }

  /** A listed ID: with the details inspected before, else bare, remembering `hint` for its inspection. */
  function summary(id: string, hint: LookupHint): ContainerSummary {
    const details = known.get(id);
    if (details) return { id, paused: false, details };
    hints.set(id, hint);
    return { id, paused: false };
  }

  return {
    type,
    api,

    events(): Observable<EngineEvent> {
      const runtimeEvents = new Observable<EngineEvent>((subscriber) => {
        const since = BigInt(Date.now()) * 1_000_000n;
        const abort = new AbortController();
        let live = false;
        const goLive = () => {
          if (!live && !subscriber.closed) {
            live = true;
            subscriber.next({ type: 'live' });
          }
        };
        const fail = (err: unknown) => subscriber.error(grpcEngineError(err, api, type));

        // A server stream may send no headers before its first event. The runtime buffers events
        // in its one channel from the moment they happen, so the stream is live once the runtime
        // has seen the call: a Version answer after the call was sent proves that.
        const probe = client.version({ version: CRI_CLIENT_API_VERSION }, call(abort.signal));
        probe.then(goLive, () => {});

        const fallBack = () => {
          if (options.events === 'required') {
            subscriber.error(
              new WrongEngineError(
                api,
                `${CRI_ENGINE_TYPE} with container events`,
                'a CRI runtime without GetContainerEvents (UNIMPLEMENTED): containerd needs 1.7 or later, ' +
                  'cri-o needs `enable_pod_events = true` in its [crio.runtime] configuration',
              ),
            );
            return;
          }
          goLive();
          if (!fallbackNoticed) {
            fallbackNoticed = true;
            subscriber.next({
              type: 'diagnostic',
              code: 'no-events-fallback',
              message:
                `the CRI runtime at ${api} does not stream container events (GetContainerEvents is UNIMPLEMENTED; ` +
                `cri-o needs enable_pod_events = true): polling its container list every ${pollInterval} ms instead`,
            });
          }
          subscriber.add(interval(pollInterval, scheduler).subscribe(() => subscriber.next({ type: 'resync' })));
        };

        const stream = fromServerStream((signal) => client.getContainerEvents({}, { signal, onHeader: goLive }));
        const subscription = stream.subscribe({
          next: (message) => {
            const event = translate(message, since);
            if (event) subscriber.next(event);
          },
          error: (err: unknown) => {
            if (err instanceof ConnectError && err.code === Code.Unimplemented) {
              probe.then(fallBack, fail); // a runtime without events, unless it is no CRI runtime at all
            } else {
              fail(err);
            }
          },
          complete: () => fail(new ConnectError('the runtime ended the event stream', Code.Unavailable)),
        });
        return () => {
          abortOnNextTurn(abort);
          subscription.unsubscribe();
        };
      });
      return runtimeEvents;
    },

    list(): Observable<ContainerList> {
      return defer(() => {
        const mark = hints.mark();
        return fromCall((signal) =>
          Promise.all([
            client.listPodSandbox({}, call(signal)),
            client.listContainers({ filter: { state: { state: ContainerState.CONTAINER_RUNNING } } }, call(signal)),
          ]),
        ).pipe(
          map(([pods, containers]): ContainerList => {
            const ready = pods.items.filter((p) => p.state === PodSandboxState.SANDBOX_READY);
            const running = containers.containers.filter((c) => c.state === ContainerState.CONTAINER_RUNNING);
            const alive = new Set([...ready.map((p) => p.id), ...running.map((c) => c.id)]);
            for (const id of known.keys()) if (!alive.has(id)) known.delete(id);
            hints.prune(alive, mark); // a STARTED during the list keeps its hint
            const metadata = new Map(pods.items.map((p) => [p.id, p.metadata]));
            const summaries = [
              ...ready.map((p) => summary(p.id, { sandbox: true })),
              ...running.map((c) => summary(c.id, { sandbox: false, pod: metadata.get(c.podSandboxId) })),
            ];
            return { containers: summaries, skipped: [] };
          }),
          mapError(),
        );
      });
    },

    inspect(id: string): Observable<Inspection> {
      return defer(() => {
        const hint = hints.take(id);
        return fromCall(async (signal) => {
          if (hint?.sandbox) return (await sandboxById(id, signal)) ?? null;
          if (hint) return (await containerById(id, signal, hint.pod)) ?? null;
          const container = await containerById(id, signal);
          if (container !== undefined) return container;
          return (await sandboxById(id, signal)) ?? null;
        });
      }).pipe(mapError());
    },

    info(): Observable<EngineInfo> {
      return fromCall(async (signal): Promise<EngineInfo> => {
        const v = await client.version({ version: CRI_CLIENT_API_VERSION }, call(signal));
        const pid = options.pid ?? 0;
        return {
          id: await engineHostname(pid),
          version: `${v.runtimeName} ${v.runtimeVersion} (CRI ${v.runtimeApiVersion})`,
          type,
          ...(pid > 0 ? { pid } : {}),
        };
      }).pipe(mapError());
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      known.clear();
      hints.clear();
      await release();
    },
  };
}

/** The engine host's name: its `/etc/hostname` seen through `/proc/<pid>/root`, else this host's. */
async function engineHostname(pid: number): Promise<string> {
  if (pid > 0) {
    try {
      const name = (await readFile(`/proc/${pid}/root/etc/hostname`, 'utf8')).trim();
      if (name) return name;
    } catch {
      // not readable (no permission, engine gone): fall back to this host's name
    }
  }
  return os.hostname();
}
