import type { WatchOptions } from '../../lib/options.js';
import { watch } from '../../lib/watch.js';
import type { Watcher } from '../../lib/watcher.js';
import { type MobyAdapterOptions, createMobyAdapter } from './adapter.js';

export {
  COMPOSE_PROJECT_LABEL,
  DOCKER_TYPE,
  PODMAN_TYPE,
  PRIVILEGED_LABEL,
  createMobyAdapter,
  type MobyAdapterOptions,
} from './adapter.js';
export { DEFAULT_DOCKER_HOST, type MobyTlsOptions } from './host.js';
export type { MobySshOptions } from './ssh.js';

/**
 * Options of {@link mobyWatcher}: the common watch options plus the Docker client's TLS and
 * request timeout settings.
 *
 * @example
 * mobyWatcher('tcp://10.0.0.5:2376', { tls: { certPath: '/certs' }, resyncInterval: 30_000 });
 */
export interface MobyWatchOptions extends WatchOptions, MobyAdapterOptions {
  /** Overrides the detected engine type (`'docker.com'` or `'podman.io'`). */
  readonly type?: string;
}

/**
 * Watches the alive containers of a Docker engine, or of Podman's Docker-compatible service.
 * `host` is a Docker host like the CLI's `-H` (`unix:///path`, `tcp://host:port`); it defaults to
 * `DOCKER_HOST`, then `unix:///var/run/docker.sock`. Creating the watcher opens nothing.
 *
 * @example
 * const w = mobyWatcher(process.env.DOCKER_HOST);
 * const portfolio = await w.ready({ signal: AbortSignal.timeout(10_000) });
 * for (const c of portfolio.containers()) console.log(c.project, c.name, c.pid);
 * await w.close();
 */
export function mobyWatcher(host?: string, options: MobyWatchOptions = {}): Watcher {
  return watch(createMobyAdapter(host, options), options);
}
