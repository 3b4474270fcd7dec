import { Observable, firstValueFrom, forkJoin, fromEvent, map, share, takeUntil } from 'rxjs';
import type { ContainerDetails, ContainerList, EngineAdapter, EngineEvent, EngineInfo, Inspection, SkippedContainer } from '../../lib/adapter.js';
import { EngineUnreachableError, ProtocolError, WatcherAbortedError } from '../../lib/errors.js';
import { type DockerConnection, type Transports, dockerConnection } from './connection.js';
import { mobyError } from './errors.js';
import { EventFieldError, MOBY_EVENT_ACTIONS, normalizeMobyEvent } from './events.js';
import { FramingError, JsonStreamFramer } from './framing.js';
import type { MobyTlsOptions } from './host.js';
import { DOCKER_TYPE, decodeJson, sinceFromDate, sinceFromInfo, toDetails, toInfo, toSummaries } from './parse.js';
import type { MobySshOptions } from './ssh.js';
import { type HttpAnswer, HttpStatusError } from './transport.js';

export { DOCKER_TYPE, PODMAN_TYPE, PRIVILEGED_LABEL } from './parse.js';

/**
 * The compose project label (the default project mapping reads it).
 *
 * @example
 * const project = container.labels[COMPOSE_PROJECT_LABEL] ?? '';
 */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/**
 * Options of the Docker/Podman adapter.
 *
 * @example
 * createMobyAdapter('tcp://build-host:2376', { tls: { certPath: '/certs' } });
 */
export interface MobyAdapterOptions {
  /** Overrides the engine type (default: detected, `'docker.com'` or `'podman.io'`). */
  readonly type?: string;
  /**
   * TLS for `tcp://` hosts; default from `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` like the Docker
   * CLI, or from the Docker context when the host comes from one.
   */
  readonly tls?: MobyTlsOptions | boolean;
  /** Keys, known hosts and the remote command for `ssh://` hosts (see {@link MobySshOptions}). */
  readonly ssh?: MobySshOptions;
  /**
   * Largest answer read, in bytes (default `DEFAULT_MAX_RESPONSE_BYTES`, 64 MiB), as the common
   * watch option; a longer one fails its call with a `ProtocolError`. Events are bounded one by one.
   */
  readonly maxResponseBytes?: number;
}

const LIST_PATH = `/containers/json?filters=${encodeURIComponent(JSON.stringify({ status: ['running', 'paused'] }))}`;
const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ['container'], event: [...MOBY_EVENT_ACTIONS] }));

/**
 * Creates the {@link EngineAdapter} for a Docker Engine API endpoint (Docker, or Podman's
 * Docker-compatible service): `unix://`, `tcp://` (TLS as the Docker CLI), `ssh://`; without a
 * host, `DOCKER_HOST`, then the Docker context (`DOCKER_CONTEXT`, `currentContext`), then the
 * default socket. An endpoint that can never work (unsupported scheme, malformed host, unusable
 * context) fails every call with a `WrongEngineError` naming it, which the watch pipeline does
 * not retry. Opens nothing until an Observable is subscribed; `close()` destroys every socket
 * it holds. Most code wants `mobyWatcher()` instead.
 *
 * @example
 * const adapter = createMobyAdapter('unix:///var/run/docker.sock');
 * const alive = await firstValueFrom(adapter.list());
 * await adapter.close();
 */
export function createMobyAdapter(host?: string, options: MobyAdapterOptions = {}): EngineAdapter {
  return mobyAdapter(dockerConnection(host, options), options);
}

/**
 * The Docker adapter over a given connection (unit tests pass one over fake transports); the
 * adapter's `close()` releases it.
 *
 * @example
 * const adapter = mobyAdapter(dockerConnection('unix:///var/run/docker.sock'), {});
 */
export function mobyAdapter(connection: DockerConnection, options: MobyAdapterOptions = {}): EngineAdapter {
  return new MobyAdapter(connection, options);
}

class MobyAdapter implements EngineAdapter {
  readonly type: string;
  readonly api: string;
  readonly #typeOption: string | undefined;
  /** The transports, or why the host is unusable (raised on subscribe); released by close(). */
  readonly #connection: DockerConnection;
  /** In-flight requests and streams, aborted by close(). */
  readonly #inflight = new Set<AbortController>();
  /**
   * `/info`, one request for all who ask while it is in flight: a session's start needs it twice
   * (the identity, and the daemon time for the events' `since=`), and dockerd's `/info` is slow.
   */
  readonly #daemonInfo: Observable<unknown>;
  #closed = false;

  constructor(connection: DockerConnection, options: MobyAdapterOptions) {
    this.#typeOption = options.type;
    this.type = options.type ?? DOCKER_TYPE;
    this.api = connection.api;
    this.#connection = connection;
    this.#daemonInfo = this.#get('info', '/info').pipe(
      map(({ body }) => decodeJson(this.api, 'info', body)),
      share(),
    );
  }

  events(): Observable<EngineEvent> {
    return this.#daemonEvents();
  }

  list(): Observable<ContainerList> {
    return this.#get('list', LIST_PATH).pipe(
      map(({ body }) => ({ containers: toSummaries(this.api, decodeJson(this.api, 'list', body)), skipped: [] })),
    );
  }

  inspect(id: string): Observable<Inspection> {
    const path = `/containers/${encodeURIComponent(id)}/json`;
    return this.#request('inspect', (t, signal) =>
      t.requests.get(path, 'inspect', signal).then(
        ({ body }) => this.#readable(id, decodeJson(this.api, 'inspect', body)),
        // 404: the container is gone.
        (err: unknown) => (err instanceof HttpStatusError && err.statusCode === 404 ? null : Promise.reject(err)),
      ),
    );
  }

  info(): Observable<EngineInfo> {
    return forkJoin({
      version: this.#get('version', '/version').pipe(map(({ body }) => decodeJson(this.api, 'version', body))),
      info: this.#daemonInfo,
    }).pipe(map(({ version, info }) => toInfo(this.api, version, info, this.#typeOption)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ac of this.#inflight) ac.abort(new WatcherAbortedError(this.api, 'adapter closed'));
    this.#inflight.clear();
    await this.#connection.release();
  }

  /**
   * The event stream: `subscribed` at once, `live` once the 200 headers are in, then each event.
   * The stream is asked with `since=` a daemon time no later than this subscription (see
   * {@link #since}) and dockerd replays what happened from then on, so the core may list while
   * the stream connects.
   */
  #daemonEvents(): Observable<EngineEvent> {
    return new Observable<EngineEvent>((subscriber) => {
      const begun = this.#begin(subscriber);
      if (!begun) return;
      const { transports, ac } = begun;
      let done = false;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        this.#untrack(ac, true);
        subscriber.error(err);
      };
      const emit = (msg: unknown) => {
        if (done) return;
        const event = normalizeMobyEvent(msg);
        if (event) subscriber.next(event);
      };
      const framer = new JsonStreamFramer();
      const subscribed = performance.now();
      this.#since(subscribed, ac.signal)
        .then((since) =>
          transports.streams.stream(`/events?since=${encodeURIComponent(since)}&filters=${EVENT_FILTERS}`, 'events', ac.signal, {
            headers: () => {
              if (!done) subscriber.next({ type: 'live' });
            },
            data: (chunk) => {
              let framed: unknown[];
              try {
                framed = framer.write(chunk);
              } catch (err) {
                if (err instanceof FramingError) err.framed.forEach(emit);
                throw err;
              }
              framed.forEach(emit);
            },
          }),
        )
        .then(() => {
          framer.end().forEach(emit);
          throw new EngineUnreachableError(this.api, 'event stream ended');
        })
        .catch((err: unknown) => fail(this.#streamError(err, ac)));
      subscriber.next({ type: 'subscribed' });
      return () => {
        done = true;
        this.#untrack(ac, true);
      };
    });
  }

  /** A GET of `path` read whole, as {@link MobyAdapter.#request} does it. */
  #get(what: string, path: string): Observable<HttpAnswer> {
    return this.#request(what, (t, signal) => t.requests.get(path, what, signal));
  }

  /** The transports and a tracked abort controller for one call; `undefined` (the subscriber told why) when unusable or closed. */
  #begin(subscriber: { error(err: unknown): void }): { transports: Transports; ac: AbortController } | undefined {
    try {
      return { transports: this.#usable(), ac: this.#track() };
    } catch (err) {
      subscriber.error(err);
      return undefined;
    }
  }

  /** A short request, aborted on unsubscribe and close(); errors mapped to the exported classes. */
  #request<T>(what: string, call: (transports: Transports, signal: AbortSignal) => Promise<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      const begun = this.#begin(subscriber);
      if (!begun) return;
      const { transports, ac } = begun;
      call(transports, ac.signal).then(
        (value) => {
          this.#untrack(ac, false);
          subscriber.next(value);
          subscriber.complete();
        },
        (err: unknown) => {
          this.#untrack(ac, false);
          subscriber.error(this.#requestError(err, ac, what));
        },
      );
      return () => this.#untrack(ac, true);
    });
  }

  #requestError(err: unknown, ac: AbortController, what: string): Error {
    const reason: unknown = ac.signal.reason;
    if (reason instanceof WatcherAbortedError) return reason;
    return mobyError(this.api, err, what);
  }

  #streamError(err: unknown, ac: AbortController): Error {
    if (err instanceof FramingError) return new ProtocolError(this.api, 'events stream', err.message, { cause: err });
    if (err instanceof EventFieldError) return new ProtocolError(this.api, `event ${err.field}`, err.problem, { cause: err });
    return this.#requestError(err, ac, 'events');
  }

  /**
   * The `since=` of a stream subscribed at `subscribed` (`performance.now()`): a daemon time no
   * later than that moment, so that dockerd replays from its event buffer everything that happened
   * after it. The daemon's clock read in `/info` (shared with the identity) is at most as late as
   * its answer, so that time minus the wait for the answer is early enough.
   */
  async #since(subscribed: number, signal: AbortSignal): Promise<string> {
    // An abort rejects with EmptyError; #requestError() tells the abort's reason from `signal`.
    const info = await firstValueFrom(this.#daemonInfo.pipe(takeUntil(fromEvent(signal, 'abort'))));
    const since = sinceFromInfo(this.api, info, performance.now() - subscribed);
    if (since) return since;
    // No SystemTime: fall back to the HTTP Date header (whole seconds).
    const ping = await this.#usable().requests.get('/_ping', 'ping', signal);
    return sinceFromDate(this.api, ping.headers.date, performance.now() - subscribed);
  }

  /** An inspection's details, or for a malformed one (not alive) the skip naming the field. */
  #readable(id: string, answer: unknown): ContainerDetails | SkippedContainer | null {
    try {
      return toDetails(this.api, answer);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      const message = `its inspection breaks the protocol at ${err.field}: ${err.problem}`;
      return { skipped: 'unreadable-inspection', id, message };
    }
  }

  #usable(): Transports {
    const { transports } = this.#connection;
    if (transports instanceof Error) throw transports;
    return transports;
  }

  #track(): AbortController {
    if (this.#closed) throw new WatcherAbortedError(this.api, 'adapter closed');
    const ac = new AbortController();
    this.#inflight.add(ac);
    return ac;
  }

  #untrack(ac: AbortController, abort: boolean): void {
    if (this.#inflight.delete(ac) && abort) ac.abort(new WatcherAbortedError(this.api, 'unsubscribed'));
  }
}
