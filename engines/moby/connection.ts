/**
 * How the Docker adapter reaches its daemon: the endpoint resolved as the Docker CLI does, and
 * two transports over their own agents (keep-alive for short requests, one connection per event
 * stream), over a unix socket, TCP (with TLS) or SSH. Opens nothing until a request is made.
 *
 * @module
 */
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { WrongEngineError } from '../../lib/errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../lib/options.js';
import type { MobyAdapterOptions } from './adapter.js';
import { DockerContextError, resolveDockerHost } from './context.js';
import { type DockerEndpoint, parseDockerHost } from './host.js';
import { DOCKER_TYPE } from './parse.js';
import { type SshEndpoint, SshDialer, createSshAgent, parseSshHost } from './ssh.js';
import { MobyTransport, type RequestTarget, requestTarget } from './transport.js';

/**
 * The adapter's two transports: short requests over a keep-alive agent, event streams over their own.
 *
 * @example
 * const { requests } = connection.transports as Transports;
 */
export interface Transports {
  readonly requests: MobyTransport;
  readonly streams: MobyTransport;
}

/**
 * A Docker daemon's endpoint and the transports to it, or why it is unusable; `release()` destroys
 * every socket and the SSH connection.
 *
 * @example
 * const connection = dockerConnection('unix:///var/run/docker.sock');
 * await connection.release();
 */
export interface DockerConnection {
  /** The endpoint as resolved (as given, or from `DOCKER_HOST` or the Docker context). */
  readonly api: string;
  /** The transports, or the final error every call fails with (an unusable endpoint). */
  readonly transports: Transports | WrongEngineError;
  release(): Promise<void>;
}

/**
 * Resolves `host` as the Docker CLI does (the host given, else `DOCKER_HOST`, the Docker context,
 * the default socket) and builds its transports; an endpoint that can never work gives a
 * connection whose `transports` is the `WrongEngineError` naming it.
 *
 * @example
 * const connection = dockerConnection('ssh://deploy@build-1', { ssh: { knownHosts: '/etc/ww/known_hosts' } });
 */
export function dockerConnection(host: string | undefined, options: MobyAdapterOptions = {}): DockerConnection {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let endpoint: DockerEndpoint | SshEndpoint;
  let api = host || process.env['DOCKER_HOST'] || '';
  try {
    ({ endpoint, api } = resolveEndpoint(host, options));
  } catch (err) {
    const unusable = unusableEndpoint(api, err);
    return { api: unusable.endpoint, transports: unusable, release: async () => undefined };
  }
  let target: RequestTarget;
  let requests: http.Agent;
  let streams: http.Agent;
  let dialer: SshDialer | undefined;
  if (endpoint.kind === 'ssh') {
    // One SSH connection; each HTTP connection is one channel running `docker system dial-stdio`.
    // sshd allows 10 sessions per connection by default: 8 for requests, 1 for events.
    dialer = new SshDialer(endpoint, options.ssh);
    target = { protocol: 'http', connect: {} };
    requests = createSshAgent(dialer, { keepAlive: true, maxSockets: 8 });
    streams = createSshAgent(dialer, { keepAlive: false });
  } else {
    target = requestTarget(endpoint);
    const Agent = target.protocol === 'https' ? https.Agent : http.Agent;
    requests = new Agent({ keepAlive: true, maxSockets: 16 });
    streams = new Agent({ keepAlive: false });
  }
  const transport = (agent: http.Agent) => new MobyTransport({ api, target, agent, maxResponseBytes });
  return {
    api,
    transports: { requests: transport(requests), streams: transport(streams) },
    async release() {
      const closing = [requests, streams].map(destroyAgent);
      dialer?.close();
      await Promise.all(closing);
    },
  };
}

/**
 * The endpoint to use: the host given, else as the Docker CLI picks it (`DOCKER_HOST`, the
 * Docker context, the default socket), parsed. A context's TLS applies unless `tls` is given.
 */
function resolveEndpoint(host: string | undefined, options: MobyAdapterOptions): { endpoint: DockerEndpoint | SshEndpoint; api: string } {
  let api = host;
  let tls = options.tls;
  if (!api) {
    let choice: ReturnType<typeof resolveDockerHost>;
    try {
      choice = resolveDockerHost();
    } catch (err) {
      if (err instanceof DockerContextError) {
        throw new WrongEngineError(`docker context ${err.context}`, DOCKER_TYPE, `no usable Docker endpoint: ${err.message}`, { cause: err });
      }
      throw err;
    }
    api = choice.host;
    if (tls === undefined && choice.tls !== undefined) tls = choice.tls;
  }
  if (/^ssh:\/\//i.test(api)) return { endpoint: parseSshHost(api), api };
  const endpoint = parseDockerHost(api, tls);
  return { endpoint, api: endpoint.api };
}

/** What parsing an endpoint threw, as the final error every call of the adapter fails with. */
function unusableEndpoint(api: string, err: unknown): WrongEngineError {
  if (err instanceof WrongEngineError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new WrongEngineError(api || '(no endpoint)', DOCKER_TYPE, `no usable Docker endpoint: ${why}`, { cause: err });
}

async function destroyAgent(agent: http.Agent): Promise<void> {
  const sockets: Socket[] = [];
  for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
    for (const s of list ?? []) sockets.push(s as Socket);
  }
  agent.destroy();
  await Promise.all(sockets.map((s) => (s.closed ? undefined : once(s, 'close').catch(() => undefined))));
}
