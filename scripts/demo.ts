/**
 * `npm run demo`: the whalewatcher command's live view over a small workload that changes for
 * about a minute.
 *
 * 1. Brings the private engines up (`scripts/engines/up.sh`, as root on Debian), unless they
 *    already answer (or the `WHALEWATCHER_TEST_*` variables name engines of your own).
 * 2. Starts `whalewatcher` (cli/main.ts through tsx) on Docker, containerd and containerd's CRI
 *    plugin, drawing in this terminal.
 * 3. Runs the workload: two compose projects in Docker (labels as compose sets them), containers
 *    in containerd (nerdctl-style names, made with ctr) and a CRI pod; then starts, pauses,
 *    resumes and stops things on a timeline.
 * 4. Stops the view, removes every container it made, stops the engines it started, and prints
 *    what happened when.
 *
 * Usage: `npm run demo`, `npm run demo -- --seconds 20` (a shorter timeline). Ctrl-C ends it
 * early, cleaning up all the same.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CriTestClient } from '../spec/support/cri-client.js';
import {
  REPO_ROOT,
  ctr,
  ctrRunFlags,
  docker,
  engineAnswers,
  exec,
  testEngines,
} from '../spec/support/engines.js';

const LABEL = 'whalewatcher.demo=1';
const CTR_NS = 'default';
const CRI_NS = 'ww-demo';
const CTR_IDS = ['ww-demo-batch-1', 'ww-demo-batch-2', 'ww-demo-solo'];
const ENGINES = ['docker', 'podman', 'containerd', 'containerd16'] as const;

const { values } = parseArgs({ options: { seconds: { type: 'string' } } });
const seconds = Number(values.seconds ?? 60);
if (!Number.isFinite(seconds) || seconds < 5) throw new Error(`--seconds wants at least 5, not ${values.seconds}`);

const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);
const log: string[] = [];
let t0 = Date.now();
const note = (line: string) => log.push(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${line}`);

let interrupted = false;
let cli: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    cli?.kill('SIGINT');
  });
}

/** Brings up the engines that do not answer; returns the names of those it started. */
async function enginesUp(): Promise<string[]> {
  const e = testEngines();
  const need = [e.docker, e.containerd, e.cri];
  if (need.every(Boolean)) {
    const answers = await Promise.all([engineAnswers('docker'), engineAnswers('containerd'), engineAnswers('cri')]);
    if (answers.every(Boolean)) {
      say('engines answer already: reusing them (and leaving them up)');
      return [];
    }
  }
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) {
    throw new Error('the private engines are not up, and starting them needs root on Debian 12: run `sudo npm run demo`');
  }
  const script = path.join(REPO_ROOT, 'scripts', 'engines', 'up.sh');
  const check = await exec('bash', [script, '--check'], { timeoutMs: 60_000 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const answering = new Set(check.stdout.split('\n').filter(Boolean));
  const missing = ENGINES.filter((n) => !answering.has(n));
  say(`npm run engines:up (not answering yet: ${missing.join(', ')}); the first time installs packages and takes a few minutes`);
  await new Promise<void>((resolve, reject) => {
    const up = spawn('bash', [script], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    up.on('error', reject);
    up.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`engines:up failed (exit code ${code})`))));
  });
  return missing;
}

async function enginesDown(started: readonly string[]): Promise<void> {
  if (started.length === 0) return;
  const script = path.join(REPO_ROOT, 'scripts', 'engines', 'down.sh');
  const all = ENGINES.every((n) => started.includes(n));
  say(`engines:down (${all ? 'all' : started.join(', ')}: started by the demo)`);
  await exec('bash', all ? [script] : [script, '--only', started.join(',')], { timeoutMs: 180_000 }).catch((e: Error) =>
    say(`engines:down failed: ${e.message}`),
  );
}

/** The workload: what runs where, and what happens when (at a share of the run). */
function workload(endpoints: { docker: string; containerd: string; cri: string }) {
  const e = testEngines();
  const cri = new CriTestClient(endpoints.cri);
  const ids: Record<string, string> = {};
  const dockerRun = async (project: string, service: string) => {
    const name = `${project}-${service}-1`;
    ids[name] = await docker(endpoints.docker, 'run', '-d', '--network', 'none', '--label', LABEL,
      '--label', `com.docker.compose.project=${project}`, '--label', `com.docker.compose.service=${service}`,
      '--name', name, e.images.docker, 'sleep', '3600');
    note(`docker: started ${name} (project ${project})`);
  };
  const dockerDo = async (verb: 'pause' | 'unpause' | 'kill', name: string) => {
    await docker(endpoints.docker, verb, ids[name]!);
    note(`docker: ${verb} ${name}`);
  };
  const ctrRun = async (id: string, name: string, project?: string) => {
    const labels = ['--label', `nerdctl/name=${name}`, ...(project ? ['--label', `com.docker.compose.project=${project}`] : [])];
    await ctr(CTR_NS, 'run', '-d', ...ctrRunFlags(), ...labels, e.images.containerd, id, '/bin/sleep', '3600');
    note(`containerd: started ${name}`);
  };
  const ctrTask = async (verb: 'pause' | 'resume' | 'kill', id: string) => {
    await ctr(CTR_NS, 'tasks', verb, ...(verb === 'kill' ? ['-s', 'SIGKILL'] : []), id);
    note(`containerd: ${verb} ${id}`);
  };
  let pod: { sandboxId: string } | undefined;

  const steps: Array<[number, () => Promise<void>]> = [
    [0.0, () => dockerRun('shop', 'web')],
    [0.02, () => dockerRun('shop', 'db')],
    [0.04, () => dockerRun('blog', 'app')],
    [0.08, () => ctrRun('ww-demo-batch-1', 'batch-worker-1', 'batch')],
    [0.1, () => ctrRun('ww-demo-batch-2', 'batch-worker-2', 'batch')],
    [0.12, () => ctrRun('ww-demo-solo', 'solo')],
    [0.16, async () => {
      pod = await cri.runPod({ namespace: CRI_NS, name: 'web', containers: [{ name: 'server' }, { name: 'sidecar' }] });
      note(`cri: started pod ${CRI_NS}/web with server and sidecar`);
    }],
    [0.25, () => dockerDo('pause', 'shop-db-1')],
    [0.32, () => dockerRun('shop', 'worker')],
    [0.4, () => ctrTask('pause', 'ww-demo-batch-1')],
    [0.48, () => dockerDo('unpause', 'shop-db-1')],
    [0.55, () => dockerDo('kill', 'blog-app-1')],
    [0.62, () => ctrTask('resume', 'ww-demo-batch-1')],
    [0.68, () => ctrTask('kill', 'ww-demo-batch-2')],
    [0.75, async () => {
      if (pod) await cri.stopPod(pod.sandboxId);
      note(`cri: stopped pod ${CRI_NS}/web`);
    }],
    [0.82, () => dockerDo('kill', 'shop-worker-1')],
    [0.9, () => dockerDo('pause', 'shop-web-1')],
  ];

  const cleanup = async (last: boolean) => {
    const mine = (await docker(endpoints.docker, 'ps', '-a', '-q', '--filter', `label=${LABEL}`).catch(() => '')).split('\n').filter(Boolean);
    if (mine.length) await docker(endpoints.docker, 'rm', '-f', ...mine).catch(() => undefined);
    for (const id of CTR_IDS) {
      await ctr(CTR_NS, 'tasks', 'rm', '-f', id).catch(() => undefined);
      await ctr(CTR_NS, 'containers', 'rm', id).catch(() => undefined);
    }
    await cri.removePodsIn([CRI_NS]).catch(() => undefined);
    if (last) await cri.close();
  };
  return { steps, cleanup };
}

async function main(): Promise<number> {
  const started = await enginesUp();
  const e = testEngines();
  if (!e.docker || !e.containerd || !e.cri) throw new Error('no endpoints for Docker, containerd and CRI (RUN/env or WHALEWATCHER_TEST_*)');
  const endpoints = { docker: e.docker, containerd: e.containerd, cri: e.cri };
  const { steps, cleanup } = workload(endpoints);
  await cleanup(false).catch(() => undefined); // leftovers of an interrupted run
  let failed = false;
  try {
    say(`starting the live view for ${seconds} s (Ctrl-C ends it early)`);
    t0 = Date.now();
    cli = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'cli', 'main.ts'), '--docker', endpoints.docker, '--containerd', endpoints.containerd, '--cri', endpoints.cri, '--interval', '200', '--resync', '2'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DOCKER_HOST: undefined } },
    );
    const cliExit = new Promise<number | null>((resolve) => cli!.on('close', (code) => resolve(code)));
    for (const [at, step] of steps) {
      const due = t0 + at * seconds * 1000;
      while (!interrupted && Date.now() < due) await new Promise((r) => setTimeout(r, Math.min(200, due - Date.now())));
      if (interrupted) break;
      await step().catch((err: Error) => {
        failed = true;
        note(`FAILED: ${err.message}`);
      });
    }
    const end = t0 + seconds * 1000;
    while (!interrupted && Date.now() < end) await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
    cli.kill('SIGINT');
    const code = await Promise.race([cliExit, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    if (code !== 0) {
      cli.kill('SIGKILL');
      failed = true;
      note(`the live view ended with ${code === null ? 'no exit in 10 s' : `exit code ${code}`}`);
    }
  } finally {
    say('removing the demo containers');
    await cleanup(true).catch((err: Error) => say(`cleanup: ${err.message}`));
    await enginesDown(started);
  }
  process.stdout.write(`\nWhat the demo did (the live view showed each change as it happened):\n${log.join('\n')}\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
