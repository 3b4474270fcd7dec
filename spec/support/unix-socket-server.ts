import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A test server (fake engine, proxy) listening on a unix socket of its own.
 *
 * @example
 * const fake = await listenOnUnixSocket(http.createServer(handler), 'docker');
 * const w = mobyWatcher(`unix://${fake.path}`);
 * await fake.close();
 */
export interface UnixSocketServer {
  /** The socket's path, in a temporary folder of its own. */
  readonly path: string;
  /** How many client connections are open. */
  connections(): number;
  /** Destroys every open connection, closes the server and removes its folder. */
  close(): Promise<void>;
}

/**
 * Serves `server` (net, HTTP or HTTP/2) on `<name>.sock` in a fresh temporary folder, keeping
 * track of its connections so that `close()` leaves nothing behind.
 *
 * @example
 * const silent = await listenOnUnixSocket(net.createServer(() => {}), 'silent');
 */
export async function listenOnUnixSocket(server: Server, name: string): Promise<UnixSocketServer> {
  const dir = mkdtempSync(join(tmpdir(), `ww-${name}-`));
  const path = join(dir, `${name}.sock`);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/**
 * For proxies: a connection to the unix socket `target` on behalf of `client`; when either side
 * ends or fails, both are destroyed. Moving the bytes is the caller's business.
 *
 * @example
 * net.createServer((client) => {
 *   const upstream = connectUpstream(client, '/run/docker.sock');
 *   client.on('data', (b) => upstream.write(b));
 *   upstream.on('data', (b) => client.write(b));
 * });
 */
export function connectUpstream(client: Socket, target: string): Socket {
  const upstream = netConnect(target);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  return upstream;
}
