/**
 * Test support for the suites that run against REAL engines (spec/engines/…).
 *
 * Where the engines come from: `npm run engines:up` (scripts/engines/up.sh) starts private
 * instances of dockerd, Docker Engine 26 (Debian 13's dockerd), Podman's Docker-compatible service,
 * containerd 1.7 (native API + CRI) and containerd 1.6 (CRI without `GetContainerEvents`) below one run folder
 * (`$WHALEWATCHER_RUN_DIR`, default `/var/lib/whalewatcher-test`) and writes their endpoints to
 * `RUN/env`. Users may point the suites at engines of their own with the environment variables
 * `WHALEWATCHER_TEST_DOCKER`, `WHALEWATCHER_TEST_DOCKER26`, `WHALEWATCHER_TEST_PODMAN`, `WHALEWATCHER_TEST_CONTAINERD`,
 * `WHALEWATCHER_TEST_CRI` and `WHALEWATCHER_TEST_CRI_NOEVENTS`: they win over `RUN/env`.
 *
 * How a suite asks for an engine (two equivalent ways):
 *
 * ```ts
 * // 1. inside a describe(): the hook resolves with the endpoint
 * let docker: string;
 * before(async function () { docker = await requireEngine(this, 'docker'); });
 *
 * // 2. the wrapper: a describe() whose before() does exactly that, with a 60 s test timeout
 * describeEngine('podman', 'moby adapter on Podman', (endpoint) => {
 *   it('lists', async () => { await docker(endpoint(), 'ps'); });
 * });
 * ```
 *
 * A missing engine (no endpoint, or one that does not answer and cannot be restarted) FAILS
 * the suite under `CI=true` (the `before` hook throws); elsewhere the suite is skipped and ONE
 * loud line per engine names what is missing and the command that provides it.
 *
 * Every engine command line goes through {@link exec}, which bounds it with a timeout (30 s
 * unless told otherwise): an engine that hangs fails the test instead of hanging the run, and
 * setup code can then call {@link restartEngine}. {@link crashEngine} / {@link restartEngine}
 * call the provisioning scripts, so there is one implementation of how an engine is started.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The command that provides the engines. */
export const ENGINES_UP_COMMAND = 'npm run engines:up';

/** What a suite can ask for: one endpoint each. */
export type EngineKey = 'docker' | 'docker26' | 'podman' | 'containerd' | 'cri' | 'criNoEvents';

/** The private engine processes that can be crashed and restarted. */
export type EngineName = 'docker' | 'docker26' | 'podman' | 'containerd' | 'containerd16';

/** The environment variable that names each endpoint. */
export const ENGINE_VARIABLES: Readonly<Record<EngineKey, string>> = {
  docker: 'WHALEWATCHER_TEST_DOCKER',
  docker26: 'WHALEWATCHER_TEST_DOCKER26',
  podman: 'WHALEWATCHER_TEST_PODMAN',
  containerd: 'WHALEWATCHER_TEST_CONTAINERD',
  cri: 'WHALEWATCHER_TEST_CRI',
  criNoEvents: 'WHALEWATCHER_TEST_CRI_NOEVENTS',
};

/** Which private engine process serves each endpoint when the provisioning provides it. */
export const ENGINE_OF: Readonly<Record<EngineKey, EngineName>> = {
  docker: 'docker',
  docker26: 'docker26',
  podman: 'podman',
  containerd: 'containerd',
  cri: 'containerd',
  criNoEvents: 'containerd16',
};

/** Endpoints and tools for the engine suites. Endpoints are undefined when not available. */
export interface TestEngines {
  /** Docker API endpoint, `unix:///…/docker.sock`. */
  readonly docker?: string;
  /** Docker API endpoint of a second, newer Docker Engine (26), `unix:///…/docker26.sock`. */
  readonly docker26?: string;
  /** Podman's Docker-compatible API endpoint, `unix:///…/podman.sock`. */
  readonly podman?: string;
  /** containerd (native API) socket path. */
  readonly containerd?: string;
  /** CRI socket path of a runtime with `GetContainerEvents` (containerd 1.7). */
  readonly cri?: string;
  /** CRI socket path of a runtime without `GetContainerEvents` (containerd 1.6). */
  readonly criNoEvents?: string;
  /** The provisioning's run folder. */
  readonly runDir: string;
  /** The Docker client binary (used for Docker and for Podman's socket). */
  readonly dockerCli: string;
  /** `ctr` of containerd 1.7. */
  readonly ctr: string;
  /** `ctr` of containerd 1.6. */
  readonly ctr16: string;
  /** The podman command line, its private flags and environment. */
  readonly podmanCli: string;
  readonly podmanArgs: readonly string[];
  readonly podmanEnv: Readonly<Record<string, string>>;
  /** The local test image, as each engine names it. */
  readonly images: { readonly docker: string; readonly podman: string; readonly containerd: string };
}

/** The provisioning's run folder: `$WHALEWATCHER_RUN_DIR`, default `/var/lib/whalewatcher-test`. */
export function runDir(): string {
  return (process.env['WHALEWATCHER_RUN_DIR'] || '/var/lib/whalewatcher-test').replace(/\/+$/, '');
}

/** Reads `RUN/env` (KEY=VALUE lines); empty when there is none. */
function readEnvFile(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  let text: string;
  try {
    text = readFileSync(path.join(dir, 'env'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/**
 * The engines for the suites: `WHALEWATCHER_TEST_*` environment variables win, else the values
 * that `npm run engines:up` wrote to `RUN/env`. Read afresh on every call (cheap).
 *
 * @example
 * const { docker, images } = testEngines();
 * if (docker) await docker(docker, 'run', '-d', '--network', 'none', images.docker);
 */
export function testEngines(): TestEngines {
  const dir = runDir();
  const file = readEnvFile(dir);
  const get = (key: string): string | undefined => process.env[key] || file[key] || undefined;
  const podmanEnv: Record<string, string> = {};
  for (const pair of (get('WHALEWATCHER_TEST_PODMAN_ENV') ?? '').split(' ').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq > 0) podmanEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const engines: { -readonly [K in keyof TestEngines]: TestEngines[K] } = {
    runDir: dir,
    dockerCli: get('WHALEWATCHER_TEST_DOCKER_CLI') ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'),
    ctr: get('WHALEWATCHER_TEST_CTR') ?? '/var/cache/whalewatcher/containerd17/usr/bin/ctr',
    ctr16: get('WHALEWATCHER_TEST_CTR16') ?? '/usr/bin/ctr',
    podmanCli: get('WHALEWATCHER_TEST_PODMAN_CLI') ?? '/usr/bin/podman',
    podmanArgs: (get('WHALEWATCHER_TEST_PODMAN_ARGS') ?? '').split(' ').filter(Boolean),
    podmanEnv,
    images: {
      docker: get('WHALEWATCHER_TEST_IMAGE') ?? 'busybox:local',
      podman: get('WHALEWATCHER_TEST_IMAGE_PODMAN') ?? 'localhost/busybox:local',
      containerd: get('WHALEWATCHER_TEST_IMAGE_CONTAINERD') ?? 'docker.io/library/busybox:local',
    },
  };
  for (const key of Object.keys(ENGINE_VARIABLES) as EngineKey[]) {
    const value = get(ENGINE_VARIABLES[key]);
    if (value) engines[key] = value;
  }
  return engines;
}

/** The endpoint the provisioning gives `key` (whether or not it is up). */
function provisionedEndpoint(key: EngineKey, dir = runDir()): string {
  switch (key) {
    case 'docker':
      return `unix://${dir}/docker.sock`;
    case 'docker26':
      return `unix://${dir}/docker26.sock`;
    case 'podman':
      return `unix://${dir}/podman.sock`;
    case 'containerd':
    case 'cri':
      return `${dir}/containerd.sock`;
    case 'criNoEvents':
      return `${dir}/containerd16.sock`;
  }
}

/** The socket path of an endpoint given as `unix:///path` or `/path`. */
export function socketPath(endpoint: string): string {
  return endpoint.replace(/^unix:\/\//, '');
}

/**
 * True when `endpoint` (default: the current one) is served by the project's own private
 * engine, which the helpers may crash and restart; false for engines the user pointed us at.
 */
export function isProvisioned(key: EngineKey, endpoint = testEngines()[key]): boolean {
  return endpoint !== undefined && socketPath(endpoint) === socketPath(provisionedEndpoint(key));
}

// ---------------------------------------------------------------------------------------------
// running commands

/** Options of {@link exec}. */
export interface ExecOptions {
  /** Kill the command (SIGKILL) and reject after this long; default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Written to the command's standard input, which is then closed. */
  readonly input?: string | Buffer;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
}

/** What a finished command printed. */
export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A command that failed, timed out or could not start. */
export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    message: string,
    readonly command: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

/** The default bound of every engine command. */
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;

/**
 * Runs a command, bounded by a timeout (default 30 s, then SIGKILL). Resolves with its output
 * when it exits with 0; rejects with an {@link ExecError} whose message carries the command and
 * its stderr otherwise.
 *
 * @example
 * const { stdout } = await exec('docker', ['-H', endpoint, 'ps', '-q'], { timeoutMs: 10_000 });
 */
export function exec(cmd: string, args: readonly string[] = [], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const shown = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    timer.unref();
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => (stdout += s));
    child.stderr.on('data', (s: string) => (stderr += s));
    child.stdin.on('error', () => undefined); // a command that exits before reading its input
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ExecError(`${shown}: cannot run: ${e.message}`, shown, null, '', '', false));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (timedOut) {
        reject(new ExecError(`${shown}: timed out after ${timeoutMs} ms${stderr ? `: ${stderr.trim()}` : ''}`, shown, code, stdout, stderr, true));
      } else if (code !== 0) {
        const why = code === null ? `killed by ${signal}` : `exit code ${code}`;
        reject(new ExecError(`${shown}: ${why}: ${stderr.trim() || stdout.trim()}`, shown, code, stdout, stderr, false));
      } else {
        resolve({ stdout, stderr });
      }
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

// Client settings of the caller must not send our CLI calls to another engine.
const CLIENT_ENV = {
  DOCKER_HOST: undefined,
  DOCKER_CONTEXT: undefined,
  DOCKER_TLS_VERIFY: undefined,
  DOCKER_CERT_PATH: undefined,
  CONTAINERD_ADDRESS: undefined,
  CONTAINERD_NAMESPACE: undefined,
} as const;

/**
 * The Docker CLI against an endpoint (Docker's or Podman's socket), with the default timeout.
 * Resolves with the trimmed standard output.
 *
 * @example
 * const id = await docker(endpoint, 'run', '-d', '--network', 'none', 'busybox:local');
 */
export async function docker(endpoint: string, ...args: string[]): Promise<string> {
  return dockerWith(endpoint, args);
}

/** {@link docker} with options (timeout, input). */
export async function dockerWith(endpoint: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const host = endpoint.includes('://') ? endpoint : `unix://${endpoint}`;
  const { stdout } = await exec(testEngines().dockerCli, ['-H', host, ...args], {
    ...options,
    env: { ...CLIENT_ENV, ...options.env },
  });
  return stdout.trim();
}

/**
 * `ctr` of containerd 1.7 against the containerd endpoint, in `namespace`, with the default
 * timeout. Resolves with the trimmed standard output.
 *
 * @example
 * await ctr('ww-test', 'tasks', 'kill', '-s', 'SIGKILL', 'c1');
 */
export async function ctr(namespace: string, ...args: string[]): Promise<string> {
  const address = testEngines().containerd;
  if (!address) throw new Error(`no containerd endpoint: set ${ENGINE_VARIABLES.containerd} or run ${ENGINES_UP_COMMAND}`);
  return ctrAt(address, namespace, args);
}

/**
 * Flags for `ctr run` that keep runc's state and the task's IO fifos inside the run folder
 * (by default ctr puts them below /run/containerd, shared with a system containerd). Empty
 * for a containerd that is not the provisioning's.
 *
 * @example
 * await ctr('ww-test', 'run', '--detach', ...ctrRunFlags(), image, 'c1');
 */
export function ctrRunFlags(engine: 'containerd' | 'containerd16' = 'containerd'): string[] {
  if (!isProvisioned(engine === 'containerd' ? 'containerd' : 'criNoEvents')) return [];
  const dir = path.join(runDir(), engine);
  return ['--runc-root', path.join(dir, 'runc'), '--fifo-dir', path.join(dir, 'fifo')];
}

/**
 * Any `ctr` against any containerd socket (e.g. `testEngines().ctr16` for containerd 1.6).
 *
 * @example
 * const { criNoEvents, ctr16 } = testEngines();
 * await ctrAt(criNoEvents!, 'k8s.io', ['images', 'ls', '-q'], { binary: ctr16 });
 */
export async function ctrAt(
  address: string,
  namespace: string,
  args: readonly string[],
  options: ExecOptions & { readonly binary?: string } = {},
): Promise<string> {
  const binary = options.binary ?? testEngines().ctr;
  const { stdout } = await exec(binary, ['--address', socketPath(address), '--namespace', namespace, ...args], {
    ...options,
    env: { ...CLIENT_ENV, ...options.env },
  });
  return stdout.trim();
}

/**
 * The podman command line on the private Podman instance's storage (its private flags and
 * configuration), with the default timeout.
 *
 * @example
 * const names = await podman('ps', '--format', '{{.Names}}');
 */
export async function podman(...args: string[]): Promise<string> {
  const e = testEngines();
  const { stdout } = await exec(e.podmanCli, [...e.podmanArgs, ...args], { env: { ...e.podmanEnv } });
  return stdout.trim();
}

// ---------------------------------------------------------------------------------------------
// waiting

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long; default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Poll this often; default 100 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the error message. */
  readonly what?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (resolved with it) or the deadline passes
 * (rejected, with the predicate's last error if it threw). A predicate that throws counts as
 * "not yet".
 *
 * @example
 * await waitFor(async () => (await docker(ep, 'inspect', '-f', '{{.State.Status}}', id)) === 'exited',
 *   { timeoutMs: 5_000, what: 'container exited' });
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`${options.what ?? 'condition'} not met within ${timeoutMs} ms${why}`);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(intervalMs, deadline - Date.now()))));
  }
}

// ---------------------------------------------------------------------------------------------
// is it there, does it answer

/** Resolves true when a unix socket accepts a connection within `timeoutMs`. */
function socketAccepts(file: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * True when the engine behind `key` answers (a real request, not just an existing socket):
 * `docker version` for Docker and Podman, `ctr version` for containerd, and for CRI endpoints
 * `ctr version` when it is the provisioning's containerd, else a connection to the socket.
 *
 * @example
 * if (!(await engineAnswers('docker'))) await restartEngine('docker');
 */
export async function engineAnswers(key: EngineKey, endpoint = testEngines()[key], timeoutMs = 10_000): Promise<boolean> {
  if (!endpoint) return false;
  const e = testEngines();
  try {
    switch (key) {
      case 'docker':
      case 'docker26':
      case 'podman':
        await dockerWith(endpoint, ['version', '--format', '{{.Server.Version}}'], { timeoutMs });
        return true;
      case 'containerd':
        await ctrAt(endpoint, 'default', ['version'], { timeoutMs });
        return true;
      case 'cri':
      case 'criNoEvents':
        if (isProvisioned(key, endpoint)) {
          await ctrAt(endpoint, 'default', ['version'], { timeoutMs, binary: key === 'cri' ? e.ctr : e.ctr16 });
          return true;
        }
        return await socketAccepts(socketPath(endpoint), timeoutMs);
    }
  } catch {
    return false;
  }
}

const announced = new Set<EngineKey>();

/**
 * Skips the current test or suite for `reason`, except under `CI=true`, where nothing may be
 * skipped: there it fails with the reason instead.
 *
 * @example
 * before(function () { if (!isProvisioned('podman')) skipOrFail(this, 'not our Podman: never crash it'); });
 */
export function skipOrFail(ctx: Mocha.Context, reason: string): never {
  if (process.env['CI'] === 'true') throw new Error(`cannot skip under CI=true: ${reason}`);
  console.warn(`      (skipped: ${reason})`);
  return ctx.skip();
}

/**
 * For a mocha `before` hook: resolves with the endpoint of `key` when the engine answers. An
 * engine of the provisioning that stopped answering is restarted first. When the engine is
 * missing: under `CI=true` it throws (the suite fails); elsewhere it prints one loud line per
 * engine and skips the suite.
 *
 * @example
 * before(async function () { endpoint = await requireEngine(this, 'containerd'); });
 */
export async function requireEngine(ctx: Mocha.Context, key: EngineKey): Promise<string> {
  // A restart may take a while; a hook without a timeout keeps none.
  if (ctx.timeout() > 0) ctx.timeout(Math.max(ctx.timeout(), 240_000));
  const endpoint = testEngines()[key];
  let reason: string | undefined;
  if (!endpoint) {
    reason = `no endpoint (${ENGINE_VARIABLES[key]} unset and no ${path.join(runDir(), 'env')} entry)`;
  } else if (!(await engineAnswers(key, endpoint))) {
    reason = `no answer on ${endpoint}`;
    if (isProvisioned(key, endpoint)) {
      try {
        await restartEngine(ENGINE_OF[key]);
        reason = undefined;
      } catch (e) {
        reason += `; restarting it failed: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  }
  if (reason === undefined && endpoint) return endpoint;
  const message =
    `engine '${key}' is missing: ${reason}. ` +
    `Provide it with \`${ENGINES_UP_COMMAND}\` (as root on Debian 12) or set ${ENGINE_VARIABLES[key]}.`;
  if (process.env['CI'] === 'true') throw new Error(message);
  if (!announced.has(key)) {
    announced.add(key);
    console.warn(`\n!!!!! SKIPPING the '${key}' engine suites: ${message}\n`);
  }
  return ctx.skip();
}

/**
 * `describe(title, …)` for a suite that needs engine `key`: its `before` hook calls
 * {@link requireEngine}, tests get a 60 s timeout, and `fn` receives a getter for the endpoint
 * (valid once the hook has run; it throws otherwise). Note that mocha still runs `after` hooks
 * of a skipped suite: guard cleanup there (e.g. `.then(() => docker(endpoint(), …)).catch(…)`).
 *
 * @example
 * describeEngine('docker', 'moby watcher on Docker', (endpoint) => {
 *   it('syncs', async () => { const w = mobyWatcher(endpoint()); await w.ready(); await w.close(); });
 * });
 */
export function describeEngine(key: EngineKey, title: string, fn: (endpoint: () => string) => void): Mocha.Suite {
  return describe(title, function () {
    this.timeout(60_000);
    let endpoint: string | undefined;
    before(async function () {
      endpoint = await requireEngine(this, key);
    });
    fn(() => {
      if (endpoint === undefined) throw new Error(`engine '${key}' is not ready (its before hook has not run)`);
      return endpoint;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// crash and restart (through the provisioning scripts: one implementation)

const SCRIPTS = path.join(REPO_ROOT, 'scripts', 'engines');

function assertProvisioned(name: EngineName): void {
  const key: EngineKey = name === 'containerd16' ? 'criNoEvents' : name;
  const endpoint = testEngines()[key];
  if (endpoint && !isProvisioned(key, endpoint)) {
    throw new Error(`${name} at ${endpoint} is not one of the provisioning's private engines: refusing to crash or restart it`);
  }
}

/** The PID of a private engine's daemon (0 when it is not running). */
export function enginePid(name: EngineName): number {
  const file =
    name === 'docker' || name === 'docker26' ? path.join(runDir(), name, 'dockerd.pid') : path.join(runDir(), name, `${name}.pid`);
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isFinite(pid) && existsSync(`/proc/${pid}`) ? pid : 0;
  } catch {
    return 0;
  }
}

/**
 * Crashes a private engine: SIGKILL to its daemon only (shims, conmon, containers and dockerd's
 * own containerd stay, as after a real crash). Resolves when the daemon is gone.
 *
 * @example
 * await crashEngine('containerd');
 * await restartEngine('containerd');
 */
export async function crashEngine(name: EngineName): Promise<void> {
  assertProvisioned(name);
  await exec('bash', [path.join(SCRIPTS, 'crash.sh'), name], { timeoutMs: 30_000 });
}

/**
 * Starts a private engine again (`scripts/engines/up.sh --only NAME`: removes the leftovers of
 * a crash, such as dockerd's pid file and its orphaned containerd, and kills a daemon that
 * hangs). Resolves only when the engine answers.
 *
 * @example
 * await restartEngine('docker');
 */
export async function restartEngine(name: EngineName, options: { readonly timeoutMs?: number } = {}): Promise<void> {
  assertProvisioned(name);
  const timeoutMs = options.timeoutMs ?? 180_000;
  await exec('bash', [path.join(SCRIPTS, 'up.sh'), '--only', name], { timeoutMs });
  const key: EngineKey = name === 'containerd16' ? 'criNoEvents' : name;
  await waitFor(() => engineAnswers(key, provisionedEndpoint(key)), {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: `${name} answering after restart`,
  });
}

/**
 * Imports the test image (`docker.io/library/busybox:local`) into another containerd
 * namespace of a private containerd (1.7 by default). `default`, `k8s.io` and `ww-test` have
 * it already (1.6: `k8s.io`).
 *
 * @example
 * await importTestImage('my-suite-ns');
 */
export async function importTestImage(namespace: string, engine: 'containerd' | 'containerd16' = 'containerd'): Promise<void> {
  assertProvisioned(engine);
  await exec('bash', [path.join(SCRIPTS, 'import-image.sh'), namespace, engine], { timeoutMs: 120_000 });
}

/** A name for test containers that is unique per run: `ww-<prefix>-<pid>-<counter>`. */
let counter = 0;
export function uniqueName(prefix: string): string {
  counter += 1;
  return `ww-${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
