/**
 * Bringing the private test engines up for a run, and down again afterwards: what `npm test`
 * and `npm run bench` share. Engines that already answer are reused and left running; only what
 * this run started is stopped.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The engines scripts/engines/up.sh provisions. */
export const ENGINES = ['docker', 'podman', 'containerd', 'containerd16', 'remote', 'docker26'] as const;

/** With all of these set, the suites use the user's own engines and nothing is provisioned. */
export const ENDPOINT_VARIABLES = [
  'WHALEWATCHER_TEST_DOCKER',
  'WHALEWATCHER_TEST_DOCKER26',
  'WHALEWATCHER_TEST_PODMAN',
  'WHALEWATCHER_TEST_CONTAINERD',
  'WHALEWATCHER_TEST_CRI',
  'WHALEWATCHER_TEST_CRI_NOEVENTS',
  'WHALEWATCHER_TEST_DOCKER_TLS',
  'WHALEWATCHER_TEST_DOCKER_SSH',
] as const;

/** Runs a command (inherited stdio unless `pipe`); resolves with its exit code and stdout. */
export type Runner = (cmd: string, args: readonly string[], stdio?: 'inherit' | 'pipe') => Promise<{ code: number; stdout: string }>;

const script = (name: string) => path.join(path.dirname(fileURLToPath(import.meta.url)), name);

/**
 * As root on Debian, unless all {@link ENDPOINT_VARIABLES} are set: starts the engines that do
 * not answer yet (scripts/engines/up.sh). Resolves with the engines this call started, whether
 * up.sh succeeded, and how long it took.
 *
 * @example
 * const { started, ok } = await provisionEngines(run, say);
 * try { ... } finally { await releaseEngines(started, run, say); }
 */
export async function provisionEngines(run: Runner, say: (line: string) => void): Promise<{ started: string[]; ok: boolean; seconds: number }> {
  if (ENDPOINT_VARIABLES.every((v) => process.env[v])) {
    say('engines come from the WHALEWATCHER_TEST_* variables: not provisioning any');
    return { started: [], ok: true, seconds: 0 };
  }
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) {
    say('not root on Debian: not provisioning engines (they come from RUN/env or the WHALEWATCHER_TEST_* variables)');
    return { started: [], ok: true, seconds: 0 };
  }
  const check = await run('bash', [script('up.sh'), '--check'], 'pipe');
  const answering = new Set(check.stdout.split('\n').filter(Boolean));
  const missing = ENGINES.filter((e) => !answering.has(e));
  if (missing.length === 0) {
    say('engines are already up: reusing them (and leaving them up)');
    return { started: [], ok: true, seconds: 0 };
  }
  say(`engines:up (not answering yet: ${missing.join(', ')})`);
  const t0 = Date.now();
  const up = await run('bash', [script('up.sh')]);
  const seconds = (Date.now() - t0) / 1000;
  say(up.code === 0 ? `engines:up took ${seconds.toFixed(1)} s` : `engines:up FAILED after ${seconds.toFixed(1)} s (exit code ${up.code})`);
  return { started: missing, ok: up.code === 0, seconds };
}

/**
 * Stops the engines that {@link provisionEngines} started (scripts/engines/down.sh), none other.
 *
 * @example
 * await releaseEngines(started, run, say);
 */
export async function releaseEngines(started: readonly string[], run: Runner, say: (line: string) => void): Promise<void> {
  if (started.length === 0) return;
  const all = ENGINES.every((e) => started.includes(e));
  say(`engines:down (${all ? 'all' : started.join(', ')}: started by this run)`);
  const down = await run('bash', all ? [script('down.sh')] : [script('down.sh'), '--only', started.join(',')]);
  if (down.code !== 0) say(`engines:down failed (exit code ${down.code})`);
}
