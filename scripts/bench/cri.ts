/**
 * Section 9: CRI (containerd 1.7's CRI plugin). The initial sync of P pods (each pod's sandbox
 * and its one container count as two) by `criWatcher`, from the `ready()` call to its
 * resolution, next to a sequential crictl-style loop (`ListContainers`, then a verbose
 * `ContainerStatus` for each running container, `ListPodSandbox`, then a verbose
 * `PodSandboxStatus` for each ready sandbox, one call after the other); and the event latency
 * of a container started in a running pod, from its raw `TaskStart` (containerd's own
 * `Events/Subscribe` in namespace `k8s.io`, a broadcast stream that takes nothing from anyone)
 * to the watcher's `portfolio$` holding it, next to a hand-written `GetContainerEvents` →
 * verbose status → Map loop.
 *
 * The runtime has ONE event channel shared by every `GetContainerEvents` caller, so the watcher
 * and the baseline cannot listen at the same time (they would split the events): they take
 * turns, in blocks, each alone on the runtime. containerd 1.7 also serves a cancelled
 * subscription until its next event, which it takes from everybody: before each block, and at
 * the end, throwaway pods let every ended subscription have its one event.
 *
 * @module
 */
import { createClient } from '@connectrpc/connect';
import { criWatcher, createCriAdapter } from '../../engines/cri/index.js';
import { createUnixGrpcTransport, unixSocketPath } from '../../engines/grpc.js';
import { ContainerEventType, ContainerState, PodSandboxState, RuntimeService } from '../../protos/gen/runtime/v1/api_pb.js';
import type { RunningPod } from '../../spec/support/cri-client.js';
import { taskEvents, latencyRows } from './containerd.js';
import { forgotten, stampArrivals } from './latency.js';
import type { CriFleet } from './engines.js';
import { type Row, atMost, median, now, say, sleep } from './report.js';
import { measure, phaseRow, syncPhasesMedian, timedReady } from './sync.js';

/**
 * Options of {@link benchCriSync}.
 *
 * @example
 * const o: CriSyncOptions = { socket, fleet, repetitions: 3 };
 */
export interface CriSyncOptions {
  readonly socket: string;
  readonly fleet: CriFleet;
  readonly repetitions: number;
}

/**
 * Options of {@link benchCriLatency}.
 *
 * @example
 * const o: CriLatencyOptions = { socket, fleet, samples: 15, blocks: 1 };
 */
export interface CriLatencyOptions {
  readonly socket: string;
  readonly fleet: CriFleet;
  /** Starts measured per contender. */
  readonly samples: number;
  /** Turns per contender (watcher, baseline, baseline, watcher, …). */
  readonly blocks: number;
}

/** containerd's namespace of the CRI plugin's containers and tasks. */
const CRI_NAMESPACE = 'k8s.io';
const CALL = { timeoutMs: 30_000 };

/** The PID in a verbose status's `info["info"]` JSON (0 if none). */
function pidOf(info: Readonly<Record<string, string>>): number {
  try {
    const pid = (JSON.parse(info['info'] ?? '{}') as { pid?: unknown }).pid;
    return typeof pid === 'number' ? pid : 0;
  } catch {
    return 0;
  }
}

/** The crictl-style loop: every call after the previous one, into a Map of ID → PID. */
async function sequential(socket: string): Promise<{ ms: number; n: number }> {
  const grpc = createUnixGrpcTransport(unixSocketPath(socket));
  try {
    const client = createClient(RuntimeService, grpc.transport);
    const t = now();
    const seen = new Map<string, number>();
    const { containers } = await client.listContainers({ filter: { state: { state: ContainerState.CONTAINER_RUNNING } } }, CALL);
    for (const c of containers) {
      const answer = await client.containerStatus({ containerId: c.id, verbose: true }, CALL).catch(() => undefined);
      const pid = answer ? pidOf(answer.info) : 0;
      if (answer?.status?.state === ContainerState.CONTAINER_RUNNING && pid > 0) seen.set(c.id, pid);
    }
    const { items } = await client.listPodSandbox({}, CALL);
    for (const p of items) {
      if (p.state !== PodSandboxState.SANDBOX_READY) continue;
      const answer = await client.podSandboxStatus({ podSandboxId: p.id, verbose: true }, CALL).catch(() => undefined);
      const pid = answer ? pidOf(answer.info) : 0;
      if (answer?.status?.state === PodSandboxState.SANDBOX_READY && pid > 0) seen.set(p.id, pid);
    }
    return { ms: now() - t, n: seen.size };
  } finally {
    await grpc.close();
  }
}

const watcher = (socket: string) => timedReady(criWatcher(socket, { resyncInterval: 0 }));

/**
 * Section 9, initial sync: `criWatcher` against the sequential crictl-style loop, medians of
 * `repetitions` alternating runs after one untimed round, plus `repetitions` instrumented watcher
 * syncs (medians of when identity, live events, the list and the last inspection were there).
 * Every closed watcher leaves a stale event subscription: flushed at the end.
 *
 * @example
 * await fleet.ensure(50);
 * rows.push(...(await benchCriSync({ socket, fleet, repetitions: 7 })));
 */
export async function benchCriSync(o: CriSyncOptions): Promise<Row[]> {
  say(`CRI sync: ${o.repetitions} repetitions of the crictl-style loop and the watcher`);
  const contenders = [
    ['sequential', sequential],
    ['watcher', watcher],
  ] as const;
  let runs: Record<'sequential' | 'watcher', number[]>;
  let counts: Record<'sequential' | 'watcher', number[]>;
  let breakdown: Record<string, number>;
  let instrumented: Record<string, number>[];
  try {
    ({ runs, counts } = await measure(o.socket, o.repetitions, contenders));
    ({ median: breakdown, runs: instrumented } = await syncPhasesMedian(() => createCriAdapter(o.socket), o.repetitions));
  } finally {
    const pods = await o.fleet.flush();
    say(`CRI sync: ${pods} throwaway pod(s) took the closed watchers' stale event subscriptions`);
  }
  const w = median(runs.watcher);
  const s = median(runs.sequential);
  const n = median(counts.watcher);
  return [
    {
      key: 'cri.sync',
      section: 9,
      figure: `CRI initial sync, ${n} containers (sandboxes included): ready()`,
      value: w,
      unit: 'ms',
      baseline: { label: 'sequential crictl-style loop', value: s, unit: 'ms' },
      ratio: w / s,
      target: atMost(w / s, 0.8),
      detail: { runs, counts, containers: n, sequentialContainers: median(counts.sequential), breakdown },
    },
    phaseRow('cri.sync.setup', 9, '(reference) CRI watcher: until the list is answered (info, events live, list)', breakdown, 'listedMs', instrumented.length, { breakdown, instrumented }),
  ];
}

interface Sample {
  raw?: number;
  watcher?: number;
  baseline?: number;
  /** (baseline turns) when the CRI STARTED event itself arrived. */
  event?: number;
}

/** Who listens to the runtime's events during one turn. */
interface Listener {
  /** Whether the listener holds `id` now. */
  holds(id: string): boolean;
  close(): Promise<void>;
}

/** The watcher's turn: `portfolio$` first holding a waited-for ID stamps `sample(id).watcher`. */
async function watcherTurn(socket: string, waiting: Set<string>, sample: (id: string) => Sample): Promise<Listener> {
  const w = criWatcher(socket, { resyncInterval: 0 });
  await w.ready({ signal: AbortSignal.timeout(60_000) });
  const arrivals = stampArrivals(w, (id) => (sample(id).watcher ??= now()), waiting);
  return {
    holds: (id) => !!w.portfolio.container(id),
    async close() {
      arrivals.subscription.unsubscribe();
      await w.close();
    },
  };
}

/**
 * The baseline's turn: one `GetContainerEvents` stream (proven live by a `Version` answer after
 * the call, as the adapter does; events older than the subscription dropped, as the adapter
 * does); a STARTED costs one verbose status call (sandbox or container, as the event tells),
 * whose PID goes into a Map; a STOPPED removes the entry. `close()` cancels the stream.
 */
async function baselineTurn(socket: string, sample: (id: string) => Sample): Promise<Listener> {
  const grpc = createUnixGrpcTransport(unixSocketPath(socket));
  const client = createClient(RuntimeService, grpc.transport);
  const known = new Map<string, { pid: number; labels: Record<string, string> }>();
  const abort = new AbortController();
  const since = BigInt(Date.now()) * 1_000_000n;
  const done = (async () => {
    for await (const e of client.getContainerEvents({}, { signal: abort.signal })) {
      if (e.createdAt < since) continue;
      const id = e.containerId;
      if (e.containerEventType === ContainerEventType.CONTAINER_STOPPED_EVENT) {
        known.delete(id);
      } else if (e.containerEventType === ContainerEventType.CONTAINER_STARTED_EVENT) {
        const s = sample(id);
        s.event ??= now();
        const status =
          e.podSandboxStatus?.id === id
            ? client.podSandboxStatus({ podSandboxId: id, verbose: true }, CALL)
            : client.containerStatus({ containerId: id, verbose: true }, CALL);
        status.then(
          (answer) => {
            const pid = pidOf(answer.info);
            if (pid === 0) return;
            known.set(id, { pid, labels: { ...answer.status?.labels } });
            s.baseline ??= now();
          },
          () => undefined,
        );
      }
    }
  })().catch(() => undefined);
  await client.version({ version: '0.1.0' }, CALL);
  return {
    holds: (id) => known.has(id),
    async close() {
      abort.abort();
      await done;
      await grpc.close();
    },
  };
}

/**
 * Section 9, event latency: in one running pod of the benchmark, containers started one after
 * the other (2 warm-up per turn), each timed from its raw `TaskStart` to the current listener
 * (the watcher, or the hand-written baseline) holding it; turns alternate, `samples` measured
 * starts per contender in `blocks` turns each, every turn after a flush of stale subscriptions.
 *
 * @example
 * rows.push(...(await benchCriLatency({ socket, fleet, samples: 50, blocks: 2 })));
 */
export async function benchCriLatency(o: CriLatencyOptions): Promise<Row[]> {
  say(`CRI latency: ${o.samples} container starts per contender, in ${o.blocks} turn(s) each, alternating`);
  const samples = new Map<string, Sample>();
  const sample = (id: string) => {
    let s = samples.get(id);
    if (!s) samples.set(id, (s = {}));
    return s;
  };
  const reference = taskEvents(o.socket, CRI_NAMESPACE, (id, topic) => {
    if (topic === '/tasks/start') sample(id.slice(CRI_NAMESPACE.length + 1)).raw ??= now();
  });
  const measured = { watcher: [] as Sample[], baseline: [] as Sample[] };
  const flushed: number[] = [];
  let pod: RunningPod | undefined;
  let serial = 0;
  try {
    pod = await o.fleet.runPod([]);
    const turns: ('watcher' | 'baseline')[] = [];
    for (let b = 0; b < o.blocks; b++) turns.push(...(b % 2 === 0 ? (['watcher', 'baseline'] as const) : (['baseline', 'watcher'] as const)));
    for (let t = 0; t < turns.length; t++) {
      const who = turns[t]!;
      const count = Math.floor(o.samples / o.blocks) + (Math.floor(t / 2) < o.samples % o.blocks ? 1 : 0);
      flushed.push(await o.fleet.flush());
      const waiting = new Set<string>();
      const listener = who === 'watcher' ? await watcherTurn(o.socket, waiting, sample) : await baselineTurn(o.socket, sample);
      try {
        await sleep(100);
        for (let i = -2; i < count; i++) {
          const id = await o.fleet.startContainer(pod, `lat-${serial++}`, (created) => waiting.add(created));
          const deadline = now() + 10_000;
          let s = sample(id);
          while (!(s.raw !== undefined && s[who] !== undefined) && now() < deadline) {
            await sleep(5);
            s = sample(id);
          }
          waiting.delete(id);
          if (s[who] === undefined && listener.holds(id)) s[who] = now(); // seen before we were waiting
          if (i >= 0) measured[who].push({ ...s });
          await o.fleet.removeContainer(id);
          await forgotten(() => listener.holds(id), 30);
        }
      } finally {
        await listener.close();
      }
    }
  } finally {
    if (pod) await o.fleet.cri.removePod(pod.sandboxId).catch(() => undefined);
    flushed.push(await o.fleet.flush().catch(() => NaN));
    await reference.close();
  }
  // Each contender has starts of its own (they cannot listen at the same time).
  const ww = measured.watcher.filter((s) => s.raw !== undefined && s.watcher !== undefined);
  const bl = measured.baseline.filter((s) => s.raw !== undefined && s.baseline !== undefined);
  const eventMs = bl.filter((s) => s.event !== undefined).map((s) => s.event! - s.raw!);
  return latencyRows(
    'CRI',
    9,
    'GetContainerEvents→status→Map',
    ww.map((s) => s.watcher! - s.raw!),
    bl.map((s) => s.baseline! - s.raw!),
    {
      watcherSamples: measured.watcher.length,
      watcherComplete: ww.length,
      baselineSamples: measured.baseline.length,
      baselineComplete: bl.length,
      criEventAfterTaskStartMs: eventMs,
      criEventAfterTaskStartMedianMs: median(eventMs),
      throwawayPodsPerFlush: flushed,
    },
  );
}
