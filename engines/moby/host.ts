import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The Docker CLI's default endpoint.
 *
 * @example
 * mobyWatcher(process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST);
 */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/**
 * TLS settings for `tcp://` endpoints, as the Docker CLI's `--tlsverify`, `--tlscacert`,
 * `--tlscert` and `--tlskey` (PEM contents, not file names), or `certPath` for a folder with
 * `ca.pem`, `cert.pem` and `key.pem` (like `DOCKER_CERT_PATH`).
 *
 * @example
 * mobyWatcher('tcp://docker.example:2376', { tls: { certPath: '/home/me/.docker' } });
 */
export interface MobyTlsOptions {
  /** Verify the daemon's certificate (default true). */
  readonly verify?: boolean;
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Folder with `ca.pem`, `cert.pem`, `key.pem`; files missing there are skipped. */
  readonly certPath?: string;
}

/**
 * A parsed Docker endpoint, ready for the transport (`requestTarget`): either a unix socket path, or an HTTP(S)
 * host and port with optional TLS material.
 *
 * @example
 * parseDockerHost('unix:///run/docker.sock'); // { kind: 'unix', socketPath: '/run/docker.sock', api: … }
 */
export type DockerEndpoint =
  | { readonly kind: 'unix'; readonly api: string; readonly socketPath: string }
  | {
      readonly kind: 'tcp';
      readonly api: string;
      readonly host: string;
      readonly port: number;
      readonly protocol: 'http' | 'https';
      readonly ca?: string | Buffer;
      readonly cert?: string | Buffer;
      readonly key?: string | Buffer;
      readonly rejectUnauthorized?: boolean;
    };

/**
 * Parses a Docker host the way the Docker CLI does: `unix:///path` (or a bare absolute path),
 * `tcp://host[:port]` (port 2375, or 2376 with TLS), `http://` and `https://`. Without a host,
 * `DOCKER_HOST` applies, then `unix:///var/run/docker.sock`. TLS for `tcp://` comes from `tls`,
 * else from `DOCKER_TLS_VERIFY` / `DOCKER_TLS` and `DOCKER_CERT_PATH` (default `~/.docker`).
 * Throws a `TypeError` naming the endpoint for endpoints it cannot use (an unsupported scheme,
 * a malformed host or port; `ssh://` is parsed by `parseSshHost`, and the adapter turns either
 * error into a final `WrongEngineError`).
 *
 * @example
 * parseDockerHost('tcp://10.0.0.1', { verify: true, certPath: '/certs' }).port; // 2376
 */
export function parseDockerHost(
  host?: string,
  tls?: MobyTlsOptions | boolean,
  env: NodeJS.ProcessEnv = process.env,
): DockerEndpoint {
  const api = host || env['DOCKER_HOST'] || DEFAULT_DOCKER_HOST;
  if (api.startsWith('/')) return { kind: 'unix', api, socketPath: api };
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(api);
  if (!m) throw new TypeError(`invalid Docker host ${JSON.stringify(api)}: expected unix://, tcp://, http:// or https://`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'unix') {
    return { kind: 'unix', api, socketPath: rest || '/var/run/docker.sock' };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw new TypeError(`unsupported Docker host ${JSON.stringify(api)}: only unix://, tcp://, http:// and https:// (and ssh:// through mobyWatcher)`);
  }
  let url: URL;
  try {
    url = new URL(`http://${rest}`);
  } catch {
    throw new TypeError(`invalid Docker host ${JSON.stringify(api)}: malformed host or port`);
  }
  const settings = resolveTls(scheme, tls, env);
  const hostname = (url.hostname || 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : settings ? 2376 : 2375;
  if (!settings) return { kind: 'tcp', api, host: hostname, port, protocol: 'http' };
  return {
    kind: 'tcp', api, host: hostname, port, protocol: 'https',
    ...(settings.ca !== undefined && { ca: settings.ca }),
    ...(settings.cert !== undefined && { cert: settings.cert }),
    ...(settings.key !== undefined && { key: settings.key }),
    rejectUnauthorized: settings.verify !== false,
  };
}

function resolveTls(scheme: string, tls: MobyTlsOptions | boolean | undefined, env: NodeJS.ProcessEnv): MobyTlsOptions | undefined {
  if (tls === false) return scheme === 'https' ? { verify: true } : undefined;
  let settings: MobyTlsOptions | undefined;
  if (typeof tls === 'object') settings = tls;
  else if (tls === true) settings = { verify: true };
  else if (env['DOCKER_TLS_VERIFY']) settings = { verify: true, certPath: env['DOCKER_CERT_PATH'] || join(homedir(), '.docker') };
  else if (env['DOCKER_TLS']) settings = { verify: false, certPath: env['DOCKER_CERT_PATH'] || join(homedir(), '.docker') };
  else if (scheme === 'https') settings = { verify: true };
  if (!settings) return undefined;
  if (!settings.certPath) return settings;
  const read = (name: string) => {
    try {
      return readFileSync(join(settings.certPath!, name));
    } catch {
      return undefined;
    }
  };
  return {
    verify: settings.verify,
    ca: settings.ca ?? read('ca.pem'),
    cert: settings.cert ?? read('cert.pem'),
    key: settings.key ?? read('key.pem'),
  };
}
