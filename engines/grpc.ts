/**
 * Small, engine-agnostic gRPC helpers shared by the gRPC engine adapters (containerd, CRI):
 * a Connect gRPC transport over a unix socket whose HTTP/2 session can be closed for good,
 * Observable wrappers around unary calls and server streams that abort the call on unsubscribe,
 * and the mapping of transport errors to whalewatcher's error classes.
 *
 * @module
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Observable } from 'rxjs';
import { Code, ConnectError, type Interceptor, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { EngineUnreachableError, ProtocolError, WhalewatcherError, WrongEngineError } from '../lib/errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../lib/options.js';


/**
 * Options of {@link createUnixGrpcTransport}.
 *
 * @example
 * createUnixGrpcTransport('/run/containerd/containerd.sock', { maxResponseBytes: 16 * 1024 * 1024 });
 */
export interface UnixGrpcTransportOptions {
  /**
   * Largest answer message read, in bytes (default {@link DEFAULT_MAX_RESPONSE_BYTES}); for a
   * server stream, the largest single message. A longer one fails its call as soon as its length
   * prefix arrives (nothing more of it is read), and {@link grpcEngineError} turns that failure
   * into a `ProtocolError` naming the endpoint, the call and the limit.
   */
  readonly maxResponseBytes?: number;
}

/**
 * A gRPC transport over a unix socket, plus the means to release its connection.
 *
 * @example
 * const { transport, close } = createUnixGrpcTransport('/run/containerd/containerd.sock');
 * const version = createClient(Version, transport);
 * console.log(await version.version({}));
 * await close();
 */
export interface UnixGrpcTransport {
  /** Connect transport for `createClient(Service, transport)`. */
  readonly transport: Transport;
  /** The unix socket path the transport connects to. */
  readonly socketPath: string;
  /** Destroys the HTTP/2 session (ending every open call) and refuses further calls; resolves once it is closed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Turns an endpoint as users write it (`/path`, `unix:///path`, `unix:/path`) into a socket path.
 *
 * @example
 * unixSocketPath('unix:///run/containerd/containerd.sock'); // '/run/containerd/containerd.sock'
 */
export function unixSocketPath(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('unix:')) return endpoint.slice('unix:'.length);
  return endpoint;
}

/**
 * Creates a Connect gRPC transport over a unix socket. It holds at most one HTTP/2 session,
 * opened on the first call and reopened after the engine went away; the session does not keep
 * Node.js alive while no call is open, sends no keepalive pings (containerd answers frequent pings
 * with GOAWAY `too_many_pings`), and {@link UnixGrpcTransport.close} destroys it so that no
 * socket remains. Answers are size-bounded ({@link UnixGrpcTransportOptions.maxResponseBytes}).
 *
 * @example
 * const { transport, close } = createUnixGrpcTransport('/run/containerd/containerd.sock');
 * try {
 *   const info = await createClient(Introspection, transport).server({});
 * } finally {
 *   await close();
 * }
 */
export function createUnixGrpcTransport(socketPath: string, options: UnixGrpcTransportOptions = {}): UnixGrpcTransport {
  const limit = readLimit(options.maxResponseBytes);
  const sessions = new UnixHttp2Sessions(socketPath);
  const transport = createGrpcTransport({
    baseUrl: 'http://localhost',
    sessionManager: sessions,
    readMaxBytes: limit,
    // The project's protos declare only what the adapters read: the many fields engines send
    // beyond them are skipped while decoding instead of being copied into each message's `$unknown`.
    binaryOptions: { readUnknownFields: false },
    interceptors: [answerSizeErrors(limit)],
  });
  return { transport, socketPath, close: () => sessions.close() };
}

/** connect-node's own ceiling of `readMaxBytes` (a gRPC length prefix is 32 bits). */
const MAX_READ_MAX_BYTES = 0xffffffff;

/** `maxResponseBytes` as connect-node takes it: an integer in 1..2^32-1. */
function readLimit(maxResponseBytes: number | undefined): number {
  const limit = maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (Number.isNaN(limit)) return DEFAULT_MAX_RESPONSE_BYTES;
  return Math.min(MAX_READ_MAX_BYTES, Math.max(1, Math.floor(limit)));
}

/** What {@link answerSizeErrors} learnt of an answer over the limit, by the error it raised. */
const oversized = new WeakMap<
  ConnectError,
  { readonly call: string; readonly limit: number; readonly size?: number; readonly decompressed: boolean }
>();

/**
 * Marks connect-node's own "larger than configured readMaxBytes" failures (unary answers, and
 * each message of a server stream) with the call and the limit, for {@link grpcEngineError}. A
 * server's own RESOURCE_EXHAUSTED status carries `grpc-status` in its metadata and is left alone.
 */
function answerSizeErrors(limit: number): Interceptor {
  return (next) => async (req) => {
    const call = `${req.service.typeName}/${req.method.name}`;
    const mark = (err: unknown): unknown => {
      if (
        err instanceof ConnectError &&
        err.code === Code.ResourceExhausted &&
        !err.metadata.has('grpc-status') &&
        err.rawMessage.includes('readMaxBytes')
      ) {
        const size = /message size (\d+)/.exec(err.rawMessage)?.[1];
        const decompressed = err.rawMessage.includes('after decompression');
        oversized.set(err, { call, limit, decompressed, ...(size !== undefined && { size: Number(size) }) });
      }
      return err;
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      throw mark(err);
    }
    if (!res.stream) return res;
    const messages = res.message;
    return { ...res, message: { [Symbol.asyncIterator]: () => markingErrors(messages[Symbol.asyncIterator](), mark) } };
  };
}

/**
 * `iterator`, its failures passed through `mark`. A plain iterator rather than an async generator
 * around `yield*`: a server stream's every message goes through it, and a generator layer costs
 * several promise turns per message.
 */
function markingErrors<T>(iterator: AsyncIterator<T>, mark: (err: unknown) => unknown): AsyncIterator<T> {
  const fail = (err: unknown): never => {
    throw mark(err);
  };
  const wrapped: AsyncIterator<T> = { next: (...args) => iterator.next(...args).catch(fail) };
  const { return: end, throw: raise } = iterator;
  if (end) wrapped.return = (value) => end.call(iterator, value).catch(fail);
  if (raise) wrapped.throw = (err) => raise.call(iterator, err).catch(fail);
  return wrapped;
}

/**
 * A minimal HTTP/2 session manager for connect-node (its `NodeHttp2ClientSessionManager`
 * interface). Unlike connect-node's own manager, it keeps an error listener on every session it
 * ever opened, so a peer that is not an HTTP/2 server (e.g. Docker's HTTP/1.1 socket) cannot crash
 * the process with an unhandled `error` event.
 */
class UnixHttp2Sessions {
  readonly authority = 'http://localhost';
  private session: http2.ClientHttp2Session | undefined;
  private connecting: Promise<http2.ClientHttp2Session> | undefined;
  private streams = 0;
  private closed = false;

  constructor(private readonly socketPath: string) {}

  async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, 'signal'>,
  ): Promise<http2.ClientHttp2Stream> {
    const session = await this.connect();
    const stream = session.request({ ...headers, ':method': method, ':path': path }, options);
    if (this.streams++ === 0) session.ref();
    stream.once('close', () => {
      if (--this.streams === 0 && !session.destroyed) session.unref();
    });
    return stream;
  }

  notifyResponseByteRead(): void {
    // No keepalive bookkeeping: there are no pings to postpone.
  }

  /**
   * Destroys the session on the next turn of the event loop, after the resets of calls cancelled
   * just before (see {@link abortOnNextTurn}) and outside of the session's own frame processing,
   * and resolves once it is closed.
   */
  close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    this.connecting = undefined;
    if (!session || session.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      session.once('close', () => resolve());
      setImmediate(() => session.destroy(undefined, http2.constants.NGHTTP2_CANCEL));
    });
  }

  private connect(): Promise<http2.ClientHttp2Session> {
    if (this.closed) return Promise.reject(new ConnectError('transport closed', Code.Canceled));
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return Promise.resolve(current);
    if (this.connecting) return this.connecting;
    const connecting = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const session = http2.connect(this.authority, { createConnection: () => net.connect(this.socketPath) });
      let settled = false;
      const forget = () => {
        if (this.session === session) this.session = undefined;
        if (this.connecting === connecting) this.connecting = undefined;
      };
      // Stays attached for the session's whole life: errors reach the calls through their streams.
      session.on('error', (err: unknown) => {
        forget();
        if (!settled) {
          settled = true;
          reject(connectErrorFromReason(err));
        }
      });
      session.on('close', () => {
        forget();
        if (!settled) {
          settled = true;
          reject(new ConnectError('connection closed', Code.Unavailable));
        }
      });
      session.on('goaway', forget); // new calls go to a new session; open ones finish on this one
      session.once('connect', () => {
        if (this.connecting === connecting) this.connecting = undefined;
        settled = true;
        if (this.closed) {
          session.destroy();
          reject(new ConnectError('transport closed', Code.Canceled));
          return;
        }
        this.session = session;
        this.streams = 0;
        session.unref();
        resolve(session);
      });
    });
    this.connecting = connecting;
    return connecting;
  }
}

function connectErrorFromReason(err: unknown): ConnectError {
  const code = nodeErrorCodes(err).includes('ECONNREFUSED') ? Code.Unavailable : Code.Internal;
  const ce = ConnectError.from(err, code);
  if (ce !== err) ce.cause = err;
  return ce;
}

/** The Node.js error codes (`ENOENT`, `ERR_HTTP2_ERROR`, …) along an error's cause chain. */
function nodeErrorCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

/** Node.js error codes that tell what answers at the endpoint, most telling first. */
const NODE_ERROR_CODES = [
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'EPERM',
  'ENOTSOCK',
  'ERR_HTTP2_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_PROTOCOL_ERROR',
];

/**
 * Aborts a gRPC call's controller on the next turn of the event loop. Unsubscribing often runs in
 * a promise callback, which Node drains while an HTTP/2 session is still inside its frame
 * processing (right after another call's answer, say an UNIMPLEMENTED that fails the watcher);
 * connect-node would reset the cancelled stream from there, and such a reset corrupts Node 20's
 * heap ("corrupted size vs. prev_size", SIGSEGV, later and anywhere).
 *
 * @example
 * return () => abortOnNextTurn(abort); // an Observable's teardown
 */
export function abortOnNextTurn(abort: AbortController): void {
  setImmediate(() => abort.abort());
}

/**
 * A cold Observable of one unary gRPC call (or any abortable promise): each subscription makes
 * the call, emits its answer and completes; unsubscribing aborts it.
 *
 * @example
 * const version$ = fromCall((signal) => client.version({}, { signal, timeoutMs: 10_000 }));
 */
export function fromCall<T>(call: (signal: AbortSignal) => Promise<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    const abort = new AbortController();
    let settled = false;
    call(abort.signal).then(
      (value) => {
        settled = true;
        subscriber.next(value);
        subscriber.complete();
      },
      (err: unknown) => {
        settled = true;
        if (!abort.signal.aborted) subscriber.error(err);
      },
    );
    // A settled call has nothing left to cancel: no abort (and no AbortError built for it).
    return () => {
      if (!settled) abortOnNextTurn(abort);
    };
  });
}

/**
 * A cold Observable of a gRPC server stream (or any async iterable that honours an abort signal).
 * Unlike `from(asyncIterable)`, unsubscribing aborts the call even while the stream is idle.
 * The stream's end completes the Observable; its failure errors it.
 *
 * @example
 * const envelopes$ = fromServerStream((signal) => events.subscribe({ filters }, { signal }));
 * const subscription = envelopes$.subscribe((e) => console.log(e.topic));
 * subscription.unsubscribe(); // cancels the gRPC call
 */
export function fromServerStream<T>(open: (signal: AbortSignal) => AsyncIterable<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    const abort = new AbortController();
    void (async () => {
      try {
        for await (const message of open(abort.signal)) {
          if (subscriber.closed) return;
          subscriber.next(message);
        }
        subscriber.complete();
      } catch (err) {
        if (!abort.signal.aborted) subscriber.error(err);
      }
    })();
    return () => abortOnNextTurn(abort);
  });
}

/**
 * Maps a failed gRPC call to whalewatcher's error classes, where it can tell:
 * an answer over the transport's `maxResponseBytes` → {@link ProtocolError} naming the call and
 * the limit; no socket, refused, no permission, timeout or `Unavailable` → {@link EngineUnreachableError};
 * a peer that does not speak gRPC/HTTP/2 (e.g. Docker's API socket) or a gRPC server without the
 * called service (`Unimplemented`) → {@link WrongEngineError}; a broken call (`Internal`,
 * `Unknown`, `Canceled`, …) → {@link EngineUnreachableError}; any other gRPC status →
 * {@link ProtocolError}. Errors that are no gRPC errors are returned as is (the core treats
 * them as a lost connection).
 *
 * @example
 * version$.pipe(catchError((err) => throwError(() => grpcEngineError(err, endpoint, 'containerd.io'))));
 */
export function grpcEngineError(err: unknown, endpoint: string, expected: string): unknown {
  if (err instanceof WhalewatcherError) return err;
  const options = { cause: err };
  const tooLarge = err instanceof ConnectError ? oversized.get(err) : undefined;
  if (tooLarge) {
    const { call, limit, size, decompressed } = tooLarge;
    const what = size === undefined ? 'larger' : `${size} bytes, larger`;
    const problem = `${what} than maxResponseBytes (${limit} bytes)${decompressed ? ' once decompressed' : ''}`;
    return new ProtocolError(endpoint, `${call} answer`, problem, options);
  }
  const codes = nodeErrorCodes(err);
  switch (NODE_ERROR_CODES.find((code) => codes.includes(code))) {
    case 'ENOENT':
      return new EngineUnreachableError(endpoint, 'no such socket', options);
    case 'ECONNREFUSED':
      return new EngineUnreachableError(endpoint, 'connection refused', options);
    case 'EACCES':
    case 'EPERM':
      return new EngineUnreachableError(endpoint, 'permission denied', options);
    case 'ENOTSOCK':
      return new WrongEngineError(endpoint, expected, 'a file that is not a socket', options);
    case 'ERR_HTTP2_SESSION_ERROR':
      // The peer spoke HTTP/2 and then ended the session with an error code (GOAWAY): a gRPC
      // server that gave up on this connection (nghttp2's limit on stream resets does so), not
      // a wrong engine. Retried like any lost connection.
      return new EngineUnreachableError(endpoint, `the engine ended the HTTP/2 session (${err instanceof Error ? err.message : String(err)})`, options);
    case 'ERR_HTTP2_ERROR':
    case 'ERR_HTTP2_PROTOCOL_ERROR':
      return new WrongEngineError(endpoint, expected, 'a server that does not speak gRPC over HTTP/2', options);
  }
  if (!(err instanceof ConnectError)) return err;
  switch (err.code) {
    case Code.Unavailable:
      return new EngineUnreachableError(endpoint, err.rawMessage || 'unavailable', options);
    case Code.DeadlineExceeded:
      return new EngineUnreachableError(endpoint, 'timed out', options);
    case Code.Unimplemented:
      return new WrongEngineError(endpoint, expected, `a gRPC server without this service (${err.rawMessage})`, options);
    case Code.PermissionDenied:
    case Code.Unauthenticated:
      return new EngineUnreachableError(endpoint, `permission denied (${err.rawMessage})`, options);
    case Code.Canceled:
    case Code.Unknown:
    case Code.Internal:
    case Code.Aborted:
    case Code.ResourceExhausted:
    case Code.DataLoss:
      // The call broke (a reset stream, a server-side failure): a lost connection, retried.
      return new EngineUnreachableError(endpoint, `the call failed: ${Code[err.code]}: ${err.rawMessage}`, options);
    default:
      // A status the adapters do not expect (InvalidArgument, FailedPrecondition, …).
      return new ProtocolError(endpoint, 'gRPC status', `${Code[err.code]}: ${err.rawMessage}`, options);
  }
}

/**
 * A call's answer, or `undefined` when the server answered NotFound; any other failure as is.
 *
 * @example
 * const status = await notFoundAsUndefined(client.containerStatus({ containerId: id }, { signal }));
 */
export async function notFoundAsUndefined<T>(answer: Promise<T>): Promise<T | undefined> {
  try {
    return await answer;
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.NotFound) return undefined;
    throw err;
  }
}
