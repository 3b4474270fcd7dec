import { existsSync } from 'node:fs';
import type { EngineArgs } from './args.js';

/**
 * The kinds of engine the command watches, one per engine flag.
 *
 * @example
 * const kind: EngineKind = 'containerd'; // --containerd PATH
 */
export type EngineKind = 'docker' | 'containerd' | 'cri';

/**
 * One engine to watch: its kind, endpoint and where that came from.
 *
 * @example
 * const spec: EngineSpec = { kind: 'docker', endpoint: 'unix:///var/run/docker.sock', source: 'default' };
 */
export interface EngineSpec {
  readonly kind: EngineKind;
  readonly endpoint: string;
  /** `flag` (the command line), `DOCKER_HOST`, or `default` (a usual place whose socket exists). */
  readonly source: 'flag' | 'DOCKER_HOST' | 'default';
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
 * The engines to watch: those given on the command line; without any, `DOCKER_HOST` (if set)
 * and every usual place whose socket exists.
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
  const add = (kind: EngineKind, endpoint: string, source: EngineSpec['source']) => {
    if (!engines.some((e) => e.kind === kind && e.endpoint === endpoint)) engines.push({ kind, endpoint, source });
  };
  for (const kind of ['docker', 'containerd', 'cri'] as const) for (const e of given[kind]) add(kind, e, 'flag');
  if (engines.length) return { engines, tried: engines.map((e) => `--${e.kind} ${e.endpoint}`) };

  const dockerHost = env['DOCKER_HOST'];
  if (dockerHost) {
    if (!dockerHost.startsWith('unix://') || exists(socketOf(dockerHost))) add('docker', dockerHost, 'DOCKER_HOST');
    else tried.push(`DOCKER_HOST=${dockerHost} (no such socket)`);
  }
  for (const kind of ['docker', 'containerd', 'cri'] as const) {
    for (const place of DEFAULT_PLACES[kind]) {
      if (kind === 'docker' && dockerHost && place === 'unix:///var/run/docker.sock') continue;
      if (exists(socketOf(place))) add(kind, place, 'default');
      else tried.push(`${kind} ${socketOf(place)} (no such socket)`);
    }
  }
  return { engines, tried };
}
