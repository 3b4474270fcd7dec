/**
 * `ssh://[user@]host[:port]` Docker endpoints, as the Docker CLI reaches them: one SSH
 * connection (ssh2) per adapter, and per HTTP connection one channel that runs
 * `docker system dial-stdio` on the remote host, which relays the channel to the remote
 * daemon's socket. The channels are the sockets of an `http.Agent`, so the adapter's bounded
 * transport reads every answer as it does over a unix socket.
 *
 * docker-modem's SSH agent (`docker-modem/lib/ssh.js`) does not fit the transport's agent slot:
 * it connects the same `ssh2.Client` again for every socket the agent asks for, destroys the
 * whole agent when one channel closes (no keep-alive, no second request at a time), calls the
 * agent's callback twice on a channel error, and hands a channel on even when `exec` failed.
 * Nor does it check the host key unless the caller writes a verifier.
 *
 * The host key is checked against `~/.ssh/known_hosts` (or another file, or a verifier the
 * caller gives): an unknown, changed or revoked host key is a `WrongEngineError` naming the
 * endpoint, as is a server that accepts none of our keys; the watch pipeline does not retry it.
 * Keys come from the SSH agent (`SSH_AUTH_SOCK`), a key given as an option, and the default key
 * files in `~/.ssh` (`os.homedir()`, which honours `$HOME`), tried in that order.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { Duplex } from 'node:stream';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AuthenticationType, AuthHandlerMiddleware, ClientChannel, ConnectConfig, NextAuthHandler } from 'ssh2';
import { EngineUnreachableError, WrongEngineError } from '../../lib/errors.js';
import { type KnownHostEntry, checkHostKey, fingerprint, hostKeyAlgorithms, keyTypeOf, knownHostName, parseKnownHosts } from './known-hosts.js';

const { Client, utils } = ssh2;

/** The engine type the Docker adapter expects. */
const EXPECTED = 'docker.com';

/**
 * The command the Docker CLI runs on the remote host: it relays its standard input and output
 * to the daemon that the remote `DOCKER_HOST` (or the remote default socket) names.
 *
 * @example
 * mobyWatcher('ssh://me@build-host', { ssh: { command: DIAL_STDIO_COMMAND } });
 */
export const DIAL_STDIO_COMMAND = 'docker system dial-stdio';

/**
 * The key files tried in `~/.ssh`, in OpenSSH's order, when no other key works.
 *
 * @example
 * DEFAULT_IDENTITY_FILES.map((f) => join(homedir(), '.ssh', f));
 */
export const DEFAULT_IDENTITY_FILES: readonly string[] = ['id_rsa', 'id_ecdsa', 'id_ed25519', 'id_dsa'];

/**
 * Settings of `ssh://` endpoints. Without any, keys come from `SSH_AUTH_SOCK` and `~/.ssh/id_*`
 * and the host key must be listed in `~/.ssh/known_hosts`.
 *
 * @example
 * mobyWatcher('ssh://root@10.0.0.7', { ssh: { knownHosts: '/etc/whalewatcher/known_hosts', identityFiles: ['/etc/whalewatcher/id_ed25519'] } });
 */
export interface MobySshOptions {
  /** The known-hosts file the host key is checked against (default `~/.ssh/known_hosts`). */
  readonly knownHosts?: string;
  /**
   * Decides on the host key instead of the known-hosts file: `key` is the raw public key blob
   * (as in a known_hosts line, base64-decoded). Return true to trust it.
   */
  readonly hostVerifier?: (key: Buffer, host: string, port: number) => boolean;
  /** A private key (PEM or OpenSSH format), tried after the agent. */
  readonly privateKey?: string | Buffer;
  /** Passphrase of `privateKey` and of the identity files. */
  readonly passphrase?: string;
  /** The SSH agent's socket (default `SSH_AUTH_SOCK`); `false` uses no agent. */
  readonly agent?: string | false;
  /** Private key files tried after the agent and `privateKey` (default `~/.ssh/id_rsa`, `id_ecdsa`, `id_ed25519`, `id_dsa`). */
  readonly identityFiles?: readonly string[];
  /** The remote command (default {@link DIAL_STDIO_COMMAND}). */
  readonly command?: string;
  /** Deadline of the SSH handshake and authentication, in ms (default 20 000). */
  readonly readyTimeout?: number;
}

/**
 * A parsed `ssh://` Docker endpoint.
 *
 * @example
 * parseSshHost('ssh://me@build-host:2222'); // { kind: 'ssh', api, username: 'me', host: 'build-host', port: 2222 }
 */
export interface SshEndpoint {
  readonly kind: 'ssh';
  readonly api: string;
  readonly username: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `ssh://[user@]host[:port]` as the Docker CLI does: no password, path, query or
 * fragment; the user defaults to the local user, the port to 22. Throws a `TypeError` naming
 * the endpoint and what is wrong.
 *
 * @example
 * parseSshHost('ssh://127.0.0.1').username; // the local user
 */
export function parseSshHost(api: string): SshEndpoint {
  const bad = (why: string) => new TypeError(`invalid Docker host ${JSON.stringify(api)}: ${why}`);
  if (!/^ssh:\/\//i.test(api)) throw bad('expected ssh://[user@]host[:port]');
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw bad('malformed ssh:// URL');
  }
  if (url.password) throw bad('a password in an ssh:// URL is not supported (use keys)');
  if (url.pathname) throw bad(`extra path after the host: ${JSON.stringify(url.pathname)}`);
  if (url.search || url.hash) throw bad('a query or fragment after the host');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad('no host');
  const port = url.port ? Number(url.port) : 22;
  const username = url.username ? decodeURIComponent(url.username) : localUser();
  return { kind: 'ssh', api, username, host, port };
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? 'root';
  }
}

// ---------------------------------------------------------------------------------------------
// the connection

type Ssh2Client = InstanceType<typeof Client>;

/**
 * One SSH connection to a Docker host, opened on first use and again after it is lost; each
 * {@link SshDialer.dial} opens a channel running the remote command. `close()` ends it for good.
 * Errors name the endpoint: a refused host key or our keys refused are `WrongEngineError`s,
 * the rest `EngineUnreachableError`s (or Node's socket errors, which the adapter maps).
 *
 * @example
 * const dialer = new SshDialer(parseSshHost('ssh://root@127.0.0.1:2222'), { knownHosts: file });
 * const agent = createSshAgent(dialer, { keepAlive: true, maxSockets: 8 });
 */
export class SshDialer {
  readonly #endpoint: SshEndpoint;
  readonly #options: MobySshOptions;
  #client: Ssh2Client | undefined;
  #ready: Promise<Ssh2Client> | undefined;
  #closed = false;

  constructor(endpoint: SshEndpoint, options: MobySshOptions = {}) {
    this.#endpoint = endpoint;
    this.#options = options;
  }

  /** Opens a channel running the remote command, connecting first when needed. */
  async dial(): Promise<Duplex> {
    const client = await this.#connection();
    const { api } = this.#endpoint;
    const command = this.#options.command ?? DIAL_STDIO_COMMAND;
    return new Promise<Duplex>((resolve, reject) => {
      try {
        client.exec(command, (err, channel) => {
          if (err) reject(new EngineUnreachableError(api, `SSH channel for ${JSON.stringify(command)} refused: ${err.message}`, { cause: err }));
          else resolve(this.#track(client, new ChannelSocket(api, command, channel)));
        });
      } catch (err) {
        reject(new EngineUnreachableError(api, `SSH connection lost (${(err as Error).message})`, { cause: err }));
      }
    });
  }

  /** Ends the connection and its channels; later dials fail. */
  close(): void {
    this.#closed = true;
    this.#client?.end();
    this.#lost(this.#client, new EngineUnreachableError(this.#endpoint.api, 'SSH connection closed'));
    this.#client = undefined;
    this.#ready = undefined;
  }

  /** The channel sockets of each connection, destroyed when it is lost. */
  readonly #sockets = new Map<Ssh2Client, Set<ChannelSocket>>();

  #track(client: Ssh2Client, socket: ChannelSocket): ChannelSocket {
    let set = this.#sockets.get(client);
    if (!set) this.#sockets.set(client, (set = new Set()));
    set.add(socket);
    socket.once('close', () => set.delete(socket));
    return socket;
  }

  #lost(client: Ssh2Client | undefined, error: Error): void {
    if (!client) return;
    const set = this.#sockets.get(client);
    this.#sockets.delete(client);
    for (const socket of set ?? []) socket.destroy(error);
  }

  #connection(): Promise<Ssh2Client> {
    if (this.#closed) return Promise.reject(new EngineUnreachableError(this.#endpoint.api, 'SSH connection closed'));
    this.#ready ??= this.#connect();
    return this.#ready;
  }

  #connect(): Promise<Ssh2Client> {
    const { api, host, port, username } = this.#endpoint;
    const options = this.#options;
    const client = new Client();
    this.#client = client;
    let refusal: Error | undefined;
    let entries: KnownHostEntry[] = [];
    let unreadable = '';
    const knownHostsFile = options.knownHosts ?? join(homedir(), '.ssh', 'known_hosts');
    if (!options.hostVerifier) {
      try {
        entries = parseKnownHosts(readFileSync(knownHostsFile, 'utf8'));
      } catch (err) {
        unreadable = ` (${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `unreadable: ${(err as Error).message}`})`;
      }
    }
    const name = knownHostName(host, port);
    const hostVerifier = (key: Buffer): boolean => {
      const shown = `${keyTypeOf(key)} ${fingerprint(key)}`;
      if (options.hostVerifier) {
        let ok = false;
        try {
          ok = options.hostVerifier(key, host, port) === true;
        } catch {
          ok = false;
        }
        if (!ok) refusal = new WrongEngineError(api, EXPECTED, `an SSH server whose host key (${shown}) the hostVerifier refused`);
        return ok;
      }
      const verdict = checkHostKey(entries, host, port, key);
      if (verdict === 'trusted') return true;
      const why =
        verdict === 'unknown'
          ? `unknown: ${knownHostsFile}${unreadable} has no entry for ${name}`
          : verdict === 'changed'
            ? `changed: it is not the key ${knownHostsFile} lists for ${name} (REMOTE HOST IDENTIFICATION HAS CHANGED?)`
            : `revoked in ${knownHostsFile}`;
      refusal = new WrongEngineError(api, EXPECTED, `an SSH server whose host key (${shown}) is ${why}; it is never accepted silently`);
      return false;
    };
    const serverHostKey = options.hostVerifier ? [] : hostKeyAlgorithms(entries, host, port);
    const tried: string[] = [];
    const config: ConnectConfig = {
      host,
      port,
      username,
      readyTimeout: options.readyTimeout ?? 20_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      hostVerifier,
      authHandler: authHandler(username, options, tried),
      ...(serverHostKey.length && { algorithms: { serverHostKey: serverHostKey as never } }),
    };
    return new Promise<Ssh2Client>((resolve, reject) => {
      let ready = false;
      const forget = () => {
        if (this.#client === client) {
          this.#client = undefined;
          this.#ready = undefined;
        }
      };
      client.on('ready', () => {
        ready = true;
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        forget();
        if (ready) return; // channels see the loss themselves
        if (refusal) reject(refusal);
        else if (err.level === 'client-authentication') {
          reject(new WrongEngineError(api, EXPECTED, `an SSH server that accepts none of our keys for ${username} (tried: ${tried.join(', ') || 'none found'})`, { cause: err }));
        } else if (err.level === 'client-timeout') {
          reject(new EngineUnreachableError(api, `timed out in the SSH handshake (${err.message})`, { cause: err }));
        } else if (typeof err.code === 'string') reject(err); // a socket error: the adapter names it
        else reject(new EngineUnreachableError(api, `SSH: ${err.message}`, { cause: err }));
      });
      client.on('close', () => {
        forget();
        this.#lost(client, new EngineUnreachableError(api, 'SSH connection lost'));
        if (!ready) reject(refusal ?? new EngineUnreachableError(api, 'SSH connection closed during the handshake'));
      });
      try {
        client.connect(config);
      } catch (err) {
        forget();
        reject(new EngineUnreachableError(api, `SSH: ${(err as Error).message}`, { cause: err }));
      }
    });
  }
}

/** The keys to try, in order: the agent, the given key, the identity files (readable, unencrypted or with the passphrase). */
function authHandler(username: string, options: MobySshOptions, tried: string[]): AuthHandlerMiddleware {
  const agent = options.agent === false ? undefined : (options.agent ?? process.env['SSH_AUTH_SOCK']);
  const steps: Array<() => (AuthenticationType & object) | undefined> = [];
  if (agent) {
    steps.push(() => {
      tried.push(`agent ${agent}`);
      return { type: 'agent', username, agent } as never;
    });
  }
  if (options.privateKey) {
    steps.push(() => {
      tried.push('the privateKey option');
      return { type: 'publickey', username, key: options.privateKey!, ...(options.passphrase && { passphrase: options.passphrase }) } as never;
    });
  }
  const files = options.identityFiles ?? DEFAULT_IDENTITY_FILES.map((f) => join(homedir(), '.ssh', f));
  for (const file of files) {
    steps.push(() => {
      let key: Buffer;
      try {
        key = readFileSync(file);
      } catch {
        return undefined;
      }
      const parsed = utils.parseKey(key, options.passphrase);
      if (parsed instanceof Error) return undefined;
      tried.push(file);
      return { type: 'publickey', username, key, ...(options.passphrase && { passphrase: options.passphrase }) } as never;
    });
  }
  let next = 0;
  return (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, callback: NextAuthHandler) => {
    while (next < steps.length) {
      const step = steps[next++]!();
      if (!step) continue;
      const type = (step as { type: string }).type;
      if (methodsLeft && !methodsLeft.includes(type === 'agent' ? 'publickey' : (type as never))) continue;
      callback(step as never);
      return;
    }
    callback(false as never);
  };
}

/**
 * An exec channel as an HTTP socket: a plain Duplex that relays the channel, with the socket
 * methods Node's HTTP client and agent call (no-ops: the SSH connection keeps itself alive).
 * Its lifecycle is Node's own: it closes when the channel does, when the remote command exits
 * with an error (with an error naming the endpoint and what the command wrote to stderr), and
 * when the SSH connection is lost, even while idle in the agent's pool (ssh2 ends a channel of
 * a dead connection only once its data is read, which an idle keep-alive socket never does).
 */
class ChannelSocket extends Duplex {
  readonly #channel: ClientChannel;

  constructor(api: string, command: string, channel: ClientChannel) {
    super({ allowHalfOpen: false });
    this.#channel = channel;
    let stderr = '';
    channel.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 1024) stderr += chunk.toString('utf8');
    });
    channel.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) channel.pause();
    });
    channel.on('end', () => this.push(null));
    channel.on('close', () => this.destroy());
    channel.on('error', (err: Error) => this.destroy(new EngineUnreachableError(api, `SSH channel: ${err.message}`, { cause: err })));
    channel.on('exit', (code: number | null, signal?: string) => {
      if (code === 0) return;
      const how = code === null || code === undefined ? `on ${signal ?? 'a signal'}` : `with code ${code}`;
      const said = stderr.trim().replace(/\s+/g, ' ').slice(0, 300);
      this.destroy(new EngineUnreachableError(api, `remote ${JSON.stringify(command)} exited ${how}${said ? `: ${said}` : ''}`));
    });
  }

  override _read(): void {
    this.#channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#channel.write(chunk)) callback();
    else this.#channel.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#channel.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    try {
      this.#channel.close();
    } catch {
      // the connection is gone already
    }
    callback(error);
  }

  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/**
 * An `http.Agent` whose connections are channels of a {@link SshDialer}; destroying the agent
 * destroys its channels (the dialer stays: its owner closes it). Plugs into the transport's
 * agent slot with `{ protocol: 'http', connect: {} }`.
 *
 * @example
 * const transport = new MobyTransport({ api, target: { protocol: 'http', connect: {} }, agent: createSshAgent(dialer), maxResponseBytes });
 */
export function createSshAgent(dialer: SshDialer, options: http.AgentOptions = {}): http.Agent {
  const agent = new http.Agent(options);
  (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, callback: (err: Error | null, socket?: Duplex) => void) => {
    dialer.dial().then(
      (socket) => callback(null, socket),
      (err: Error) => callback(err),
    );
    return undefined;
  };
  return agent;
}
