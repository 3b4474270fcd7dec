import {
  EngineUnreachableError,
  ProtocolError,
  WhalewatcherError,
  WrongEngineError,
} from '../../lib/errors.js';
import { HttpStatusError } from './transport.js';

/** The engine type the Docker adapter expects at an endpoint. */
const EXPECTED = 'docker.com';

/**
 * Maps what Node, the transport or the adapter's own checks raised to the exported error classes:
 * socket-level failures become {@link EngineUnreachableError}; HTTP parser failures (a gRPC or
 * other non-HTTP/1.1 server at the socket), redirects (never followed) and missing Docker
 * endpoints become {@link WrongEngineError}, as do TLS failures no retry mends (a server
 * certificate the client may not trust, a client certificate the server refuses, no TLS server
 * there); any other status than 200 becomes a
 * {@link ProtocolError} naming the call (`what`) and the status; everything else is passed on
 * (the core retries it).
 *
 * @example
 * mobyError('unix:///var/run/docker.sock', Object.assign(new Error('x'), { code: 'ENOENT' })); // EngineUnreachableError
 * mobyError(api, new HttpStatusError(302, 'Found', '', undefined, 'http://elsewhere/', false), 'info'); // WrongEngineError
 */
export function mobyError(api: string, err: unknown, what = 'request'): Error {
  if (err instanceof WhalewatcherError) return err;
  if (err instanceof HttpStatusError) return statusError(api, err, what);
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : '';
  const reason = UNREACHABLE[code];
  if (reason) return new EngineUnreachableError(api, reason, { cause: err });
  const tls = tlsError(api, code, e?.message ?? '', err);
  if (tls) return tls;
  if (code.startsWith('HPE_')) {
    return new WrongEngineError(api, EXPECTED, `no HTTP/1.1 server (${code}; a gRPC/HTTP2 server such as containerd?)`, { cause: err });
  }
  if (code === 'ECONNRESET' || /socket hang up/i.test(e?.message ?? '')) {
    return new EngineUnreachableError(api, `connection closed during ${what}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * A TLS failure that no retry can mend, as a final {@link WrongEngineError}: the server's
 * certificate is not one the client may trust (unknown CA, self-signed, expired, another name),
 * the server refuses our client certificate (or wants one we do not have), or no TLS server
 * answers there. The TLS handshake is where the client learns whether the engine is the one it
 * was told to trust; when that fails, as far as the watcher can tell, no engine it may talk to
 * answers at the endpoint.
 */
function tlsError(api: string, code: string, raw: string, cause: unknown): Error | undefined {
  // OpenSSL's messages run over lines ("…:ssl3_read_bytes:sslv3 alert bad certificate:…"): keep the gist.
  const message = /(?:sslv3|tlsv1|tlsv13) alert [a-z ]+/i.exec(raw)?.[0] ?? raw.replace(/\s+/g, ' ').trim();
  if (SERVER_CERT_CODES.has(code)) {
    return new WrongEngineError(api, EXPECTED, `a TLS server whose certificate is not trusted (${code}: ${message}); check the CA (tls.ca, DOCKER_CERT_PATH/ca.pem)`, { cause });
  }
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)$/.exec(code)?.[1];
  if (alert && CLIENT_CERT_ALERTS.has(alert)) {
    return new WrongEngineError(api, EXPECTED, `a TLS server that refuses our client certificate (alert ${alert.toLowerCase()}: ${message}); check tls.cert/tls.key (DOCKER_CERT_PATH/cert.pem, key.pem)`, { cause });
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return new WrongEngineError(api, EXPECTED, `no TLS server (${code}: ${message}); plain tcp:// without TLS?`, { cause });
  }
  return undefined;
}

/** Node's codes for a server certificate that fails verification. */
const SERVER_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** TLS alerts a server sends when it refuses the client's certificate (or wants one). */
const CLIENT_CERT_ALERTS = new Set([
  'BAD_CERTIFICATE',
  'UNSUPPORTED_CERTIFICATE',
  'CERTIFICATE_REVOKED',
  'CERTIFICATE_EXPIRED',
  'CERTIFICATE_UNKNOWN',
  'UNKNOWN_CA',
  'ACCESS_DENIED',
  'CERTIFICATE_REQUIRED',
]);

/** An answer with another status than 200, as the exported class that fits, naming the call. */
function statusError(api: string, err: HttpStatusError, what: string): Error {
  const status = err.statusCode;
  const line = `HTTP ${status}${err.reason ? ` ${err.reason}` : ''}`;
  if (status >= 300 && status < 400) {
    const to = err.location === undefined ? 'without a Location' : `to ${JSON.stringify(clip(err.location))}`;
    return new WrongEngineError(api, EXPECTED, `an HTTP redirect (${line} ${to}) for ${what}; redirects are not followed`, { cause: err });
  }
  if (status === 404 || status === 405) {
    return new WrongEngineError(api, EXPECTED, `an HTTP server without the Docker API (HTTP ${status} for ${what})`, { cause: err });
  }
  if (status >= 400) {
    // Any other error status (e.g. 400 "client version is too new", 500): the daemon refused
    // the request; retried like a lost connection, but named as what it is.
    const json = err.json as { message?: unknown } | undefined;
    const said = typeof json?.message === 'string' && json.message ? json.message : err.body.trim();
    return new ProtocolError(api, what, `${line}: ${clip(said || err.reason)}${err.truncated ? ' (body cut short)' : ''}`, { cause: err });
  }
  // 1xx, 204 and the other 2xx: no Docker API call answers them.
  return new ProtocolError(api, what, `unexpected ${line}, expected 200 with a JSON answer`, { cause: err });
}

function clip(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
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
