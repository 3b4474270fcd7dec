/**
 * Section 1: the initial sync of a Docker engine with M alive containers, from the `ready()`
 * call to its resolution, next to `docker inspect $(docker ps -q)` and to a plain sequential
 * dockerode list-then-inspect-each loop (the way the Go module syncs); for reference, the same
 * loop with 4 inspections in flight, and a breakdown of one instrumented watcher sync. The same
 * for Podman's Docker-compatible endpoint (section 10, figures only), with `podman` as the CLI.
 *
 * @module
 */
import { Observable } from 'rxjs';
import { createMobyAdapter, mobyWatcher } from '../../engines/moby/index.js';
import type { EngineAdapter } from '../../lib/adapter.js';
import { watch } from '../../lib/watch.js';
import type { Watcher } from '../../lib/watcher.js';
import { dockerWith, exec } from '../../spec/support/engines.js';
import { dockerClient } from './engines.js';
import { type Row, atMost, median, now, say } from './report.js';

/**
 * Options of {@link benchSync}: the endpoint, how many alive containers it holds, repetitions.
 *
 * @example
 * const o: SyncOptions = { endpoint: 'unix:///var/run/docker.sock', containers: 200, repetitions: 7 };
 */
export interface SyncOptions {
  readonly endpoint: string;
  readonly containers: number;
  readonly repetitions: number;
}

async function cli(endpoint: string): Promise<{ ms: number; n: number }> {
  const t = now();
  const ids = (await dockerWith(endpoint, ['ps', '-q'])).split('\n').filter(Boolean);
  await dockerWith(endpoint, ['inspect', ...ids], { timeoutMs: 120_000 });
  return { ms: now() - t, n: ids.length };
}

async function sequential(endpoint: string): Promise<{ ms: number; n: number }> {
  const docker = dockerClient(endpoint);
  const t = now();
  const list = await docker.listContainers();
  const seen = new Map<string, unknown>();
  for (const c of list) {
    try {
      seen.set(c.Id, await docker.getContainer(c.Id).inspect());
    } catch {
      // gone meanwhile
    }
  }
  return { ms: now() - t, n: seen.size };
}

/** The same loop with 4 inspections in flight (the watcher's default concurrency): what concurrency alone buys. */
async function concurrent(endpoint: string): Promise<{ ms: number; n: number }> {
  const docker = dockerClient(endpoint);
  const t = now();
  const list = await docker.listContainers();
  const seen = new Map<string, unknown>();
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const c = list[next++]!;
      try {
        seen.set(c.Id, await docker.getContainer(c.Id).inspect());
      } catch {
        // gone meanwhile
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { ms: now() - t, n: seen.size };
}

/**
 * Times one watcher's initial sync, from the `ready()` call to its resolution, then closes it.
 *
 * @example
 * const { ms, n } = await timedReady(criWatcher(socket, { resyncInterval: 0 }));
 */
export async function timedReady(w: Watcher): Promise<{ ms: number; n: number }> {
  try {
    const t = now();
    const p = await w.ready({ signal: AbortSignal.timeout(120_000) });
    return { ms: now() - t, n: p.containerTotal };
  } finally {
    await w.close();
  }
}

const watcher = (endpoint: string) => timedReady(mobyWatcher(endpoint, { resyncInterval: 0 }));

/**
 * One instrumented sync (not part of the medians) of a watcher over `inner`: when, after the
 * `ready()` call, the engine identity was known (`infoMs`), the event stream was live
 * (`liveMs`), the list was answered (`listedMs`) and the last inspection came back
 * (`lastInspectionMs`, with the count in `inspections`), and when `ready()` resolved
 * (`readyMs`). Same pipeline as the engine's watcher function (`watch(createXAdapter(…))`).
 *
 * @example
 * const marks = await syncPhases(createMobyAdapter(endpoint));
 * console.log(marks['listedMs'], marks['readyMs']);
 */
export async function syncPhases(inner: EngineAdapter): Promise<Record<string, number>> {
  const t = now();
  const marks: Record<string, number> = { inspections: 0 };
  const stamp = (name: string) => (marks[name] = now() - t);
  const after = <T>(source: Observable<T>, done: (value: T) => void) =>
    new Observable<T>((subscriber) =>
      source.subscribe({
        next: (v) => {
          done(v);
          subscriber.next(v);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
  const adapter: EngineAdapter = {
    type: inner.type,
    api: inner.api,
    info: () => after(inner.info(), () => stamp('infoMs')),
    events: () => after(inner.events(), (e) => e.type === 'live' && stamp('liveMs')),
    list: () => after(inner.list(), () => stamp('listedMs')),
    inspect: (id) =>
      after(inner.inspect(id), () => {
        marks['inspections']!++;
        stamp('lastInspectionMs');
      }),
    close: () => inner.close(),
  };
  const w = watch(adapter, { resyncInterval: 0 });
  try {
    await w.ready({ signal: AbortSignal.timeout(120_000) });
    stamp('readyMs');
    return marks;
  } finally {
    await w.close();
  }
}

/** One way to sync an engine, timed: milliseconds and the containers it found. */
export type Contender = (endpoint: string) => Promise<{ ms: number; n: number }>;

/**
 * Runs each contender once untimed, then `repetitions` rounds in rotating order; every run's
 * time and count per contender.
 *
 * @example
 * const { runs } = await measure(socket, 7, [['baseline', baseline], ['watcher', watcher]] as const);
 */
export async function measure<K extends string>(endpoint: string, repetitions: number, contenders: readonly (readonly [K, Contender])[]) {
  const runs = {} as Record<K, number[]>;
  const counts = {} as Record<K, number[]>;
  for (const [name] of contenders) {
    runs[name] = [];
    counts[name] = [];
  }
  // One untimed round warms the engine's caches and our code paths.
  for (const [, fn] of contenders) await fn(endpoint);
  for (let r = 0; r < repetitions; r++) {
    // Rotate the order, so that no contender always runs first or last.
    for (let i = 0; i < contenders.length; i++) {
      const [name, fn] = contenders[(i + r) % contenders.length]!;
      const { ms, n } = await fn(endpoint);
      runs[name].push(ms);
      counts[name].push(n);
    }
  }
  return { runs, counts };
}

/**
 * {@link syncPhases} of `runs` fresh adapters, one after the other: the median of each mark, and
 * every run's marks (one run can mislead: a step that usually waits may not wait this time).
 *
 * @example
 * const { median: marks } = await syncPhasesMedian(() => createContainerdAdapter(socket), 5);
 */
export async function syncPhasesMedian(make: () => EngineAdapter, runs: number): Promise<{ median: Record<string, number>; runs: Record<string, number>[] }> {
  const all: Record<string, number>[] = [];
  for (let i = 0; i < runs; i++) all.push(await syncPhases(make()));
  const keys = [...new Set(all.flatMap((m) => Object.keys(m)))];
  return { median: Object.fromEntries(keys.map((k) => [k, median(all.map((m) => m[k]).filter((v): v is number => v !== undefined))])), runs: all };
}

/**
 * Section 1, Docker's initial sync: the watcher against `docker inspect $(docker ps -q)` (target
 * 1.0x), the sequential dockerode loop (1.0x) and the loop
 * with 4 inspections in flight (1.1x), with one instrumented sync for reference.
 *
 * @example
 * rows.push(...(await benchSync({ endpoint, containers: 200, repetitions: 7 })));
 */
export async function benchSync(o: SyncOptions): Promise<Row[]> {
  return dockerSyncRows(o, { section: 1, key: 'sync', engine: '', cliLabel: 'docker inspect $(docker ps -q)', cli, targets: true });
}

/** What differs between Docker's section 1 and Podman's section 10. */
interface DockerSyncFlavour {
  readonly section: number;
  /** Prefix of the rows' keys. */
  readonly key: string;
  /** Engine name in the figures ('' for Docker, the default). */
  readonly engine: string;
  readonly cliLabel: string;
  readonly cli: Contender;
  /** Whether the rows carry the issue's targets (Podman's are figures only). */
  readonly targets: boolean;
}

/** The watcher against the CLI and both dockerode loops on a Docker-API endpoint, with one instrumented sync. */
async function dockerSyncRows(o: SyncOptions, f: DockerSyncFlavour): Promise<Row[]> {
  say(`${f.engine || 'Docker'} sync: ${o.containers} alive containers, ${o.repetitions} repetitions of CLI, sequential loop, concurrent loop, watcher`);
  const { runs, counts } = await measure(o.endpoint, o.repetitions, [
    ['cli', f.cli],
    ['sequential', sequential],
    ['concurrent', concurrent],
    ['watcher', watcher],
  ] as const);
  const w = median(runs.watcher);
  const s = median(runs.sequential);
  const c = median(runs.cli);
  const k = median(runs.concurrent);
  const n = median(counts.watcher);
  const breakdown = await syncPhases(createMobyAdapter(o.endpoint));
  const figure = `${f.engine ? `${f.engine} ` : ''}initial sync, ${n} containers: ready()`;
  const target = (ratio: number, limit: number) => (f.targets ? { target: atMost(ratio, limit) } : {});
  const row = (key: string, figure: string, value: number, baseline: Row['baseline'] & object, rest: Partial<Row> = {}): Row => ({
    key: `${f.key}.${key}`,
    section: f.section,
    figure,
    value,
    unit: 'ms',
    baseline,
    ratio: value / baseline.value,
    ...rest,
  });
  return [
    row('vsSequential', figure, w, { label: 'sequential dockerode', value: s, unit: 'ms' }, { ...target(w / s, 1.0), detail: { runs, counts, containers: n, breakdown } }),
    row('vsCli', figure, w, { label: f.cliLabel, value: c, unit: 'ms' }, {
      ...target(w / c, 1.0),
      detail: { perContainerMs: { watcher: w / n, sequential: s / n, concurrent: k / n, cli: c / n } },
    }),
    row('vsConcurrent', figure, w, { label: 'dockerode loop, 4 inspections in flight', value: k, unit: 'ms' }, target(w / k, 1.1)),
    phaseRow(`${f.key}.setup`, f.section, `(reference) ${f.engine ? `${f.engine} ` : ''}watcher: until the list is answered (info, events live, list)`, breakdown, 'listedMs', 1, { breakdown }),
    row('concurrentLoop', `(reference) ${f.engine ? `${f.engine}: ` : ''}dockerode loop, 4 inspections in flight`, k, {
      label: 'sequential dockerode',
      value: s,
      unit: 'ms',
    }),
  ];
}

/**
 * Options of {@link benchSyncPodman}: Podman's Docker-compatible endpoint and its own command
 * line (binary, private flags and environment, as `npm run engines:up` wrote them to RUN/env).
 *
 * @example
 * const e = testEngines();
 * const o: PodmanSyncOptions = { endpoint: e.podman!, containers: 50, repetitions: 3, podman: { cli: e.podmanCli, args: e.podmanArgs, env: e.podmanEnv } };
 */
export interface PodmanSyncOptions extends SyncOptions {
  readonly podman: { readonly cli: string; readonly args: readonly string[]; readonly env: Readonly<Record<string, string>> };
}

/**
 * Section 10, Podman's initial sync: the same contenders as section 1 on Podman's
 * Docker-compatible endpoint (the watcher, sequential and 4-in-flight dockerode loops), with
 * `podman inspect $(podman ps -q)` as the CLI; figures only, no target (Podman's own `/info`
 * and lookups are slow).
 *
 * @example
 * rows.push(...(await benchSyncPodman({ endpoint, containers: 50, repetitions: 3, podman })));
 */
export async function benchSyncPodman(o: PodmanSyncOptions): Promise<Row[]> {
  const podmanCli: Contender = async () => {
    const run = (args: string[]) => exec(o.podman.cli, [...o.podman.args, ...args], { env: { ...o.podman.env }, timeoutMs: 120_000 });
    const t = now();
    const ids = (await run(['ps', '-q'])).stdout.split('\n').filter(Boolean);
    await run(['inspect', ...ids]);
    return { ms: now() - t, n: ids.length };
  };
  return dockerSyncRows(o, { section: 10, key: 'podman.sync', engine: 'Podman', cliLabel: 'podman inspect $(podman ps -q)', cli: podmanCli, targets: false });
}

/**
 * A "(reference)" row: when, in instrumented syncs, one mark (`listedMs`, `liveMs`) was reached,
 * next to the whole sync (`readyMs`); `runs` is how many syncs the medians come from.
 *
 * @example
 * rows.push(phaseRow('cri.sync.setup', 9, '(reference) CRI watcher: until the list is answered', breakdown, 'listedMs', 7));
 */
export function phaseRow(key: string, section: number, figure: string, breakdown: Record<string, number>, mark: string, runs: number, detail?: Row['detail']): Row {
  const value = breakdown[mark] ?? NaN;
  const whole = breakdown['readyMs'] ?? NaN;
  const label = runs === 1 ? 'its whole sync, 1 instrumented run' : `its whole sync, median of ${runs} instrumented runs`;
  return { key, section, figure, value, unit: 'ms', baseline: { label, value: whole, unit: 'ms' }, ratio: value / whole, ...(detail && { detail }) };
}
