/**
 * Reading the Docker Engine API's answers (Podman's compatible service included): decoding a
 * body, the engine identity from `/version` and `/info`, the daemon time for `since=`, the
 * container list and one container's inspection. Pure functions; the transport is elsewhere.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { ContainerDetails, ContainerSummary, EngineInfo } from '../../lib/adapter.js';
import { ProtocolError, WrongEngineError } from '../../lib/errors.js';
import { protocolError } from './errors.js';

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
 * Marker label present (with an empty value) on privileged containers; the same key as the Go
 * whalewatcher module's `moby.PrivilegedLabel`.
 *
 * @example
 * const privileged = PRIVILEGED_LABEL in container.labels;
 */
export const PRIVILEGED_LABEL = 'github.com/thediveo/whalewatcher/moby/privileged';

type Json = Record<string, unknown>;

/**
 * Decodes a body, once: its JSON value, or its text when it is no JSON (so that the shape
 * checks after it name what came instead). A body too long for one string (a
 * `maxResponseBytes` over V8's string limit) is a `ProtocolError` naming the call.
 *
 * @example
 * decodeJson(api, 'list', Buffer.from('[{"Id":"c1"}]')); // [{ Id: 'c1' }]
 * decodeJson(api, 'list', Buffer.from('<html>'));        // '<html>'
 */
export function decodeJson(api: string, call: string, body: Buffer): unknown {
  let text: string;
  try {
    text = body.toString('utf8');
  } catch (err) {
    throw new ProtocolError(api, call, `answer of ${body.length} bytes cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The engine identity from the `/version` and `/info` answers: Docker's own ID, or for Podman
 * (whose compatible `/info` makes up a new ID on every call) and for engines without an ID, a
 * stable one derived from the endpoint, host name and root folder. `type` overrides the detection.
 *
 * @example
 * toInfo(api, version, info); // { id: 'AAAA:BBBB', version: 'Docker Engine 20.10.24', type: 'docker.com' }
 */
export function toInfo(api: string, version: unknown, info: unknown, type?: string): EngineInfo {
  if (!isObject(version) || !isObject(info)) {
    throw new WrongEngineError(api, DOCKER_TYPE, 'an HTTP server without the Docker API (/version, /info)');
  }
  const podman = isPodman(version);
  const serverVersion = version['Version'] ?? info['ServerVersion'];
  if (typeof serverVersion !== 'string') throw protocolError(api, 'Version', serverVersion, 'a version string');
  let id = info['ID'];
  if (podman || typeof id !== 'string' || id === '') id = stableId(api, info['Name'], info['DockerRootDir']);
  return {
    id: id as string,
    version: `${podman ? 'Podman Engine' : 'Docker Engine'} ${serverVersion}`,
    type: type ?? (podman ? PODMAN_TYPE : DOCKER_TYPE),
  };
}

/**
 * The daemon's time from its `/info` answer (`SystemTime`), made `earlierByMs` and one more
 * millisecond early, in the `<seconds>.<nanoseconds>` form that both dockerd and Podman accept for
 * `/events?since=`; `undefined` when `/info` has no readable `SystemTime` (then the HTTP `Date`
 * header serves, see {@link sinceFromDate}). An `/info` that is no object is a `WrongEngineError`.
 *
 * @example
 * sinceFromInfo(api, { SystemTime: '2024-01-02T03:04:05.123456789Z' }, 9); // '1704164645.113456789'
 */
export function sinceFromInfo(api: string, info: unknown, earlierByMs = 0): string | undefined {
  if (!isObject(info)) throw new WrongEngineError(api, DOCKER_TYPE, 'an HTTP server without the Docker API (/info)');
  const systemTime = info['SystemTime'];
  const ns = typeof systemTime === 'string' ? unixNanoseconds(systemTime) : undefined;
  if (ns === undefined) return undefined;
  const since = ns - BigInt(Math.ceil(earlierByMs + 1)) * 1_000_000n;
  return `${since / 1_000_000_000n}.${String(since % 1_000_000_000n).padStart(9, '0')}`;
}

/**
 * The `since=` value from an HTTP `Date` header (whole seconds), at least one second and
 * `earlierByMs` early; a missing or unreadable header is a `ProtocolError` at `SystemTime`, the
 * field that was missing first.
 *
 * @example
 * sinceFromDate(api, 'Tue, 02 Jan 2024 03:04:05 GMT'); // '1704164644'
 */
export function sinceFromDate(api: string, date: string | undefined, earlierByMs = 0): string {
  const ms = date ? Date.parse(date) : NaN;
  if (Number.isNaN(ms)) throw protocolError(api, 'SystemTime', date, 'the daemon time (or a Date header)');
  return String(Math.floor((ms - earlierByMs) / 1000) - 1);
}

/**
 * The container list (`/containers/json`) as summaries: ID and whether paused.
 *
 * @example
 * toSummaries(api, [{ Id: 'c1', State: 'paused' }]); // [{ id: 'c1', paused: true }]
 */
export function toSummaries(api: string, answer: unknown): ContainerSummary[] {
  if (!Array.isArray(answer)) throw protocolError(api, 'container list', answer, 'a JSON array');
  return answer.map((c: unknown, i): ContainerSummary => {
    if (!isObject(c) || typeof c['Id'] !== 'string' || !c['Id']) {
      throw protocolError(api, `container list[${i}].Id`, isObject(c) ? c['Id'] : c, 'a container ID');
    }
    return { id: c['Id'], paused: c['State'] === 'paused' };
  });
}

/**
 * Turns an inspection (`/containers/{id}/json`) into details; `null` when the container has no
 * PID (not alive). Names without the leading `/`; privileged containers get
 * {@link PRIVILEGED_LABEL}. A malformed inspection is a `ProtocolError` naming the field.
 *
 * @example
 * toDetails(api, inspection)?.pid; // 4242
 */
export function toDetails(api: string, raw: unknown): ContainerDetails | null {
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
 * RFC 3339 (with nanoseconds, any offset) to the `<seconds>.<nanoseconds>` form that both
 * dockerd and Podman accept for `since=` (dockerd 20.10 rejects RFC 3339 with nanoseconds).
 */
function unixNanoseconds(rfc3339: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(rfc3339.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9));
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

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
