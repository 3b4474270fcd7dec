import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DockerContextError, currentDockerContext, readDockerContext } from '../engines/moby/context.js';
import type { MobyTlsOptions } from '../engines/moby/host.js';
import type { EngineArgs, EngineKind } from './args.js';

/**
 * One engine to watch: its kind, endpoint and where that came from.
 *
 * @example
 * const spec: EngineSpec = { kind: 'docker', endpoint: 'unix:///var/run/docker.sock', source: 'default' };
 */
export interface EngineSpec {
  readonly kind: EngineKind;
  readonly endpoint: string;
  /**
   * `flag` (the command line), `DOCKER_HOST`, `context` (the Docker CLI's current context:
   * `DOCKER_CONTEXT`, else `currentContext` of its config.json), or `default` (a usual place
   * whose socket exists, the user's own sockets under `XDG_RUNTIME_DIR` included).
   */
  readonly source: 'flag' | 'DOCKER_HOST' | 'context' | 'default';
  /** The Docker context's name (`source: 'context'`). */
  readonly context?: string;
  /** The Docker context's TLS settings (`false`: none); pass them as `mobyWatcher`'s `tls` option. */
  readonly tls?: MobyTlsOptions | false;
}

/**
 * The outcome of discovery: what to watch, and every place that was considered (for the
 * message when nothing answers).
 *
 * @example
 * const { engines, tried } = discoverEngines(args.engines);
 */
export interface Discovery {
  readonly engines: readonly EngineSpec[];
  readonly tried: readonly string[];
}

/**
 * Usual places of each engine's socket, tried when no engine is given.
 *
 * @example
 * DEFAULT_PLACES.containerd; // ['/run/containerd/containerd.sock']
 */
export const DEFAULT_PLACES: Readonly<Record<EngineKind, readonly string[]>> = {
  docker: ['unix:///var/run/docker.sock', 'unix:///run/podman/podman.sock'],
  containerd: ['/run/containerd/containerd.sock'],
  cri: ['/run/crio/crio.sock', '/run/cri-dockerd.sock', '/run/k3s/containerd/containerd.sock'],
};

const socketOf = (endpoint: string) => endpoint.replace(/^unix:\/\//, '');

/**
 * The user's own Docker and Podman sockets (rootless Docker, `podman system service` as a user):
 * `$XDG_RUNTIME_DIR/docker.sock` and `$XDG_RUNTIME_DIR/podman/podman.sock`; none without
 * `XDG_RUNTIME_DIR`.
 *
 * @example
 * userDockerPlaces({ XDG_RUNTIME_DIR: '/run/user/1000' }); // ['unix:///run/user/1000/docker.sock', 'unix:///run/user/1000/podman/podman.sock']
 */
export function userDockerPlaces(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const dir = env['XDG_RUNTIME_DIR'];
  if (!dir || !dir.startsWith('/')) return [];
  return [`unix://${join(dir, 'docker.sock')}`, `unix://${join(dir, 'podman', 'podman.sock')}`];
}

/**
 * The engines to watch: those given on the command line; without any, `DOCKER_HOST` (if set),
 * else the Docker CLI's current context (`DOCKER_CONTEXT`, else `currentContext` of
 * `$DOCKER_CONFIG/config.json`), and every usual place whose socket exists: the system's
 * sockets and the user's own under `XDG_RUNTIME_DIR` (rootless Docker, Podman).
 *
 * @example
 * discoverEngines({ docker: [], containerd: [], cri: [] }, { DOCKER_HOST: 'tcp://10.0.0.5:2375' });
 */
export function discoverEngines(
  given: EngineArgs,
  env: Readonly<Record<string, string | undefined>> = process.env,
  exists: (path: string) => boolean = existsSync,
): Discovery {
  const engines: EngineSpec[] = [];
  const tried: string[] = [];
  const add = (kind: EngineKind, endpoint: string, source: EngineSpec['source'], extra: Partial<EngineSpec> = {}) => {
    if (!engines.some((e) => e.kind === kind && e.endpoint === endpoint)) engines.push({ kind, endpoint, source, ...extra });
  };
  for (const kind of ['docker', 'containerd', 'cri'] as const) for (const e of given[kind]) add(kind, e, 'flag');
  if (engines.length) return { engines, tried: engines.map((e) => `--${e.kind} ${e.endpoint}`) };

  const dockerHost = env['DOCKER_HOST'];
  // The Docker CLI's choice replaces its default socket: DOCKER_HOST, else the current context.
  let chosen = false;
  if (dockerHost) {
    chosen = true;
    if (!dockerHost.startsWith('unix://') || exists(socketOf(dockerHost))) add('docker', dockerHost, 'DOCKER_HOST');
    else tried.push(`DOCKER_HOST=${dockerHost} (no such socket)`);
  } else {
    const context = currentDockerContext(env as NodeJS.ProcessEnv);
    if (context) {
      chosen = true;
      try {
        const { host, tls } = readDockerContext(context.name, env as NodeJS.ProcessEnv);
        if (!host.startsWith('unix://') || exists(socketOf(host))) add('docker', host, 'context', { context: context.name, tls });
        else tried.push(`Docker context ${context.name}: ${host} (no such socket)`);
      } catch (err) {
        if (!(err instanceof DockerContextError)) throw err;
        tried.push(`Docker context ${context.name} (${context.source}): ${err.message}`);
      }
    }
  }
  const places = { ...DEFAULT_PLACES, docker: [...DEFAULT_PLACES.docker, ...userDockerPlaces(env)] };
  for (const kind of ['docker', 'containerd', 'cri'] as const) {
    for (const place of places[kind]) {
      if (kind === 'docker' && chosen && place === 'unix:///var/run/docker.sock') continue;
      if (exists(socketOf(place))) add(kind, place, 'default');
      else tried.push(`${kind} ${socketOf(place)} (no such socket)`);
    }
  }
  return { engines, tried };
}
