// A fake Docker Engine API on a unix socket, for the moby adapter's unit tests.
import * as http from 'node:http';
import { listenOnUnixSocket } from '../support/unix-socket-server.js';

export interface FakeDocker {
  readonly socketPath: string;
  readonly api: string;
  /** Every request URL, in order. */
  readonly requests: string[];
  /** Open event streams (server side), oldest first. */
  readonly eventStreams: http.ServerResponse[];
  /** Inspections by ID; list() derives from them (Pid > 0). */
  readonly containers: Map<string, Record<string, unknown>>;
  /** Overrides for /version and /info answers. */
  version: Record<string, unknown>;
  info: () => Record<string, unknown>;
  /** Replaces the default handling of a request when it returns true. */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** Server-side connections currently open. */
  connections(): number;
  /** Resolves when an event stream has been opened (the nth, 1-based; default: the next one). */
  nextEventStream(n?: number): Promise<http.ServerResponse>;
  close(): Promise<void>;
}

export function inspection(id: string, name: string, pid: number, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Id: id,
    Name: `/${name}`,
    State: { Status: pid ? 'running' : 'exited', Running: pid > 0, Paused: false, Pid: pid },
    Config: { Labels: {} },
    HostConfig: { Privileged: false },
    ...more,
  };
}

export async function startFakeDocker(): Promise<FakeDocker> {
  const waiters: { n: number; resolve: (r: http.ServerResponse) => void }[] = [];
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    fake.requests.push(req.url ?? '');
    if (fake.intercept?.(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v[0-9.]+/, '');
    let m: RegExpExecArray | null;
    if (path === '/version') return json(res, 200, fake.version);
    if (path === '/info') return json(res, 200, fake.info());
    if (path === '/_ping') return res.end('OK');
    if (path === '/containers/json') {
      return json(
        res,
        200,
        [...fake.containers.values()]
          .filter((c) => (c['State'] as { Pid: number }).Pid > 0)
          .map((c) => ({ Id: c['Id'], Names: [c['Name']], State: (c['State'] as { Paused: boolean }).Paused ? 'paused' : 'running', Labels: {} })),
      );
    }
    if ((m = /^\/containers\/([^/]+)\/json$/.exec(path))) {
      const c = fake.containers.get(decodeURIComponent(m[1]!));
      return c ? json(res, 200, c) : json(res, 404, { message: `No such container: ${m[1]}` });
    }
    if (path === '/events') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      fake.eventStreams.push(res);
      for (const w of [...waiters]) {
        if (w.n === fake.eventStreams.length) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(res);
        }
      }
      return;
    }
    json(res, 404, { message: 'page not found' });
  });
  const unix = await listenOnUnixSocket(server, 'docker');
  const fake: FakeDocker = {
    socketPath: unix.path,
    api: `unix://${unix.path}`,
    requests: [],
    eventStreams: [],
    containers: new Map(),
    version: { Version: '20.10.24', ApiVersion: '1.41', Components: [{ Name: 'Engine', Version: '20.10.24' }] },
    info: () => ({ ID: 'AAAA:BBBB', Name: 'fakehost', ServerVersion: '20.10.24', SystemTime: '2024-01-02T03:04:05.123456789Z', DockerRootDir: '/var/lib/docker' }),
    connections: unix.connections,
    nextEventStream(n) {
      const want = n ?? fake.eventStreams.length + 1;
      const have = fake.eventStreams[want - 1];
      if (have) return Promise.resolve(have);
      return new Promise((resolve) => waiters.push({ n: want, resolve }));
    },
    close: unix.close,
  };
  return fake;
}
