/**
 * Helpers of the CLI and examples suites: the `whalewatcher` command (and other scripts) as
 * subprocesses through tsx, bounded by timeouts, and containerd's own answer through `ctr`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { NERDCTL_NAME_LABEL, DEFAULT_IGNORED_NAMESPACES } from '../../engines/containerd/names.js';
import { ExecError, REPO_ROOT, type ExecResult, ctr, exec, waitFor } from '../support/engines.js';
import type { Seen } from './moby-helpers.js';

/**
 * Client settings of the caller must not reach the command under test.
 *
 * @example
 * spawn(process.execPath, argv, { env: { ...process.env, ...CLEAN_ENV } });
 */
export const CLEAN_ENV = {
  DOCKER_HOST: undefined,
  DOCKER_CONTEXT: undefined,
  CONTAINERD_ADDRESS: undefined,
  CONTAINERD_NAMESPACE: undefined,
} as const;

/**
 * The argv prefix that runs a TypeScript file of the repository with tsx.
 *
 * @example
 * new Running([...tsxArgs('examples/events.ts')], { DOCKER_HOST: endpoint });
 */
export function tsxArgs(file: string): string[] {
  return ['--import', 'tsx', path.join(REPO_ROOT, file)];
}

/**
 * A finished command: exit code and output, whatever the exit code, and how long it ran.
 *
 * @example
 * const { code, stderr, ms } = await runCli(['--once']);
 */
export interface Finished extends ExecResult {
  readonly code: number | null;
  readonly ms: number;
}

/**
 * Runs `cli/main.ts` with `args` to its end (bounded by `timeoutMs`), whatever its exit code.
 *
 * @example
 * const r = await runCli(['--docker', endpoint, '--once', '--json']);
 */
export async function runCli(args: readonly string[], options: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}): Promise<Finished> {
  const t0 = Date.now();
  try {
    const r = await exec(process.execPath, [...tsxArgs('cli/main.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...CLEAN_ENV, ...options.env },
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    return { ...r, code: 0, ms: Date.now() - t0 };
  } catch (e) {
    if (!(e instanceof ExecError) || e.timedOut || e.code === null) throw e;
    return { stdout: e.stdout, stderr: e.stderr, code: e.code, ms: Date.now() - t0 };
  }
}

/**
 * A long-running subprocess whose output is collected, for `--events` and live views.
 *
 * @example
 * const cli = new Running([...tsxArgs('cli/main.ts'), '--events']);
 * await cli.until(() => cli.lines().length > 0, 'first event');
 * await cli.stop('SIGINT');
 */
export class Running {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(argv: readonly string[], env: Record<string, string | undefined> = {}) {
    this.child = spawn(process.execPath, [...argv], { cwd: REPO_ROOT, env: { ...process.env, ...CLEAN_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  /** Polls the output until `predicate` holds (deadline `timeoutMs`). */
  async until<T>(predicate: (r: Running) => T, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
    return waitFor(() => predicate(this), { timeoutMs, what: `${what} (stderr: ${this.stderr.slice(-500)})` });
  }

  /** Sends `signal`, then waits for the exit (SIGKILL after `timeoutMs`); resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * containerd's own answer, in the shape of a watcher's containers: every task with a PID
 * (RUNNING or PAUSED) of every namespace a default containerd watcher sees, with its
 * container's labels; sorted by ID. Containers that vanish between the calls are left out.
 *
 * @example
 * const answer = await containerdAnswer();
 */
export async function containerdAnswer(): Promise<Seen[]> {
  const namespaces = (await ctr('default', 'namespaces', 'ls', '-q')).split('\n').map((s) => s.trim()).filter(Boolean);
  const out: Seen[] = [];
  for (const ns of namespaces.filter((n) => !DEFAULT_IGNORED_NAMESPACES.includes(n))) {
    const tasks = (await ctr(ns, 'tasks', 'ls'))
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 3 && Number(f[1]) > 0 && (f[2] === 'RUNNING' || f[2] === 'PAUSED'));
    for (const [id, pid, status] of tasks) {
      let info: { Labels?: Record<string, string> | null };
      try {
        info = JSON.parse(await ctr(ns, 'containers', 'info', id!)) as typeof info;
      } catch {
        continue; // removed meanwhile
      }
      const labels = { ...(info.Labels ?? {}) };
      const q = (s: string) => (ns === 'default' ? s : `${ns}/${s}`);
      out.push({
        id: q(id!),
        name: q(labels[NERDCTL_NAME_LABEL] ?? id!),
        pid: Number(pid),
        paused: status === 'PAUSED',
        project: labels['com.docker.compose.project'] ?? '',
        labels,
      });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
