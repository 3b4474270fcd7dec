/**
 * Helpers of the moby engine suites (Docker and Podman through the Docker API): the engine's
 * own answer through the Docker CLI, in the shape of the watcher's containers.
 */
import * as net from 'node:net';
import { PRIVILEGED_LABEL } from '../../engines/moby/adapter.js';
import { expect } from 'chai';
import type { Portfolio } from '../../lib/model.js';
import type { Watcher } from '../../lib/watcher.js';
import { crashEngine, docker, dockerWith, isProvisioned, restartEngine, testEngines, uniqueName, waitFor } from '../support/engines.js';
import { connectUpstream, listenOnUnixSocket } from '../support/unix-socket-server.js';

/**
 * The engines behind the Docker API, as the suites iterate them: Docker 20.10 (Debian 12's),
 * Docker 26 (Debian 13's, `WHALEWATCHER_TEST_DOCKER26`) and Podman. `version` is the server
 * version the provisioned engine reports (checked by the adapter suite when it is ours).
 */
export const MOBY_ENGINES = [
  { key: 'docker', title: 'Docker 20.10', type: 'docker.com', version: '20.10.', image: () => testEngines().images.docker },
  { key: 'docker26', title: 'Docker 26', type: 'docker.com', version: '26.', image: () => testEngines().images.docker },
  { key: 'podman', title: 'Podman', type: 'podman.io', version: undefined, image: () => testEngines().images.podman },
] as const;

/** The engines of {@link MOBY_ENGINES} that the costly suites (scale) run on: one Docker is enough. */
export const MOBY_ENGINES_SCALE = MOBY_ENGINES.filter((e) => e.key !== 'docker26');

/** A container as both the engine's CLI and the watcher's portfolio can tell it. */
export interface Seen {
  id: string;
  name: string;
  pid: number;
  paused: boolean;
  project: string;
  labels: Record<string, string>;
}

interface Inspection {
  Id: string;
  Name: string;
  State: { Pid: number; Paused: boolean };
  Config: { Labels: Record<string, string> | null };
  HostConfig?: { Privileged?: boolean };
}

/**
 * The engine's own answer: `docker ps -a` (Podman's `ps` without `-a` omits paused containers),
 * then `docker inspect`, keeping those with a PID; sorted by ID. When the one inspection fails
 * (a container removed meanwhile, or one dockerd still lists after a crash but cannot inspect),
 * each container is inspected alone and those that fail are left out: none of them is alive.
 */
export async function engineAnswer(endpoint: string): Promise<Seen[]> {
  const ids = (await docker(endpoint, 'ps', '-a', '-q', '--no-trunc')).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  let inspections: Inspection[];
  try {
    inspections = JSON.parse(await dockerWith(endpoint, ['inspect', ...ids], { timeoutMs: 60_000 })) as Inspection[];
  } catch {
    inspections = [];
    for (const id of ids) {
      const one = await docker(endpoint, 'inspect', id).catch(() => '');
      if (one) inspections.push(...(JSON.parse(one) as Inspection[]));
    }
  }
  return inspections
    .filter((c) => c.State.Pid > 0)
    .map((c) => {
      const labels = { ...(c.Config.Labels ?? {}) };
      if (c.HostConfig?.Privileged) labels[PRIVILEGED_LABEL] = '';
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        pid: c.State.Pid,
        paused: c.State.Paused,
        project: labels['com.docker.compose.project'] ?? '',
        labels,
      };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** The watcher's portfolio in the same shape, sorted by ID. */
export function portfolioAnswer(p: Portfolio): Seen[] {
  return p
    .containers()
    .map((c) => ({ id: c.id, name: c.name, pid: c.pid, paused: c.paused, project: c.project, labels: { ...c.labels } }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Starts a test container (`--network none`, SIGKILL-friendly) and returns its ID. */
export async function run(
  endpoint: string,
  image: string,
  options: { name?: string; project?: string; labels?: Record<string, string>; args?: string[]; cmd?: string[] } = {},
): Promise<string> {
  const args = ['run', '-d', '--network', 'none', '--label', 'whalewatcher.test=moby', '--name', options.name ?? uniqueName('moby')];
  if (options.project) args.push('--label', `com.docker.compose.project=${options.project}`);
  for (const [k, v] of Object.entries(options.labels ?? {})) args.push('--label', `${k}=${v}`);
  args.push(...(options.args ?? []), image, ...(options.cmd ?? []));
  // Under heavy load runc now and then fails to start a container ("cannot start a stopped
  // process", "broken pipe" during init): an engine hiccup, not ours. Remove the husk, try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await docker(endpoint, ...args);
    } catch (err) {
      if (attempt >= 3 || !/OCI runtime|cannot start a stopped process|failed to create shim/.test(String(err))) throw err;
      const name = args[args.indexOf('--name') + 1]!;
      await docker(endpoint, 'rm', '-f', name).catch(() => undefined);
    }
  }
}

/** Removes the suites' containers (SIGKILL), whatever state they are in. */
export async function removeTestContainers(endpoint: string): Promise<void> {
  const ids = (await docker(endpoint, 'ps', '-a', '-q', '--no-trunc', '--filter', 'label=whalewatcher.test=moby')).split('\n').filter(Boolean);
  if (!ids.length) return;
  try {
    await dockerWith(endpoint, ['rm', '-f', ...ids], { timeoutMs: 60_000 });
  } catch (err) {
    // dockerd now and then hangs in a mass removal, waiting for exits that never come
    // (ENGINES.md); a restart of our own engine clears it. Then remove what is left.
    const key = (['docker', 'docker26', 'podman'] as const).find((k) => testEngines()[k] === endpoint);
    if (!key || !isProvisioned(key, endpoint)) throw err;
    await crashEngine(key);
    await restartEngine(key);
    const left = (await docker(endpoint, 'ps', '-a', '-q', '--no-trunc', '--filter', 'label=whalewatcher.test=moby')).split('\n').filter(Boolean);
    if (left.length) await dockerWith(endpoint, ['rm', '-f', ...left], { timeoutMs: 60_000 });
  }
}

/** A proxy from {@link holdingProxy}. */
export interface HoldingProxy {
  /** The proxy's endpoint, `unix:///…`. */
  readonly api: string;
  /** Request lines seen so far (e.g. `GET /containers/json?… HTTP/1.1`), in order. */
  readonly requests: string[];
  /** Resolves when the first matching request is being held. */
  readonly held: Promise<void>;
  /** Lets the held request (or its answer) through; later matches pass freely. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A unix-socket proxy in front of an engine that holds back the FIRST request whose request
 * line matches `match`: either the request itself (`hold: 'request'`, e.g. `/events`, to open
 * the window between the adapter's daemon-time request and its subscription) or the engine's
 * answer to it (`hold: 'response'`, e.g. `/containers/json`, so that a list answer is stale by
 * the time it lands). Everything else passes through.
 */
export async function holdingProxy(target: string, match: RegExp, hold: 'request' | 'response'): Promise<HoldingProxy> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let onHeld!: () => void;
  const held = new Promise<void>((r) => (onHeld = r));
  let matched = false;
  const requests: string[] = [];
  const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const server = net.createServer((client) => {
    const upstream = connectUpstream(client, target.replace(/^unix:\/\//, ''));
    let holding: 'request' | 'response' | undefined;
    const queued: Buffer[] = [];
    void released.then(() => {
      const send = holding === 'request' ? upstream : client;
      holding = undefined;
      for (const b of queued.splice(0)) send.write(u8(b));
    });
    client.on('data', (b: Buffer) => {
      const line = b.toString('latin1').split('\r\n', 1)[0]!;
      if (/^[A-Z]+ \/\S* HTTP\/1\.[01]$/.test(line)) requests.push(line);
      if (!matched && match.test(line)) {
        matched = true;
        holding = hold;
        onHeld();
      }
      if (holding === 'request') queued.push(b);
      else upstream.write(u8(b));
    });
    upstream.on('data', (b: Buffer) => {
      if (holding === 'response') queued.push(b);
      else client.write(u8(b));
    });
  });
  const unix = await listenOnUnixSocket(server, 'moby-proxy');
  return {
    api: `unix://${unix.path}`,
    requests,
    held,
    release,
    close: () => {
      release();
      return unix.close();
    },
  };
}

/**
 * Waits until `w`'s portfolio equals the engine's own answer (asked at `endpoint`), and returns
 * it; on a timeout, fails with the difference.
 *
 * @example
 * const seen = await inSync(w, endpoint(), 'initial sync');
 */
export async function inSync(w: Watcher, endpoint: string, what: string): Promise<Seen[]> {
  let last: { engine: Seen[]; watcher: Seen[] } | undefined;
  try {
    return await waitFor(
      async () => {
        const answer = await engineAnswer(endpoint);
        const seen = portfolioAnswer(w.portfolio);
        last = { engine: answer, watcher: seen };
        return JSON.stringify(answer) === JSON.stringify(seen) ? answer : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: `portfolio in sync (${what})` },
    );
  } catch (err) {
    if (last) expect(last.watcher, what).to.deep.equal(last.engine);
    throw err;
  }
}
