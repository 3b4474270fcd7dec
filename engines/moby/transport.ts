/**
 * The Docker adapter's HTTP transport: one GET at a time over an agent the adapter owns, every
 * answer read as Buffers and counted against a size bound, no redirect ever followed, and every
 * outcome (answer, error status, broken connection, abort) settled exactly once.
 *
 * It does not go through docker-modem (dockerode's HTTP layer), whose response handling an
 * untrusted engine can turn against the host process: it buffers whole bodies and concatenates
 * them as strings (memory grows without bound while a body streams in, and a body over ~512 MiB
 * throws `ERR_STRING_TOO_LONG` inside a stream handler, as does the unbounded error-body reading
 * of a stream's error status), it follows a 3xx `Location` by itself (to another host, or into
 * an unhandled `'error'` or a `TypeError`), and it hands 204 and 3xx answers back as plain
 * errors. The library no longer depends on dockerode at all (the project's suites and benchmark
 * still drive engines with it); `ssh://` hosts plug their own agent into this transport's slot
 * (engines/moby/ssh.ts).
 *
 * @module
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { EngineUnreachableError, ProtocolError } from '../../lib/errors.js';
import type { DockerEndpoint } from './host.js';

/**
 * How much of an error answer's body (non-2xx) is read, in bytes; the rest is cut off, and the
 * status is reported at once with what was read.
 *
 * @example
 * new MobyTransport({ api, target, agent, maxResponseBytes, maxErrorBytes: DEFAULT_MAX_ERROR_BYTES });
 */
export const DEFAULT_MAX_ERROR_BYTES = 64 * 1024;

/**
 * Where and how a {@link MobyTransport} connects: the protocol module to use, and the
 * connection part of `request()`'s options (`socketPath`, or `host`/`port` with TLS material).
 * An agent that makes its own connections (the SSH agent) needs only `protocol: 'http'`.
 *
 * @example
 * const target: RequestTarget = { protocol: 'http', connect: { socketPath: '/var/run/docker.sock' } };
 */
export interface RequestTarget {
  readonly protocol: 'http' | 'https';
  readonly connect: Readonly<https.RequestOptions>;
}

/**
 * The {@link RequestTarget} of a parsed Docker endpoint: the unix socket, or the TCP host and
 * port, with the TLS material `parseDockerHost` read. `rejectUnauthorized: false` (the
 * CLI's `DOCKER_TLS` without verification) skips both the chain and the host name checks.
 *
 * @example
 * requestTarget(parseDockerHost('tcp://10.0.0.5:2376', { certPath: '/certs' })); // { protocol: 'https', connect: { host, port, ca, … } }
 */
export function requestTarget(endpoint: DockerEndpoint): RequestTarget {
  if (endpoint.kind === 'unix') return { protocol: 'http', connect: { socketPath: endpoint.socketPath } };
  const { host, port } = endpoint;
  if (endpoint.protocol === 'http') return { protocol: 'http', connect: { host, port } };
  const insecure = endpoint.rejectUnauthorized === false;
  return {
    protocol: 'https',
    connect: {
      host,
      port,
      ...(endpoint.ca !== undefined && { ca: endpoint.ca }),
      ...(endpoint.cert !== undefined && { cert: endpoint.cert }),
      ...(endpoint.key !== undefined && { key: endpoint.key }),
      rejectUnauthorized: !insecure,
      ...(insecure && { checkServerIdentity: () => undefined }),
    },
  };
}

/**
 * Options of a {@link MobyTransport}.
 *
 * @example
 * const options: MobyTransportOptions = { api, target: requestTarget(endpoint), agent: new http.Agent({ keepAlive: true }), maxResponseBytes: 64 << 20 };
 */
export interface MobyTransportOptions {
  /** The endpoint as the user gave it; every error names it. */
  readonly api: string;
  readonly target: RequestTarget;
  /** Carries the connections: a keep-alive `http.Agent`/`https.Agent`, or any other agent (SSH). Its owner destroys it. */
  readonly agent: http.Agent;
  /** Largest 200 answer read, in bytes (event streams are not bounded here; their framer bounds each event). */
  readonly maxResponseBytes: number;
  /** Largest part of an error answer read (default {@link DEFAULT_MAX_ERROR_BYTES}). */
  readonly maxErrorBytes?: number;
}

/**
 * A 200 answer read whole: its headers and its body, not decoded.
 *
 * @example
 * const { headers, body } = await transport.get('/_ping', 'ping', signal);
 */
export interface HttpAnswer {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * What a {@link MobyTransport.stream} hands the answer of a stream to: `headers()` (if given) once
 * the 200 headers are in, then `data()` per chunk. Either may throw; the transport then destroys the
 * response and rejects with what it threw.
 *
 * @example
 * const sink: StreamSink = { headers: () => console.log('live'), data: (chunk) => framer.write(chunk) };
 */
export interface StreamSink {
  headers?(): void;
  data(chunk: Buffer): void;
}

/**
 * An answer with a status other than 200, as far as it was read: for a 3xx its `Location` (the
 * body is not read), else the start of its body (at most the transport's error bound). The
 * adapter maps it to the exported classes (`mobyError`), and tells a 404 on inspection ("gone").
 *
 * @example
 * if (err instanceof HttpStatusError && err.statusCode === 404) return null;
 */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly statusCode: number,
    /** The status line's text, e.g. `Found`. */
    readonly reason: string,
    /** The body read, decoded as UTF-8 (cut at the error bound). */
    readonly body: string,
    /** The body parsed as JSON, when it is JSON (Docker's `{"message": …}`). */
    readonly json: unknown,
    /** The `Location` header of a 3xx. */
    readonly location: string | undefined,
    /** Whether the body was longer than what was read. */
    readonly truncated: boolean,
  ) {
    super(`HTTP ${statusCode} ${reason}`.trim());
  }
}

/**
 * Issues the Docker adapter's GET requests over one agent: `get()` reads a whole answer within
 * `maxResponseBytes`, `stream()` hands a stream's chunks to a sink. Both take an `AbortSignal`
 * that destroys request and response, and settle exactly once: with the answer, with the
 * signal's reason, with an {@link HttpStatusError} for any status but 200 (a redirect is never
 * followed), with a `ProtocolError` naming endpoint, call and limit for a too long answer, with
 * an `EngineUnreachableError` naming endpoint and call when the connection breaks in mid-answer,
 * or with Node's own error for a failed connection (the caller maps it). Every listener is on
 * the request and the response before data can flow, and stays there, so nothing an engine
 * sends is thrown outside the returned promise.
 *
 * @example
 * const transport = new MobyTransport({ api, target: requestTarget(endpoint), agent, maxResponseBytes: 64 << 20 });
 * const { body } = await transport.get('/info', 'info', AbortSignal.timeout(30_000));
 * const info = JSON.parse(body.toString('utf8'));
 */
export class MobyTransport {
  readonly #api: string;
  readonly #target: RequestTarget;
  readonly #agent: http.Agent;
  readonly #maxBytes: number;
  readonly #maxErrorBytes: number;

  constructor(options: MobyTransportOptions) {
    this.#api = options.api;
    this.#target = options.target;
    this.#agent = options.agent;
    this.#maxBytes = options.maxResponseBytes;
    this.#maxErrorBytes = options.maxErrorBytes ?? DEFAULT_MAX_ERROR_BYTES;
  }

  /** GETs `path` and reads the whole 200 answer; `call` names the request in errors (e.g. `list`). */
  get(path: string, call: string, signal: AbortSignal): Promise<HttpAnswer> {
    return this.#exchange<HttpAnswer>(path, call, signal, (res, settle) => {
      const declared = contentLength(res);
      if (declared !== undefined && declared > this.#maxBytes) {
        settle.fail(this.#tooLong(call, path, `declares ${declared} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.#maxBytes) settle.fail(this.#tooLong(call, path, `more than ${this.#maxBytes} bytes read`));
        else chunks.push(chunk);
      });
      res.on('end', () => settle.done({ headers: res.headers, body: concat(chunks, size) }));
      return () => size;
    });
  }

  /**
   * GETs `path` as a stream: a 200's chunks go to `sink` as they come; resolves when the stream
   * ends cleanly, rejects as {@link MobyTransport.get} does, or with what the sink threw.
   */
  stream(path: string, call: string, signal: AbortSignal, sink: StreamSink): Promise<void> {
    return this.#exchange<void>(path, call, signal, (res, settle) => {
      let size = 0;
      try {
        sink.headers?.();
      } catch (err) {
        settle.fail(err);
        return;
      }
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        try {
          sink.data(chunk);
        } catch (err) {
          settle.fail(err);
        }
      });
      res.on('end', () => settle.done(undefined));
      return () => size;
    });
  }

  /**
   * The request and everything around a 200 answer's body: `onOk` attaches the body's `data`
   * and `end` listeners and returns how many bytes it has read so far (for the message of a
   * connection broken in mid-answer).
   */
  #exchange<T>(
    path: string,
    call: string,
    signal: AbortSignal,
    onOk: (res: http.IncomingMessage, settle: Settle<T>) => (() => number) | void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      let req: http.ClientRequest | undefined;
      let res: http.IncomingMessage | undefined;
      let settled = false;
      const end = () => {
        settled = true;
        signal.removeEventListener('abort', onAbort);
      };
      const settle: Settle<T> = {
        done: (value) => {
          if (settled) return;
          end();
          resolve(value);
        },
        fail: (err) => {
          if (settled) return;
          end();
          res?.destroy();
          req?.destroy();
          reject(err);
        },
      };
      const onAbort = () => settle.fail(signal.reason);
      signal.addEventListener('abort', onAbort);
      try {
        const protocol = this.#target.protocol === 'https' ? https : http;
        req = protocol.request({
          ...this.#target.connect,
          agent: this.#agent,
          method: 'GET',
          path,
          headers: { Accept: 'application/json' },
        });
      } catch (err) {
        settle.fail(err); // e.g. a path Node refuses
        return;
      }
      req.on('error', (err) => settle.fail(err));
      // Node reports a connection lost before the answer as an 'error'; should a case slip through, the call still ends here.
      req.on('close', () => {
        if (!res) settle.fail(new EngineUnreachableError(this.#api, `connection closed before the answer to ${call}`));
      });
      req.on('response', (response: http.IncomingMessage) => {
        res = response;
        let read: () => number = () => 0;
        const broken = (err?: Error) =>
          settle.fail(
            new EngineUnreachableError(this.#api, `connection closed in the middle of the answer to ${call} (after ${read()} bytes of body)`, {
              cause: err,
            }),
          );
        response.on('error', broken);
        response.on('close', () => {
          if (!response.complete) broken();
        });
        const status = response.statusCode ?? 0;
        if (status === 200) {
          read = onOk(response, settle) ?? read;
        } else if (status >= 300 && status < 400) {
          // Never followed, never read: a redirect is no Docker answer.
          settle.fail(new HttpStatusError(status, response.statusMessage ?? '', '', undefined, headerText(response.headers.location), false));
        } else {
          read = this.#readErrorBody(response, status, settle);
        }
      });
      req.end();
    });
  }

  /** Reads the start of an error answer; settles with its {@link HttpStatusError} when it ends, breaks or outgrows the error bound. */
  #readErrorBody<T>(res: http.IncomingMessage, status: number, settle: Settle<T>): () => number {
    const chunks: Buffer[] = [];
    let size = 0;
    const report = (truncated: boolean) => {
      const body = concat(chunks, Math.min(size, this.#maxErrorBytes)).toString('utf8');
      settle.fail(new HttpStatusError(status, res.statusMessage ?? '', body, parseJson(body), undefined, truncated));
    };
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > this.#maxErrorBytes) report(true);
    });
    res.on('end', () => report(false));
    // A connection broken in mid-error still tells the status: reported before the 'close' listener sees it.
    res.prependListener('error', () => report(true));
    res.prependListener('close', () => {
      if (!res.complete) report(true);
    });
    return () => size;
  }

  #tooLong(call: string, path: string, what: string): ProtocolError {
    return new ProtocolError(
      this.#api,
      call,
      `answer larger than maxResponseBytes (${this.#maxBytes} bytes): ${what} (GET ${path.split('?', 1)[0]}); reading stopped`,
    );
  }
}

interface Settle<T> {
  done(value: T): void;
  fail(err: unknown): void;
}

/** `Buffer.concat` of the first `size` bytes (the pinned @types/node's Buffer is no Uint8Array to TypeScript 5.9). */
function concat(chunks: Buffer[], size: number): Buffer {
  return Buffer.concat(chunks as unknown as Uint8Array[], size);
}

function contentLength(res: http.IncomingMessage): number | undefined {
  const value = res.headers['content-length'];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
