import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { inspect } from 'node:util';
import Docker from 'dockerode';
import { Observable, firstValueFrom, forkJoin, fromEvent, map, share, takeUntil } from 'rxjs';
import type { ContainerDetails, ContainerSummary, EngineAdapter, EngineEvent, EngineInfo } from '../../lib/adapter.js';
import { EngineUnreachableError, ProtocolError, WatcherAbortedError, WrongEngineError } from '../../lib/errors.js';
import { SkippedContainers } from '../skipped.js';
import { mobyError, protocolError } from './errors.js';
import { EventFieldError, MOBY_EVENT_ACTIONS, normalizeMobyEvent } from './events.js';
import { FramingError, JsonStreamFramer } from './framing.js';
import { type DockerEndpoint, type MobyTlsOptions, parseDockerHost } from './host.js';

/**
 * The engine type of Docker (and of any Docker-compatible engine not detected otherwise).
 *
 * @example
 * if (watcher.type === DOCKER_TYPE) console.log('Docker');
 */
export const DOCKER_TYPE = 'docker.com';
/**
 * The engine type reported when Podman answers behind the Docker API.
 *
 * @example
 * if (watcher.type === PODMAN_TYPE) console.log('Podman');
 */
export const PODMAN_TYPE = 'podman.io';
/**
 * The compose project label (the default project mapping reads it).
 *
 * @example
 * const project = container.labels[COMPOSE_PROJECT_LABEL] ?? '';
 */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
/**
 * Marker label present (with an empty value) on privileged containers; the same key as the Go
 * whalewatcher module's `moby.PrivilegedLabel`.
 *
 * @example
 * const privileged = PRIVILEGED_LABEL in container.labels;
 */
export const PRIVILEGED_LABEL = 'github.com/thediveo/whalewatcher/moby/privileged';

/**
 * Options of the Docker/Podman adapter.
 *
 * @example
 * createMobyAdapter('tcp://build-host:2376', { tls: { certPath: '/certs' }, callTimeout: 10_000 });
 */
export interface MobyAdapterOptions {
  /** Overrides the engine type (default: detected, `'docker.com'` or `'podman.io'`). */
  readonly type?: string;
  /** TLS for `tcp://` hosts; default from `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` like the Docker CLI. */
  readonly tls?: MobyTlsOptions | boolean;
  /** Timeout in ms of each list, inspect and info request (default 30 000; the event stream has none), as the common watch option. */
  readonly callTimeout?: number;
}

type Json = Record<string, unknown>;
type Signal = { abortSignal: AbortSignal };

/** The few dockerode calls the adapter makes, typed as it uses them. */
interface DockerClient {
  info(opts: Signal): Promise<unknown>;
  version(opts: Signal): Promise<unknown>;
  listContainers(opts: Signal & { filters: Record<string, string[]> }): Promise<unknown>;
  getContainer(id: string): { inspect(opts: Signal): Promise<unknown> };
  getEvents(opts: Signal & { since: string; filters: Record<string, string[]> }): Promise<NodeJS.ReadableStream>;
  modem: { dial(o: object, cb: (err: unknown, res: http.IncomingMessage) => void): void };
}

/**
 * Creates the {@link EngineAdapter} for a Docker Engine API endpoint (Docker, or Podman's
 * Docker-compatible service). Opens nothing until an Observable is subscribed; `close()`
 * destroys every socket it holds. Most code wants `mobyWatcher()` instead.
 *
 * @example
 * const adapter = createMobyAdapter('unix:///var/run/docker.sock');
 * const alive = await firstValueFrom(adapter.list());
 * await adapter.close();
 */
export function createMobyAdapter(host?: string, options: MobyAdapterOptions = {}): EngineAdapter {
  return new MobyAdapter(host, options);
}

class MobyAdapter implements EngineAdapter {
  readonly type: string;
  readonly api: string;
  private readonly endpoint: DockerEndpoint | Error;
  private readonly timeout: number;
  /** Keep-alive agent for short requests; a separate agent (and client) for event streams. */
  private readonly requestAgent: http.Agent;
  private readonly streamAgent: http.Agent;
  private clients?: { requests: DockerClient; streams: DockerClient };
  /** In-flight requests and streams, aborted by close(). */
  private readonly inflight = new Set<AbortController>();
  private readonly skipped = new SkippedContainers();
  /**
   * `/info`, one request for all who ask while it is in flight: a session's start needs it twice
   * (the identity, and the daemon time for the events' `since=`), and dockerd's `/info` is slow.
   */
  private readonly daemonInfo: Observable<unknown> = this.request('info', (signal) =>
    this.docker().requests.info({ abortSignal: signal }),
  ).pipe(share());
  private closed = false;

  constructor(host: string | undefined, private readonly options: MobyAdapterOptions) {
    let endpoint: DockerEndpoint | Error;
    try {
      endpoint = parseDockerHost(host, options.tls);
    } catch (err) {
      endpoint = err as Error;
    }
    this.endpoint = endpoint;
    this.api = endpoint instanceof Error ? (host ?? process.env['DOCKER_HOST'] ?? '') : endpoint.api;
    this.type = options.type ?? DOCKER_TYPE;
    this.timeout = options.callTimeout ?? 30_000;
    const tls = !(endpoint instanceof Error) && endpoint.kind === 'tcp' && endpoint.protocol === 'https';
    const Agent = tls ? https.Agent : http.Agent;
    this.requestAgent = cheapToInspect(new Agent({ keepAlive: true, maxSockets: 16 }));
    this.streamAgent = cheapToInspect(new Agent({ keepAlive: false }));
  }

  events(): Observable<EngineEvent> {
    return this.skipped.along(this.daemonEvents());
  }

  private daemonEvents(): Observable<EngineEvent> {
    return new Observable<EngineEvent>((subscriber) => {
      const ac = this.track();
      let response: http.IncomingMessage | undefined;
      let done = false;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        response?.destroy();
        this.untrack(ac, true);
        subscriber.error(err);
      };
      const onMessage = (msg: unknown) => {
        if (done) return;
        const event = normalizeMobyEvent(msg);
        if (event) subscriber.next(event);
      };
      // Bound the wait for the stream's response headers (a daemon that accepts and never
      // answers would otherwise keep the watcher connecting forever); an open stream has no timeout.
      const headersTimer = this.timeout > 0 ? setTimeout(() => ac.abort(new TimeoutError()), this.timeout) : undefined;
      this.since(ac.signal)
        .then((since) =>
          this.docker().streams.getEvents({
            since,
            filters: { type: ['container'], event: [...MOBY_EVENT_ACTIONS] },
            abortSignal: ac.signal,
          }),
        )
        .then(
          (stream) => {
            clearTimeout(headersTimer);
            response = stream as unknown as http.IncomingMessage;
            if (done) {
              response.destroy();
              return;
            }
            subscriber.next({ type: 'live' });
            const framer = new JsonStreamFramer();
            response.on('data', (chunk: Buffer) => {
              try {
                let framed: unknown[];
                try {
                  framed = framer.write(chunk);
                } catch (err) {
                  if (err instanceof FramingError) err.framed.forEach(onMessage);
                  throw err;
                }
                for (const msg of framed) {
                  if (done) return;
                  onMessage(msg);
                }
              } catch (err) {
                fail(this.streamError(err));
              }
            });
            response.on('end', () => {
              try {
                framer.end().forEach(onMessage);
                fail(new EngineUnreachableError(this.api, 'event stream ended'));
              } catch (err) {
                fail(this.streamError(err));
              }
            });
            response.on('error', (err) => fail(mobyError(this.api, err, 'events')));
            response.on('close', () => fail(new EngineUnreachableError(this.api, 'event stream closed')));
          },
          (err) => {
            clearTimeout(headersTimer);
            fail(this.requestError(err, ac, 'events'));
          },
        );
      return () => {
        clearTimeout(headersTimer);
        done = true;
        response?.destroy();
        this.untrack(ac, true);
      };
    });
  }

  list(): Observable<readonly ContainerSummary[]> {
    return this.request('list', (signal) =>
      this.docker().requests.listContainers({ filters: { status: ['running', 'paused'] }, abortSignal: signal }),
    ).pipe(
      map((answer: unknown) => {
        if (!Array.isArray(answer)) throw protocolError(this.api, 'container list', answer, 'a JSON array');
        return answer.map((c: unknown, i): ContainerSummary => {
          if (!isObject(c) || typeof c['Id'] !== 'string' || !c['Id']) {
            throw protocolError(this.api, `container list[${i}].Id`, isObject(c) ? c['Id'] : c, 'a container ID');
          }
          return { id: c['Id'], paused: c['State'] === 'paused' };
        });
      }),
    );
  }

  inspect(id: string): Observable<ContainerDetails | null> {
    return this.request('inspect', (signal) =>
      this.docker()
        .requests.getContainer(id)
        .inspect({ abortSignal: signal })
        // 404: the container is gone.
        .catch((err: { statusCode?: number }) => (err?.statusCode === 404 ? null : Promise.reject(err))),
    ).pipe(map((answer: unknown) => (answer === null ? null : this.readable(id, answer))));
  }

  info(): Observable<EngineInfo> {
    return forkJoin({
      version: this.request('version', (signal) => this.docker().requests.version({ abortSignal: signal })),
      info: this.daemonInfo,
    }).pipe(map(({ version, info }) => this.toInfo(version as unknown, info as unknown)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ac of this.inflight) ac.abort(new WatcherAbortedError(this.api, 'adapter closed'));
    this.inflight.clear();
    await Promise.all([destroyAgent(this.requestAgent), destroyAgent(this.streamAgent)]);
  }

  /** An inspection's details; a malformed one is skipped (not alive) with a diagnostic naming the field. */
  private readable(id: string, answer: unknown): ContainerDetails | null {
    try {
      return toDetails(this.api, answer);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return this.skipped.skip(id, 'unreadable-inspection', `its inspection breaks the protocol at ${err.field}: ${err.problem}`);
    }
  }

  /** The two dockerode clients, created on first use (docker-modem reads the environment). */
  private docker(): { requests: DockerClient; streams: DockerClient } {
    if (this.endpoint instanceof Error) throw this.endpoint;
    if (!this.clients) {
      const e = this.endpoint;
      // Explicit values everywhere: docker-modem merges in defaults from DOCKER_HOST & co.
      const base =
        e.kind === 'unix'
          ? { socketPath: e.socketPath, host: undefined, port: undefined, protocol: 'http' as const, ca: undefined, cert: undefined, key: undefined }
          : { socketPath: undefined, host: e.host, port: e.port, protocol: e.protocol, ca: e.ca, cert: e.cert, key: e.key };
      const common = { ...base, version: undefined, timeout: undefined, connectionTimeout: undefined, pathPrefix: '/', headers: {} };
      const tlsCheck = e.kind === 'tcp' && e.rejectUnauthorized === false ? { checkServerIdentity: () => undefined } : {};
      this.clients = {
        requests: new Docker({ ...common, ...tlsCheck, agent: this.requestAgent } as unknown as Docker.DockerOptions) as unknown as DockerClient,
        streams: new Docker({ ...common, ...tlsCheck, agent: this.streamAgent } as unknown as Docker.DockerOptions) as unknown as DockerClient,
      };
    }
    return this.clients;
  }

  /** A short request with a timeout, aborted on unsubscribe; errors mapped to the exported classes. */
  private request<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let ac: AbortController;
      try {
        ac = this.track();
      } catch (err) {
        subscriber.error(err);
        return;
      }
      const timer = this.timeout > 0 ? setTimeout(() => ac.abort(new TimeoutError()), this.timeout) : undefined;
      let promise: Promise<T>;
      try {
        promise = call(ac.signal);
      } catch (err) {
        clearTimeout(timer);
        this.untrack(ac, false);
        subscriber.error(mobyError(this.api, err, what));
        return;
      }
      promise.then(
        (value) => {
          clearTimeout(timer);
          this.untrack(ac, false);
          subscriber.next(value);
          subscriber.complete();
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.untrack(ac, false);
          subscriber.error(this.requestError(err, ac, what));
        },
      );
      return () => {
        clearTimeout(timer);
        this.untrack(ac, true);
      };
    });
  }

  private requestError(err: unknown, ac: AbortController, what: string): Error {
    const reason: unknown = ac.signal.reason;
    if (reason instanceof TimeoutError) {
      return new EngineUnreachableError(this.api, `timed out after ${this.timeout} ms (${what})`, { cause: err });
    }
    if (reason instanceof WatcherAbortedError) return reason;
    return mobyError(this.api, err, what);
  }

  private streamError(err: unknown): Error {
    if (err instanceof FramingError) return new ProtocolError(this.api, 'events stream', err.message, { cause: err });
    if (err instanceof EventFieldError) return new ProtocolError(this.api, `event ${err.field}`, err.problem, { cause: err });
    return mobyError(this.api, err, 'events');
  }

  /**
   * The daemon's current time, for `since=`: dockerd answers the `/events` headers before it
   * subscribes, and replays what happened since this time from its event buffer, closing the gap.
   */
  private async since(signal: AbortSignal): Promise<string> {
    // An abort rejects with EmptyError; requestError() tells the abort's reason from `signal`.
    const info = await firstValueFrom(this.daemonInfo.pipe(takeUntil(fromEvent(signal, 'abort'))));
    if (!isObject(info)) throw new WrongEngineError(this.api, DOCKER_TYPE, 'an HTTP server without the Docker API (/info)');
    const systemTime = info['SystemTime'];
    const since = typeof systemTime === 'string' ? unixTimestamp(systemTime) : undefined;
    if (since) return since;
    // No SystemTime: fall back to the HTTP Date header (whole seconds), one second earlier.
    const date = await this.pingDate(signal);
    const ms = date ? Date.parse(date) : NaN;
    if (Number.isNaN(ms)) throw protocolError(this.api, 'SystemTime', systemTime, 'the daemon time (or a Date header)');
    return String(Math.floor(ms / 1000) - 1);
  }

  private pingDate(signal: AbortSignal): Promise<string | undefined> {
    const modem = this.docker().requests.modem;
    return new Promise((resolve, reject) =>
      modem.dial({ path: '/_ping', method: 'GET', isStream: true, statusCodes: { 200: true }, abortSignal: signal, options: {} }, (err, res) => {
        if (err) return reject(err);
        res.resume();
        resolve(res.headers.date);
      }),
    );
  }

  private toInfo(version: unknown, info: unknown): EngineInfo {
    if (!isObject(version) || !isObject(info)) {
      throw new WrongEngineError(this.api, DOCKER_TYPE, 'an HTTP server without the Docker API (/version, /info)');
    }
    const podman = isPodman(version);
    const serverVersion = version['Version'] ?? info['ServerVersion'];
    if (typeof serverVersion !== 'string') throw protocolError(this.api, 'Version', serverVersion, 'a version string');
    let id = info['ID'];
    if (podman || typeof id !== 'string' || id === '') {
      // Podman's compat /info makes up a new ID on every call: derive a stable one.
      id = stableId(this.api, info['Name'], info['DockerRootDir']);
    }
    return {
      id: id as string,
      version: `${podman ? 'Podman Engine' : 'Docker Engine'} ${serverVersion}`,
      type: this.options.type ?? (podman ? PODMAN_TYPE : DOCKER_TYPE),
    };
  }

  private track(): AbortController {
    if (this.closed) throw new WatcherAbortedError(this.api, 'adapter closed');
    const ac = new AbortController();
    this.inflight.add(ac);
    return ac;
  }

  private untrack(ac: AbortController, abort: boolean): void {
    if (this.inflight.delete(ac) && abort) ac.abort(new WatcherAbortedError(this.api, 'unsubscribed'));
  }
}

class TimeoutError extends Error {}

/**
 * RFC 3339 (with nanoseconds, any offset) to the `<seconds>.<nanoseconds>` form that both
 * dockerd and Podman accept for `since=` (dockerd 20.10 rejects RFC 3339 with nanoseconds).
 */
function unixTimestamp(rfc3339: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(rfc3339.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return `${Math.floor(ms / 1000)}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}`;
}

/** Docker's `/version` names the engine in `Components`; Podman's says "Podman Engine". */
function isPodman(version: Json): boolean {
  const names: unknown[] = [];
  const platform = version['Platform'];
  if (isObject(platform)) names.push(platform['Name']);
  const components = version['Components'];
  if (Array.isArray(components)) for (const c of components) if (isObject(c)) names.push(c['Name']);
  return names.some((n) => typeof n === 'string' && /podman/i.test(n));
}

function stableId(api: string, hostname: unknown, root: unknown): string {
  const h = createHash('sha256').update(`${api}\n${String(hostname)}\n${String(root)}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Turns an inspection into details; `null` when the container has no PID (not alive). */
function toDetails(api: string, raw: unknown): ContainerDetails | null {
  if (!isObject(raw)) throw protocolError(api, 'container inspection', raw, 'a JSON object');
  const id = raw['Id'];
  if (typeof id !== 'string' || !id) throw protocolError(api, 'Id', id, 'a container ID');
  const state = raw['State'];
  if (!isObject(state)) throw protocolError(api, 'State', state, 'an object');
  const pid = state['Pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0) throw protocolError(api, 'State.Pid', pid, 'a PID');
  if (pid === 0) return null;
  const name = raw['Name'];
  if (typeof name !== 'string') throw protocolError(api, 'Name', name, 'a string');
  const config = raw['Config'];
  const rawLabels = isObject(config) ? config['Labels'] : undefined;
  if (rawLabels != null && !isObject(rawLabels)) throw protocolError(api, 'Config.Labels', rawLabels, 'an object');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawLabels ?? {})) {
    if (typeof v !== 'string') throw protocolError(api, `Config.Labels.${k}`, v, 'a string');
    labels[k] = v;
  }
  const hostConfig = raw['HostConfig'];
  if (isObject(hostConfig) && hostConfig['Privileged'] === true) labels[PRIVILEGED_LABEL] = '';
  // The lifetime's start in the daemon's clock, so a late `die` of an earlier lifetime is told apart.
  const startedAt = typeof state['StartedAt'] === 'string' ? new Date(state['StartedAt']) : undefined;
  return {
    id,
    name: name.replace(/^\//, ''),
    labels,
    pid,
    paused: state['Paused'] === true,
    ...(startedAt && !Number.isNaN(startedAt.getTime()) && { startedAt }),
    raw,
  };
}

/**
 * docker-modem logs every request with `util.inspect(options, { showHidden: true, depth: null })`,
 * evaluated even with logging off; the options hold the agent, and walking an agent with a few
 * busy sockets costs milliseconds per request (concurrent inspections got 10x slower than
 * sequential ones). The agent describes itself in one word instead.
 */
function cheapToInspect<T extends http.Agent>(agent: T): T {
  Object.defineProperty(agent, inspect.custom, { value: () => `[${agent.constructor.name}]` });
  return agent;
}

async function destroyAgent(agent: http.Agent): Promise<void> {
  const sockets: Socket[] = [];
  for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
    for (const s of list ?? []) sockets.push(s as Socket);
  }
  agent.destroy();
  await Promise.all(sockets.map((s) => (s.closed ? undefined : once(s, 'close').catch(() => undefined))));
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}
