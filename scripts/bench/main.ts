/**
 * `npm run bench` (`-- --quick` for the short run): every figure of issue 8 (and of the issue
 * "Performance": containerd, CRI, Podman) next to its baseline, measured side by side in the same run, medians of several repetitions. Prints the
 * table (figure, value, baseline, ratio, target, MISSED marks) on stdout, progress on stderr,
 * and writes `bench/latest.json` plus, unless `--only` picks sections, `bench/<full|quick>.json`,
 * with date and machine.
 *
 * Sections: 1 initial sync and 2 event latency (Docker), 3 core scaling, 4 memory, 5 resync
 * (Docker, containerd), 6 read burst, 7 after a burst (fake engines), 8 containerd (initial sync,
 * event latency), 9 CRI (initial sync, event latency), 10 Podman (initial sync, event latency:
 * figures only).
 *
 * Section 7 runs against fake engines of its own. Sections 1, 2, 5, 6, 8, 9 and 10 need the
 * private engines: as root on Debian the benchmark brings up those that do not answer
 * (scripts/engines/provision.ts, as `npm test` does) and stops what it started at the end;
 * elsewhere, without engines, those sections are reported as SKIPPED. Every container the benchmark creates carries the
 * label `whalewatcher.bench` (Docker, Podman) or lives in the `ww-bench` namespace (containerd;
 * CRI pods: the Kubernetes namespace `ww-bench`) and is removed at the end, also on Ctrl-C
 * (CRI: then throwaway pods also take the event subscriptions the run left open).
 *
 * Options: `--quick`; `--containers M` (initial sync size of Docker, containerd and Podman;
 * default 200, quick 50);
 * `--only 1,3` (sections to run); `--pods P` (CRI initial sync size; default 50, quick 25).
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { REPO_ROOT, engineAnswers, testEngines } from '../../spec/support/engines.js';
import { type Runner, provisionEngines, releaseEngines } from '../engines/provision.js';
import { benchBurst } from './burst.js';
import { benchContainerdLatency, benchContainerdSync } from './containerd.js';
import { benchCore } from './core.js';
import { benchCriLatency, benchCriSync } from './cri.js';
import { BENCH_LABEL, BENCH_NAMESPACE, CriFleet, CtrFleet, DockerFleet } from './engines.js';
import { benchLatency } from './latency.js';
import { benchMemory } from './memory.js';
import { benchRead } from './read.js';
import { type Row, type Skipped, now, say, table } from './report.js';
import { benchResyncContainerd, benchResyncDocker } from './resync.js';
import { benchSync, benchSyncPodman } from './sync.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const value = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

const quick = flag('--quick');
const only = value('--only')?.split(',').map(Number);
const want = (section: number) => !only || only.includes(section);

const config = {
  mode: quick ? 'quick' : 'full',
  syncContainers: Number(value('--containers') ?? (quick ? 50 : 200)),
  syncRepetitions: quick ? 3 : 7,
  latencySamples: quick ? 15 : 50,
  coreSizes: [100, 1_000, 10_000],
  coreEvents: quick ? 30_000 : 200_000,
  coreRepetitions: quick ? 3 : 7,
  memoryContainers: 10_000,
  churnEvents: quick ? 250_000 : 1_000_000,
  resyncContainers: 50,
  resyncs: quick ? 3 : 5,
  resyncInterval: quick ? 400 : 1_000,
  idleMs: quick ? 1_000 : 3_000,
  readLists: quick ? 100 : 300,
  reads: quick ? 200_000 : 1_000_000,
  readRepetitions: quick ? 3 : 7,
  burstPairs: 20_000,
  burstRepetitions: quick ? 1 : 3,
  criPods: Number(value('--pods') ?? (quick ? 25 : 50)),
  criLatencyBlocks: quick ? 1 : 2,
} as const;

const rows: Row[] = [];
const skipped: Skipped[] = [];
let engines = testEngines();
/** Engines this run started (scripts/engines/provision.ts), stopped again at its end. */
let provisioned: string[] = [];

/** Runs a command for the engine scripts, its output on stderr (stdout is the table's). */
const runScript: Runner = (cmd, args, stdio = 'inherit') =>
  new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', stdio === 'pipe' ? 'pipe' : 2, 2] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.on('error', () => resolve({ code: 127, stdout }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });

const releaseProvisioned = () => releaseEngines(provisioned.splice(0), runScript, say);
let dockerFleet: DockerFleet | undefined;
let podmanFleet: DockerFleet | undefined;
let ctrFleet: CtrFleet | undefined;
let criFleet: CriFleet | undefined;

async function cleanup(): Promise<void> {
  const [d, p, c, k] = await Promise.all([
    dockerFleet?.removeAll().catch(() => 0) ?? 0,
    podmanFleet?.removeAll().catch(() => 0) ?? 0,
    ctrFleet?.removeAll().catch(() => 0) ?? 0,
    criFleet?.removeAll().catch(() => 0) ?? 0,
  ]);
  // Interrupted, a CRI event subscription of ours may have ended unflushed: it would take the
  // runtime's next event from everybody else (containerd 1.7). Throwaway pods give it its one.
  if (interrupted && criFleet) {
    await criFleet.flush(true).catch(() => 0);
    await criFleet.removeAll().catch(() => 0);
  }
  if (d || p || c || k) {
    say(`cleanup: removed ${d} Docker and ${p} Podman container(s) labelled ${BENCH_LABEL}, ${c} containerd container(s) and ${k} CRI pod(s) in namespace ${BENCH_NAMESPACE}`);
  }
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    dockerFleet?.stop();
    podmanFleet?.stop();
    ctrFleet?.stop();
    criFleet?.stop();
    say(`${signal}: removing the benchmark's containers`);
    void cleanup()
      .then(releaseProvisioned)
      .finally(() => process.exit(130));
  });
}

/** Runs one section; a failure is reported as SKIPPED with its reason, and the run goes on. */
async function section(n: number, what: string, fn: () => Promise<Row[]> | Row[]): Promise<void> {
  if (!want(n) || interrupted) return;
  const t = now();
  try {
    rows.push(...(await fn()));
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    say(`section ${n} (${what}) failed: ${why}`);
    skipped.push({ section: n, what, why });
  }
  say(`section ${n} (${what}) took ${((now() - t) / 1000).toFixed(1)} s`);
}

async function dockerVersion(fleet: DockerFleet, name = 'Docker Engine'): Promise<string | undefined> {
  try {
    const v = await fleet.client.version();
    return `${name} ${v.Version}`;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const started = now();
  const load: { start: number[]; end?: number[] } = { start: os.loadavg() };
  say(`${config.mode} run: ${JSON.stringify(config)}`);

  await section(3, 'core scaling', () => benchCore({ sizes: config.coreSizes, events: config.coreEvents, repetitions: config.coreRepetitions }));
  await section(4, 'memory', () => benchMemory(config.memoryContainers, config.churnEvents));
  await section(7, 'after a burst', () => benchBurst({ pairs: config.burstPairs, repetitions: config.burstRepetitions }));

  // The engine sections bring the private engines up when none answer, as npm test does.
  if ([1, 2, 5, 6, 8, 9, 10].some(want) && !interrupted) {
    const { started } = await provisionEngines(runScript, say);
    provisioned = started;
    engines = testEngines();
  }

  const dockerSections = [1, 2, 5, 6].filter(want);
  const dockerUp = dockerSections.length > 0 && engines.docker !== undefined && (await engineAnswers('docker'));
  let engineVersions: Record<string, string | undefined> = {};
  if (dockerSections.length && !dockerUp) {
    for (const n of dockerSections) skipped.push({ section: n, what: 'Docker sections', why: `no Docker engine answers: run npm run engines:up` });
  }
  if (dockerUp && engines.docker) {
    const endpoint = engines.docker;
    const fleet = (dockerFleet = new DockerFleet(endpoint, engines.images.docker));
    engineVersions = { docker: await dockerVersion(fleet) };
    try {
      await fleet.removeAll();
      if (want(5)) {
        await fleet.ensure(config.resyncContainers);
        await section(5, 'Docker resync', () =>
          benchResyncDocker(endpoint, config.resyncContainers, { resyncs: config.resyncs, interval: config.resyncInterval, idle: config.idleMs }),
        );
      }
      if (want(1) || want(2) || want(6)) {
        say(`starting ${config.syncContainers} containers`);
        await fleet.ensure(config.syncContainers);
      }
      await section(1, 'initial sync', () => benchSync({ endpoint, containers: config.syncContainers, repetitions: config.syncRepetitions }));
      await section(2, 'event latency', () => benchLatency({ endpoint, fleet, samples: config.latencySamples }));
      await section(6, 'read burst', () => benchRead({ endpoint, lists: config.readLists, reads: config.reads, repetitions: config.readRepetitions }));
    } finally {
      await cleanup();
    }
  }

  if (want(10) && !interrupted) {
    const endpoint = engines.podman;
    if (!endpoint || !(await engineAnswers('podman'))) {
      skipped.push({ section: 10, what: 'Podman sync and latency', why: 'no Podman answers: run npm run engines:up' });
    } else {
      const fleet = (podmanFleet = new DockerFleet(endpoint, engines.images.podman));
      engineVersions['podman'] = await dockerVersion(fleet, 'Podman');
      try {
        await fleet.removeAll();
        say(`Podman: starting ${config.syncContainers} containers`);
        await fleet.ensure(config.syncContainers);
        const podman = { cli: engines.podmanCli, args: engines.podmanArgs, env: engines.podmanEnv };
        await section(10, 'Podman sync', () => benchSyncPodman({ endpoint, containers: config.syncContainers, repetitions: config.syncRepetitions, podman }));
        await section(10, 'Podman latency', () => benchLatency({ endpoint, fleet, samples: config.latencySamples, engine: 'Podman' }));
      } finally {
        await cleanup();
      }
    }
  }

  const containerdSections = [5, 8].filter(want);
  if (containerdSections.length && !interrupted) {
    const socket = engines.containerd;
    if (!socket || !(await engineAnswers('containerd'))) {
      for (const n of containerdSections) {
        skipped.push({ section: n, what: n === 5 ? 'containerd resync' : 'containerd sync and latency', why: 'no containerd answers: run npm run engines:up' });
      }
    } else {
      const fleet = (ctrFleet = new CtrFleet(socket));
      try {
        await fleet.removeAll();
        await fleet.prepare();
        if (want(5)) {
          await fleet.ensure(config.resyncContainers);
          await section(5, 'containerd resync', () =>
            benchResyncContainerd(socket, config.resyncContainers, { resyncs: config.resyncs, interval: config.resyncInterval, idle: config.idleMs }),
          );
        }
        if (want(8) && !interrupted) {
          say(`containerd: ${config.syncContainers} tasks`);
          await fleet.ensure(config.syncContainers);
          await section(8, 'containerd sync', () => benchContainerdSync({ socket, repetitions: config.syncRepetitions }));
          await section(8, 'containerd latency', () => benchContainerdLatency({ socket, fleet, samples: config.latencySamples }));
        }
      } finally {
        await cleanup();
      }
    }
  }

  if (want(9) && !interrupted) {
    const socket = engines.cri;
    if (!socket || !(await engineAnswers('cri'))) {
      skipped.push({ section: 9, what: 'CRI sync and latency', why: 'no CRI runtime answers: run npm run engines:up' });
    } else {
      const fleet = (criFleet = new CriFleet(socket));
      try {
        await fleet.removeAll();
        say(`CRI: ${config.criPods} pods`);
        await fleet.ensure(config.criPods);
        await section(9, 'CRI sync', () => benchCriSync({ socket, fleet, repetitions: config.syncRepetitions }));
        await section(9, 'CRI latency', () => benchCriLatency({ socket, fleet, samples: config.latencySamples, blocks: config.criLatencyBlocks }));
      } finally {
        await cleanup();
        await fleet.close();
      }
    }
  }

  rows.sort((a, b) => a.section - b.section);
  const seconds = (now() - started) / 1000;
  load.end = os.loadavg();
  const cpus = os.cpus();
  const result = {
    date: new Date().toISOString(),
    mode: config.mode,
    command: `npm run bench${quick ? ' -- --quick' : ''}${argv.filter((a) => a !== '--quick').length ? ' ' + argv.filter((a) => a !== '--quick').join(' ') : ''}`,
    seconds,
    machine: {
      hostname: os.hostname(),
      cpu: cpus[0]?.model,
      cpus: cpus.length,
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      loadavg: load,
      engines: engineVersions,
    },
    config,
    rows,
    skipped,
    missed: rows.filter((r) => r.target && !r.target.met).map((r) => r.key),
  };
  const dir = path.join(REPO_ROOT, 'bench');
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(path.join(dir, 'latest.json'), json);
  // A run of some sections only (`--only`) is no record of the whole benchmark: it does not
  // replace bench/full.json or bench/quick.json.
  if (!only) writeFileSync(path.join(dir, `${config.mode}.json`), json);

  const m = result.machine;
  console.log(`whalewatcher bench (${config.mode}), ${result.date}, ${m.cpu} × ${m.cpus}, ${m.memoryGB} GB, ${m.os}, Node ${m.node}` +
    `${Object.values(engineVersions).filter(Boolean).map((v) => `, ${v}`).join('')}; load average ${load.start[0]!.toFixed(1)} → ${(load.end?.[0] ?? NaN).toFixed(1)}`);
  console.log(table(rows, skipped));
  const missed = rows.filter((r) => r.target && !r.target.met);
  console.log(missed.length ? `MISSED: ${missed.map((r) => r.figure).join('; ')}` : 'all targets met');
  console.log(`took ${seconds.toFixed(1)} s; JSON in bench/latest.json${only ? '' : ` and bench/${config.mode}.json`}`);
  await releaseProvisioned();
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error('[bench]', err);
    await cleanup();
    await releaseProvisioned();
    process.exit(1);
  },
);
