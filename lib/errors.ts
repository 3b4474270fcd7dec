/**
 * Base class of every error whalewatcher raises; carries the engine endpoint it concerns.
 *
 * @example
 * try { await w.ready(); } catch (e) { if (e instanceof WhalewatcherError) console.error(e.endpoint); }
 */
export class WhalewatcherError extends Error {
  constructor(
    /** The endpoint (socket path or URL) as the user gave it. */
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The engine cannot be reached: no socket, connection refused, no permission, or it does not
 * answer in time.
 *
 * @example
 * new EngineUnreachableError('unix:///var/run/docker.sock', 'no such socket', { cause: err });
 */
export class EngineUnreachableError extends WhalewatcherError {
  constructor(endpoint: string, reason: string, options?: { cause?: unknown }) {
    super(endpoint, `engine at ${endpoint} is unreachable: ${reason}`, options);
    this.reason = reason;
  }
  /** Short reason, e.g. `no such socket`, `permission denied`, `timed out`. */
  readonly reason: string;
}

/**
 * A different engine (or no engine at all) answers at the endpoint.
 *
 * @example
 * new WrongEngineError('/run/containerd/containerd.sock', 'docker.com', 'a gRPC server (containerd?)');
 */
export class WrongEngineError extends WhalewatcherError {
  constructor(
    endpoint: string,
    /** The engine type the watcher expected. */
    readonly expected: string,
    /** What was found there instead, as far as it could be told. */
    readonly found: string,
    options?: { cause?: unknown },
  ) {
    super(endpoint, `expected a ${expected} engine at ${endpoint}, found ${found}`, options);
  }
}

/**
 * The engine broke the protocol: an answer that cannot be parsed or lacks a required field.
 *
 * @example
 * new ProtocolError('unix:///var/run/docker.sock', 'State.Pid', 'not a number: "abc"');
 */
export class ProtocolError extends WhalewatcherError {
  constructor(
    endpoint: string,
    /** The offending field or part of the answer (e.g. `State.Pid`, `events stream`). */
    readonly field: string,
    /** What was wrong with it. */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(endpoint, `engine at ${endpoint} broke the protocol at ${field}: ${problem}`, options);
  }
}

/**
 * The operation was given up: the watcher was closed, or the caller's signal aborted.
 *
 * @example
 * await w.ready({ signal: AbortSignal.timeout(5000) }); // may reject with WatcherAbortedError
 */
export class WatcherAbortedError extends WhalewatcherError {
  constructor(endpoint: string, reason: string, options?: { cause?: unknown }) {
    super(endpoint, `watching ${endpoint} aborted: ${reason}`, options);
  }
}
