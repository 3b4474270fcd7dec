/**
 * Real-engine drivers of the reliability suites (crash and churn): one small interface per
 * engine to make short-lived containers, pause, unpause and kill them, ask the engine for its
 * truth (alive containers with PID and pause state, in the watcher's ID scheme), and clean up;
 * plus concurrent churn workers and the comparison of a watcher's portfolio with the truth.
 *
 * @module
 */
import { containerdWatcher } from '../../engines/containerd/index.js';
import { criWatcher } from '../../engines/cri/index.js';
import { mobyWatcher } from '../../engines/moby/index.js';
import type { Portfolio } from '../../lib/model.js';
import type { WatchOptions } from '../../lib/options.js';
import type { Watcher } from '../../lib/watcher.js';
import { engineAnswer } from '../engines/moby-helpers.js';
import { CriTestClient } from './cri-client.js';
import { type EngineName, ctr, ctrRunFlags, docker, dockerWith, testEngines, uniqueName, waitFor } from './engines.js';
import { sleep } from './reliability-helpers.js';

/** The label every container of the reliability suites carries. */
export const REL_LABEL = 'whalewatcher.test=reliability';

/** One engine as the crash and churn suites drive it. */
export interface EngineDriver {
  readonly title: string;
  /** The private engine process behind it (for crash/restart). */
  readonly engine: EngineName;
  /** A watcher on this engine. */
  watcher(options: WatchOptions): Watcher;
  /** Starts a container that lives `seconds` (then exits by itself); resolves with its watcher ID. */
  start(seconds: number, extra?: readonly string[]): Promise<string>;
  kill(id: string): Promise<void>;
  /** Absent where the engine cannot pause (CRI). */
  pause?(id: string): Promise<void>;
  unpause?(id: string): Promise<void>;
  /** Removes what is left of containers that ended (where the engine keeps them). */
  reap(): Promise<void>;
  /** The engine's own answer: alive containers as `id pid running|paused`, sorted. */
  truth(): Promise<string[]>;
  /** Removes every container of the suites. */
  cleanup(): Promise<void>;
  /** Releases the driver's own connections, if it holds any. */
  close?(): void;
}

/** Docker or Podman through the Docker CLI. */
export function mobyDriver(title: string, engine: 'docker' | 'podman', endpoint: string): EngineDriver {
  const image = engine === 'docker' ? testEngines().images.docker : testEngines().images.podman;
  return {
    title,
    engine,
    watcher: (options) => mobyWatcher(endpoint, options),
    start: (seconds, extra = []) =>
      dockerWith(
        endpoint,
        ['run', '-d', '--rm', '--network', 'none', '--label', REL_LABEL, '--name', uniqueName('rel'), ...extra, image, 'sleep', String(seconds)],
        { timeoutMs: 60_000 },
      ),
    kill: async (id) => void (await docker(endpoint, 'kill', id)),
    pause: async (id) => void (await docker(endpoint, 'pause', id)),
    unpause: async (id) => void (await docker(endpoint, 'unpause', id)),
    reap: async () => undefined, // --rm
    truth: () => mobyTruth(endpoint),
    cleanup: async () => {
      const paused = (await docker(endpoint, 'ps', '-q', '--filter', 'status=paused', '--filter', `label=${REL_LABEL}`)).split('\n').filter(Boolean);
      if (paused.length) await dockerWith(endpoint, ['unpause', ...paused]).catch(() => undefined);
      const ids = (await docker(endpoint, 'ps', '-a', '-q', '--no-trunc', '--filter', `label=${REL_LABEL}`)).split('\n').filter(Boolean);
      if (ids.length) await dockerWith(endpoint, ['rm', '-f', ...ids], { timeoutMs: 120_000 }).catch(() => undefined);
    },
  };
}

/** Docker's or Podman's truth ({@link engineAnswer}): containers with a PID, as `id pid running|paused`, sorted. */
async function mobyTruth(endpoint: string): Promise<string[]> {
  return (await engineAnswer(endpoint)).map((c) => `${c.id} ${c.pid} ${c.paused ? 'paused' : 'running'}`).sort();
}

/** containerd 1.7 through ctr, in one namespace (the watcher watches only that one). */
export function containerdDriver(namespace: string): EngineDriver {
  const bare = (id: string) => id.slice(namespace.length + 1);
  const tasks = async () =>
    (await ctr(namespace, 'tasks', 'ls'))
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 3)
      .map(([task, pid, status]) => ({ id: task!, pid: Number(pid), status: status! }));
  const removeContainer = async (id: string) => {
    await ctr(namespace, 'tasks', 'rm', '-f', id).catch(() => undefined);
    await ctr(namespace, 'containers', 'rm', id).catch(() => undefined);
  };
  return {
    title: 'containerd',
    engine: 'containerd',
    watcher: (options) => containerdWatcher(testEngines().containerd!, { ...options, namespaces: [namespace] }),
    start: async (seconds) => {
      const id = uniqueName('rel');
      await ctr(namespace, 'run', '-d', ...ctrRunFlags(), '--label', REL_LABEL, testEngines().images.containerd, id, 'sleep', String(seconds));
      return `${namespace}/${id}`;
    },
    kill: async (id) => void (await ctr(namespace, 'tasks', 'kill', '-s', 'SIGKILL', bare(id))),
    pause: async (id) => void (await ctr(namespace, 'tasks', 'pause', bare(id))),
    unpause: async (id) => void (await ctr(namespace, 'tasks', 'resume', bare(id))),
    reap: async () => {
      const alive = new Set((await tasks()).filter((t) => t.status !== 'STOPPED').map((t) => t.id));
      const all = (await ctr(namespace, 'containers', 'ls', '-q')).split('\n').filter((id) => id.startsWith('ww-rel-'));
      for (const id of all) if (!alive.has(id)) await removeContainer(id);
    },
    truth: async () =>
      (await tasks())
        .filter((t) => t.pid > 0 && ['RUNNING', 'PAUSED', 'PAUSING'].includes(t.status))
        .map((t) => `${namespace}/${t.id} ${t.pid} ${t.status === 'RUNNING' ? 'running' : 'paused'}`)
        .sort(),
    cleanup: async () => {
      for (const t of await tasks().catch(() => [])) {
        if (t.id.startsWith('ww-rel-') && t.status.startsWith('PAUS')) await ctr(namespace, 'tasks', 'resume', t.id).catch(() => undefined);
      }
      const all = (await ctr(namespace, 'containers', 'ls', '-q').catch(() => '')).split('\n').filter((id) => id.startsWith('ww-rel-'));
      for (const id of all) await removeContainer(id);
    },
  };
}

/**
 * A CRI runtime (containerd 1.7's CRI plugin) through the project's own CRI test client: each
 * "container" is a pod of one container in Kubernetes namespace `namespace`; the sandbox counts
 * too (it is alive in the portfolio while its pod is). CRI has no pause.
 */
export function criDriver(socket: string, namespace: string): EngineDriver {
  const cri = new CriTestClient(socket);
  const alive = async () => [...(await cri.alive())].map(([id, { pid }]) => `${id} ${pid} running`).sort();
  return {
    title: 'CRI',
    engine: 'containerd',
    watcher: (options) => criWatcher(socket, options),
    start: async (seconds) => {
      const pod = await cri.runPod({ namespace, name: uniqueName('rel'), containers: [{ name: 'c', command: ['/bin/sleep', String(seconds)] }] });
      return pod.containers['c']!;
    },
    kill: (id) => cri.stopContainer(id),
    reap: async () => {
      // Pods whose container ended: stop and remove them (their sandbox ends).
      const running = await cri.alive(namespace);
      const { items } = await cri.client.listPodSandbox({}, { timeoutMs: 30_000 });
      const { containers } = await cri.client.listContainers({}, { timeoutMs: 30_000 });
      for (const pod of items) {
        if (pod.metadata?.namespace !== namespace || !running.has(pod.id)) continue;
        if (!containers.some((c) => c.podSandboxId === pod.id && running.has(c.id))) await cri.removePod(pod.id);
      }
    },
    truth: alive,
    cleanup: () => cri.removePodsIn([namespace]),
    close: () => cri.close(),
  };
}

/** The portfolio as `id pid running|paused`, sorted (the form of {@link EngineDriver.truth}). */
export function portfolioTruth(p: Portfolio): string[] {
  return p
    .containers()
    .map((c) => `${c.id} ${c.pid} ${c.paused ? 'paused' : 'running'}`)
    .sort();
}

/**
 * Waits until the watcher's portfolio equals the engine's truth (both read afresh each round);
 * rejects after `timeoutMs` with the difference.
 */
export async function converged(w: Watcher, driver: EngineDriver, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  let last = { truth: [] as string[], seen: [] as string[] };
  try {
    await waitFor(
      async () => {
        const truth = await driver.truth();
        const seen = portfolioTruth(w.portfolio);
        last = { truth, seen };
        return JSON.stringify(truth) === JSON.stringify(seen);
      },
      { timeoutMs, intervalMs: 250, what },
    );
  } catch (err) {
    const missing = last.truth.filter((l) => !last.seen.includes(l));
    const extra = last.seen.filter((l) => !last.truth.includes(l));
    throw new Error(`${(err as Error).message}: engine has but portfolio lacks ${JSON.stringify(missing)}; portfolio has but engine lacks ${JSON.stringify(extra)}`);
  }
  return Date.now() - t0;
}

/** What churn workers did. */
export interface ChurnStats {
  started: number;
  paused: number;
  unpaused: number;
  killed: number;
  failed: number;
}

/**
 * Runs `workers` concurrent workers that start short-lived containers (1–4 s) and pause,
 * unpause and kill them at random, until `until()` says stop. Engine errors (a container that
 * ended meanwhile, an engine that is down) are counted, not thrown.
 */
export async function churn(driver: EngineDriver, workers: number, until: () => boolean): Promise<ChurnStats> {
  const stats: ChurnStats = { started: 0, paused: 0, unpaused: 0, killed: 0, failed: 0 };
  const mine: Array<{ id: string; paused: boolean }> = [];
  const worker = async (n: number) => {
    let round = 0;
    while (!until()) {
      round++;
      try {
        const r = Math.random();
        const pick = mine.length ? mine[Math.floor(Math.random() * mine.length)]! : undefined;
        if (!pick || r < 0.35 || mine.length < 2) {
          const id = await driver.start(1 + Math.floor(Math.random() * 4));
          mine.push({ id, paused: false });
          stats.started++;
        } else if (r < 0.6 && !pick.paused && driver.pause) {
          await driver.pause(pick.id);
          pick.paused = true;
          stats.paused++;
        } else if (r < 0.8 && pick.paused && driver.unpause) {
          await driver.unpause(pick.id);
          pick.paused = false;
          stats.unpaused++;
        } else if (pick.paused && driver.unpause) {
          await driver.unpause(pick.id);
          pick.paused = false;
          stats.unpaused++;
        } else {
          mine.splice(mine.indexOf(pick), 1);
          await driver.kill(pick.id);
          stats.killed++;
        }
      } catch {
        stats.failed++;
        await sleep(200);
      }
      if (n === 0 && round % 10 === 0) await driver.reap().catch(() => undefined);
      while (mine.length > 12) mine.shift();
      await sleep(Math.random() * 150);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, n) => worker(n)));
  return stats;
}
