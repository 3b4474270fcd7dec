import {
  EngineUnreachableError,
  ProtocolError,
  WhalewatcherError,
  WrongEngineError,
} from '../../lib/errors.js';

/** The engine type the Docker adapter expects at an endpoint. */
const EXPECTED = 'docker.com';

/**
 * Maps what Node, docker-modem or the adapter's own checks raised to the exported error classes:
 * socket-level failures become {@link EngineUnreachableError}, HTTP parser failures (a gRPC or
 * other non-HTTP/1.1 server at the socket) and missing Docker endpoints become
 * {@link WrongEngineError}; everything else is passed on (the core retries it).
 *
 * @example
 * mobyError('unix:///var/run/docker.sock', Object.assign(new Error('x'), { code: 'ENOENT' })); // EngineUnreachableError
 */
export function mobyError(api: string, err: unknown, what = 'request'): Error {
  if (err instanceof WhalewatcherError) return err;
  const e = err as NodeJS.ErrnoException & { statusCode?: number; reason?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const reason = UNREACHABLE[code];
  if (reason) return new EngineUnreachableError(api, reason, { cause: err });
  if (code.startsWith('HPE_')) {
    return new WrongEngineError(api, EXPECTED, `no HTTP/1.1 server (${code}; a gRPC/HTTP2 server such as containerd?)`, { cause: err });
  }
  if (code === 'ECONNRESET' || /socket hang up/i.test(e?.message ?? '')) {
    return new EngineUnreachableError(api, `connection closed during ${what}`, { cause: err });
  }
  if (e?.statusCode === 404 || e?.statusCode === 405) {
    return new WrongEngineError(api, EXPECTED, `an HTTP server without the Docker API (HTTP ${e.statusCode} for ${what})`, { cause: err });
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400) {
    // Any other error status (e.g. 400 "client version is too new", 500): the daemon refused
    // the request; retried like a lost connection, but named as what it is.
    const said = (e as { json?: { message?: unknown } }).json?.message;
    const detail = typeof said === 'string' && said ? said : (e.reason ?? e.message ?? '');
    return new ProtocolError(api, what, `HTTP ${e.statusCode}: ${String(detail).slice(0, 200)}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

const UNREACHABLE: Record<string, string | undefined> = Object.assign(Object.create(null) as object, {
  ENOENT: 'no such socket',
  ECONNREFUSED: 'connection refused',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTSOCK: 'not a socket',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EPIPE: 'connection closed',
});

/**
 * Builds a {@link ProtocolError} for an answer that lacks a field or has the wrong type.
 *
 * @example
 * throw protocolError(api, 'State.Pid', inspection.State?.Pid);
 */
export function protocolError(api: string, field: string, value: unknown, expected = 'a valid value'): ProtocolError {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 80)}…`;
  return new ProtocolError(api, field, `expected ${expected}, got ${shown}`);
}
