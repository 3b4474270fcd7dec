/**
 * Which Docker host to use when none is given, resolved as the Docker CLI does: `DOCKER_HOST`,
 * else the context `DOCKER_CONTEXT` names, else the `currentContext` of the CLI's
 * `config.json` (in `DOCKER_CONFIG`, default `~/.docker`), else the default socket. A context's
 * endpoint and TLS material come from the CLI's context store:
 * `contexts/meta/<sha256 of the name>/meta.json` and `contexts/tls/<sha256 of the name>/docker/`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DOCKER_HOST, type MobyTlsOptions } from './host.js';

/**
 * A Docker host as resolved from the environment and the CLI's configuration: where it came
 * from, the context's name (for `source: 'context'`) and the context's TLS settings.
 *
 * @example
 * const { host, tls, source } = resolveDockerHost();
 * mobyWatcher(host, { tls });
 */
export interface DockerHostChoice {
  readonly host: string;
  /** TLS from the context store (`false`: the context has none); undefined for the other sources. */
  readonly tls?: MobyTlsOptions | false;
  readonly source: 'DOCKER_HOST' | 'DOCKER_CONTEXT' | 'currentContext' | 'default';
  /** The context's name, for the two context sources. */
  readonly context?: string;
}

/**
 * A context that cannot be used: missing from the store, unreadable, or without a Docker
 * endpoint. The adapter reports it as a final `WrongEngineError` naming the context.
 *
 * @example
 * try { readDockerContext('gone'); } catch (e) { if (e instanceof DockerContextError) console.error(e.context); }
 */
export class DockerContextError extends Error {
  override readonly name = 'DockerContextError';
  constructor(
    /** The context's name. */
    readonly context: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The Docker CLI's configuration folder: `DOCKER_CONFIG`, else `~/.docker` (`os.homedir()`
 * honours `HOME`).
 *
 * @example
 * join(dockerConfigDir(), 'config.json');
 */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['DOCKER_CONFIG'] || join(homedir(), '.docker');
}

/**
 * The name of the context the Docker CLI would use (ignoring `DOCKER_HOST`): `DOCKER_CONTEXT`,
 * else `currentContext` of `config.json`; undefined means the default context.
 *
 * @example
 * currentDockerContext({ DOCKER_CONTEXT: 'remote' }); // 'remote'
 */
export function currentDockerContext(env: NodeJS.ProcessEnv = process.env): { name: string; source: 'DOCKER_CONTEXT' | 'currentContext' } | undefined {
  const fromEnv = env['DOCKER_CONTEXT'];
  if (fromEnv) return fromEnv === 'default' ? undefined : { name: fromEnv, source: 'DOCKER_CONTEXT' };
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(join(dockerConfigDir(env), 'config.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const name = (config as { currentContext?: unknown } | null)?.currentContext;
  return typeof name === 'string' && name && name !== 'default' ? { name, source: 'currentContext' } : undefined;
}

/** The folder name of a context in the store: the hex SHA-256 of its name. */
function contextId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/**
 * A context's Docker endpoint from the store: its host and TLS settings (the store's `ca.pem`,
 * `cert.pem`, `key.pem`, verified unless the context says `SkipTLSVerify`; `false` when it has
 * no TLS material). Throws a {@link DockerContextError} naming the context when it cannot be used.
 *
 * @example
 * const { host, tls } = readDockerContext('remote');
 */
export function readDockerContext(name: string, env: NodeJS.ProcessEnv = process.env): { host: string; tls: MobyTlsOptions | false } {
  const store = join(dockerConfigDir(env), 'contexts');
  const id = contextId(name);
  const metaFile = join(store, 'meta', id, 'meta.json');
  let meta: unknown;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw new DockerContextError(name, `Docker context ${JSON.stringify(name)} ${why} (${metaFile})`);
  }
  const docker = (meta as { Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } } } | null)?.Endpoints?.docker;
  if (typeof docker?.Host !== 'string' || !docker.Host) {
    throw new DockerContextError(name, `Docker context ${JSON.stringify(name)} has no Docker endpoint (${metaFile})`);
  }
  const tlsDir = join(store, 'tls', id, 'docker');
  const read = (file: string) => (existsSync(join(tlsDir, file)) ? readFileSync(join(tlsDir, file)) : undefined);
  const ca = read('ca.pem');
  const cert = read('cert.pem');
  const key = read('key.pem');
  const skip = docker.SkipTLSVerify === true;
  if (!ca && !cert && !key && !skip) return { host: docker.Host, tls: false };
  return {
    host: docker.Host,
    tls: { verify: !skip, ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) },
  };
}

/**
 * The Docker host to use without an explicit one, as the Docker CLI picks it: `DOCKER_HOST`,
 * else `DOCKER_CONTEXT`, else `currentContext` of `config.json`, else
 * `unix:///var/run/docker.sock`. Throws a {@link DockerContextError} for a named context that
 * cannot be used (the CLI fails too).
 *
 * @example
 * resolveDockerHost({ DOCKER_CONFIG: '/home/me/.docker' }); // { host: 'ssh://me@build', source: 'currentContext', context: 'build', tls: false }
 */
export function resolveDockerHost(env: NodeJS.ProcessEnv = process.env): DockerHostChoice {
  const fromEnv = env['DOCKER_HOST'];
  if (fromEnv) return { host: fromEnv, source: 'DOCKER_HOST' };
  const context = currentDockerContext(env);
  if (!context) return { host: DEFAULT_DOCKER_HOST, source: 'default' };
  const { host, tls } = readDockerContext(context.name, env);
  return { host, tls, source: context.source, context: context.name };
}
