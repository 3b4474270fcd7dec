/**
 * Section 8: containerd. The initial sync of M alive tasks in the benchmark's namespace by
 * `containerdWatcher`, from the `ready()` call to its resolution, next to a hand-written client
 * making the same gRPC calls one after the other (`Namespaces/List`, then `Tasks/List` and
 * `Containers/List` per watched namespace, joined into a Map); and the event latency: a task is
 * started with `ctr`, the reference time is the arrival of its raw `TaskStart` on an
 * `Events/Subscribe` stream of its own, and measured from there is when the watcher's
 * `portfolio$` first holds the container and when a hand-written "subscribe, `Containers/Get`,
 * update a Map" loop in the same process has it.
 *
 * @module
 */
import { fromBinary } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { containerdWatcher, createContainerdAdapter } from '../../engines/containerd/index.js';
import { createUnixGrpcTransport, unixSocketPath } from '../../engines/grpc.js';
import { TaskExitSchema, TaskStartSchema } from '../../protos/gen/containerd/events/task_pb.js';
import { Containers } from '../../protos/gen/containerd/services/containers/v1/containers_pb.js';
import { Events } from '../../protos/gen/containerd/services/events/v1/events_pb.js';
import { Namespaces } from '../../protos/gen/containerd/services/namespaces/v1/namespace_pb.js';
import { Tasks } from '../../protos/gen/containerd/services/tasks/v1/tasks_pb.js';
import { Status } from '../../protos/gen/containerd/types/task_pb.js';
import { BENCH_NAMESPACE, type CtrFleet } from './engines.js';
import { type Row, atMost, median, now, percentile, say, sleep } from './report.js';
import { forgotten, stampArrivals, stamped } from './latency.js';
import { measure, phaseRow, syncPhasesMedian, timedReady } from './sync.js';

/**
 * Options of {@link benchContainerdSync}.
 *
 * @example
 * const o: ContainerdSyncOptions = { socket: '/run/containerd/containerd.sock', repetitions: 3 };
 */
export interface ContainerdSyncOptions {
  readonly socket: string;
  readonly repetitions: number;
}

/**
 * Options of {@link benchContainerdLatency}.
 *
 * @example
 * const o: ContainerdLatencyOptions = { socket, fleet: new CtrFleet(socket), samples: 15 };
 */
export interface ContainerdLatencyOptions {
  readonly socket: string;
  readonly fleet: CtrFleet;
  readonly samples: number;
}

const NS_HEADER = 'containerd-namespace';
const watched = (namespace: string) => namespace === BENCH_NAMESPACE;

interface Listed {
  readonly labels: Record<string, string>;
  readonly pid: number;
}

/** The hand-written client: the adapter's three gRPC calls, one after the other, into a Map. */
async function handWritten(socket: string): Promise<{ ms: number; n: number }> {
  const grpc = createUnixGrpcTransport(unixSocketPath(socket));
  try {
    const namespaces = createClient(Namespaces, grpc.transport);
    const tasks = createClient(Tasks, grpc.transport);
    const containers = createClient(Containers, grpc.transport);
    const t = now();
    const seen = new Map<string, Listed>();
    for (const { name } of (await namespaces.list({})).namespaces) {
      if (!watched(name)) continue;
      const headers = { [NS_HEADER]: name };
      const alive = (await tasks.list({}, { headers })).tasks.filter((task) => task.pid > 0 && (task.status === Status.RUNNING || task.status === Status.PAUSED));
      const records = new Map((await containers.list({}, { headers })).containers.map((c) => [c.id, c]));
      for (const task of alive) {
        const c = records.get(task.containerId || task.id);
        if (c) seen.set(`${name}/${c.id}`, { labels: { ...c.labels }, pid: task.pid });
      }
    }
    return { ms: now() - t, n: seen.size };
  } finally {
    await grpc.close();
  }
}

const watcher = (socket: string) => timedReady(containerdWatcher(socket, { namespaces: [BENCH_NAMESPACE], resyncInterval: 0 }));

/**
 * Section 8, initial sync: `containerdWatcher` (namespace {@link BENCH_NAMESPACE}) against the
 * hand-written client, medians of `repetitions` alternating runs after one untimed round, plus
 * `repetitions` instrumented watcher syncs (medians of when identity, live events and the list
 * were there).
 *
 * @example
 * rows.push(...(await benchContainerdSync({ socket, repetitions: 7 })));
 */
export async function benchContainerdSync(o: ContainerdSyncOptions): Promise<Row[]> {
  say(`containerd sync: ${o.repetitions} repetitions of the hand-written client and the watcher`);
  const contenders = [
    ['handWritten', handWritten],
    ['watcher', watcher],
  ] as const;
  const { runs, counts } = await measure(o.socket, o.repetitions, contenders);
  const w = median(runs.watcher);
  const h = median(runs.handWritten);
  const n = median(counts.watcher);
  const { median: breakdown, runs: instrumented } = await syncPhasesMedian(() => createContainerdAdapter(o.socket, { namespaces: [BENCH_NAMESPACE] }), o.repetitions);
  return [
    {
      key: 'containerd.sync',
      section: 8,
      figure: `containerd initial sync, ${n} containers: ready()`,
      value: w,
      unit: 'ms',
      baseline: { label: 'hand-written gRPC list calls', value: h, unit: 'ms' },
      ratio: w / h,
      target: atMost(w / h, 1.2),
      detail: { runs, counts, containers: n, handWrittenContainers: median(counts.handWritten), breakdown },
    },
    phaseRow('containerd.sync.live', 8, '(reference) containerd watcher: until its event subscription is proven live (marker seen)', breakdown, 'liveMs', instrumented.length),
    phaseRow('containerd.sync.setup', 8, '(reference) containerd watcher: until the list is answered (info, events proven live, list)', breakdown, 'listedMs', instrumented.length, { breakdown, instrumented }),
  ];
}

/**
 * A raw containerd event stream of its own (`Events/Subscribe`), calling `on` with the qualified
 * container ID (`namespace/id`), the topic and the decoded payload of each `/tasks/start` and
 * `/tasks/exit` of namespace `namespace`. `close()` cancels the call and frees the connection.
 *
 * @example
 * const raw = taskEvents(socket, 'k8s.io', (id, topic) => topic === '/tasks/start' && console.log(id));
 * await raw.close();
 */
export function taskEvents(
  socket: string,
  namespace: string,
  on: (id: string, topic: string, event: { containerId: string; id?: string; pid: number }) => void,
): { close(): Promise<void> } {
  const grpc = createUnixGrpcTransport(unixSocketPath(socket));
  const events = createClient(Events, grpc.transport);
  const abort = new AbortController();
  const filters = ['/tasks/start', '/tasks/exit'].map((topic) => `topic==${JSON.stringify(topic)},namespace==${JSON.stringify(namespace)}`);
  const done = (async () => {
    for await (const envelope of events.subscribe({ filters }, { signal: abort.signal })) {
      const any = envelope.event;
      if (!any || envelope.namespace !== namespace) continue;
      if (envelope.topic === '/tasks/start' && any.typeUrl.endsWith('TaskStart')) {
        const e = fromBinary(TaskStartSchema, any.value);
        on(`${namespace}/${e.containerId}`, envelope.topic, e);
      } else if (envelope.topic === '/tasks/exit' && any.typeUrl.endsWith('TaskExit')) {
        const e = fromBinary(TaskExitSchema, any.value);
        on(`${namespace}/${e.containerId}`, envelope.topic, e);
      }
    }
  })().catch(() => undefined);
  return {
    async close() {
      abort.abort();
      await done;
      await grpc.close();
    },
  };
}

interface Sample {
  raw?: number;
  watcher?: number;
  baseline?: number;
  /** When the baseline's own stream delivered the TaskStart (streams differ by a few ms). */
  event?: number;
}

/**
 * Section 8, event latency: `samples` tasks started one after the other (plus 3 warm-up), each
 * timed from its raw `TaskStart` (a stream of its own) to the watcher's `portfolio$` holding it
 * and to the hand-written baseline's Map holding it (`TaskStart` → `Containers/Get` → Map, the PID
 * from the event).
 *
 * @example
 * rows.push(...(await benchContainerdLatency({ socket, fleet, samples: 50 })));
 */
export async function benchContainerdLatency(o: ContainerdLatencyOptions): Promise<Row[]> {
  say(`containerd latency: ${o.samples} task starts (plus 3 warm-up)`);
  const samples = new Map<string, Sample>();
  const sample = (id: string) => {
    let s = samples.get(id);
    if (!s) samples.set(id, (s = {}));
    return s;
  };

  // The reference: raw TaskStart events on a stream of their own.
  const reference = taskEvents(o.socket, BENCH_NAMESPACE, (id, topic) => {
    if (topic === '/tasks/start') sample(id).raw ??= now();
  });

  // The baseline: subscribe, look the container's labels up, update a Map.
  const grpc = createUnixGrpcTransport(unixSocketPath(o.socket));
  const containers = createClient(Containers, grpc.transport);
  const known = new Map<string, Listed & { name: string }>();
  const baseline = taskEvents(o.socket, BENCH_NAMESPACE, (id, topic, e) => {
    if (topic === '/tasks/exit') {
      if (e.id === undefined || e.id === e.containerId) known.delete(id);
      return;
    }
    sample(id).event ??= now();
    containers.get({ id: e.containerId }, { headers: { [NS_HEADER]: BENCH_NAMESPACE } }).then(
      ({ container }) => {
        if (!container) return;
        known.set(id, { name: container.labels['nerdctl/name'] ?? id, labels: { ...container.labels }, pid: e.pid });
        sample(id).baseline ??= now();
      },
      () => undefined,
    );
  });

  // The watcher.
  const w = containerdWatcher(o.socket, { namespaces: [BENCH_NAMESPACE], resyncInterval: 0 });
  await w.ready({ signal: AbortSignal.timeout(120_000) });
  const { waiting, subscription: sub } = stampArrivals(w, (id) => (sample(id).watcher ??= now()));

  const measured: Sample[] = [];
  try {
    await sleep(200);
    for (let i = -3; i < o.samples; i++) {
      const name = `lat-${process.pid}-${i + 3}`;
      const id = `${BENCH_NAMESPACE}/${name}`;
      waiting.add(id);
      await o.fleet.startOne(name);
      const s = await stamped(() => sample(id));
      waiting.delete(id);
      if (i >= 0) measured.push({ ...s });
      await o.fleet.remove(name);
      await forgotten(() => !!w.portfolio.container(id) || known.has(id));
    }
  } finally {
    sub.unsubscribe();
    await w.close();
    await Promise.all([reference.close(), baseline.close()]);
    await grpc.close();
  }
  const complete = measured.filter((s) => s.raw !== undefined && s.watcher !== undefined && s.baseline !== undefined);
  return latencyRows(
    'containerd',
    8,
    'TaskStart→Containers/Get→Map',
    complete.map((s) => s.watcher! - s.raw!),
    complete.map((s) => s.baseline! - s.raw!),
    {
      samples: measured.length,
      complete: complete.length,
      baselineStreamAfterReferenceMedianMs: median(complete.filter((s) => s.event !== undefined).map((s) => s.event! - s.raw!)),
    },
  );
}

/**
 * Median and p99 rows of event latencies in ms (watcher and baseline, each from its start's
 * reference time); the median's target is at most 1.2x the baseline's.
 *
 * @example
 * return latencyRows('containerd', 8, 'TaskStart→Containers/Get→Map', [3.1, 2.9], [2.8, 2.7]);
 */
export function latencyRows(
  engine: string,
  section: number,
  baselineLabel: string,
  ww: readonly number[],
  bl: readonly number[],
  detail: Record<string, unknown> = {},
): Row[] {
  const ratio = median(ww) / median(bl);
  const key = engine.toLowerCase();
  const starts = ww.length === bl.length ? `${ww.length} starts` : `${ww.length} + ${bl.length} starts`;
  return [
    {
      key: `${key}.latency.median`,
      section,
      figure: `${engine} event latency, median (${starts})`,
      value: median(ww),
      unit: 'ms',
      baseline: { label: baselineLabel, value: median(bl), unit: 'ms' },
      ratio,
      target: atMost(ratio, 1.2),
      detail: { watcherMs: ww, baselineMs: bl, ...detail },
    },
    {
      key: `${key}.latency.p99`,
      section,
      figure: `${engine} event latency, p99 (${starts})`,
      value: percentile(ww, 99),
      unit: 'ms',
      baseline: { label: baselineLabel, value: percentile(bl, 99), unit: 'ms' },
      ratio: percentile(ww, 99) / percentile(bl, 99),
    },
  ];
}
