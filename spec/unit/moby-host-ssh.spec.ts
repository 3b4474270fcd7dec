/**
 * The ssh:// transport without a real sshd: an in-process ssh2 server whose exec channels,
 * for `docker system dial-stdio`, are relayed to the fake Docker engine's unix socket. Covers
 * what the engine suite (spec/engines/moby-remote.spec.ts) needs root for: the watcher syncs
 * over SSH with keep-alive channels, a dropped connection reconnects and resyncs, close()
 * leaves no connection behind.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type Connection } from 'ssh2';
import { mobyWatcher } from '../../engines/moby/index.js';
import type { WatcherState } from '../../lib/watcher.js';
import { waitFor } from '../support/engines.js';
import { type FakeDocker, inspection, startFakeDocker } from './moby-fakeserver.js';

const { Server, utils } = ssh2;

interface FakeSshd {
  readonly port: number;
  /** Exec commands run so far. */
  readonly commands: string[];
  /** Open client connections. */
  readonly connections: Set<Connection>;
  close(): Promise<void>;
}

/** An sshd that accepts `clientKey` for any user and relays `docker system dial-stdio` to `socketPath`. */
async function startFakeSshd(hostKey: string, clientKey: string, socketPath: string): Promise<FakeSshd> {
  const allowed = utils.parseKey(clientKey);
  if (allowed instanceof Error) throw allowed;
  const commands: string[] = [];
  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method === 'publickey' && ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH() as unknown as Uint8Array)) {
        if (!ctx.signature) return ctx.accept();
        return allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : ctx.reject();
      }
      return ctx.reject(['publickey']);
    });
    client.on('session', (accept) => {
      const session = accept();
      session.on('exec', (acceptExec, _reject, info) => {
        commands.push(info.command);
        const channel = acceptExec();
        const upstream = net.connect(socketPath);
        upstream.on('error', () => channel.close());
        channel.on('error', () => upstream.destroy());
        channel.pipe(upstream).pipe(channel);
        upstream.on('close', () => {
          channel.exit(0);
          channel.close();
        });
        channel.on('close', () => upstream.destroy());
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    commands,
    connections,
    close: async () => {
      for (const c of connections) c.end();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('moby: ssh:// through an in-process SSH server', function () {
  this.timeout(20_000);
  let dir: string;
  let fake: FakeDocker;
  let sshd: FakeSshd;
  let knownHosts: string;
  let identity: string;
  let host: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ww-ssh-unit-'));
    const hostKey = utils.generateKeyPairSync('ed25519');
    const clientKey = utils.generateKeyPairSync('ed25519');
    identity = join(dir, 'id_ed25519');
    writeFileSync(identity, clientKey.private, { mode: 0o600 });
    fake = await startFakeDocker();
    fake.containers.set('c1', inspection('c1', 'web', 4242));
    sshd = await startFakeSshd(hostKey.private, clientKey.public, fake.socketPath);
    knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${hostKey.public.trim()}\n`);
    host = `ssh://tester@127.0.0.1:${sshd.port}`;
  });
  after(async () => {
    await sshd?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('syncs over one SSH connection with keep-alive dial-stdio channels; close() leaves no connection', async () => {
    const before = sshd.commands.length;
    const w = mobyWatcher(host, { ssh: { knownHosts, identityFiles: [identity], agent: false } });
    const p = await w.ready({ signal: AbortSignal.timeout(10_000) });
    expect(p.container('web')?.pid).to.equal(4242);
    expect(sshd.connections.size).to.equal(1);
    expect(new Set(sshd.commands.slice(before))).to.deep.equal(new Set(['docker system dial-stdio']));
    // A newcomer arrives through the event stream; its inspection reuses a channel.
    const channels = sshd.commands.length;
    fake.containers.set('c2', inspection('c2', 'db', 4343));
    for (const res of fake.eventStreams.filter((r) => !r.writableEnded && !r.destroyed)) {
      res.write(`${JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'c2', Attributes: {} }, timeNano: Date.now() * 1e6 })}\n`);
    }
    await waitFor(() => w.portfolio.container('db')?.pid === 4343, { what: 'the newcomer over SSH' });
    expect(sshd.commands.length - channels, 'channels opened for one inspection').to.be.at.most(1);
    await w.close();
    await waitFor(() => sshd.connections.size === 0, { what: 'the SSH connection closed' });
    fake.containers.delete('c2');
  });

  it('a dropped SSH connection reconnects and syncs again', async () => {
    const w = mobyWatcher(host, { ssh: { knownHosts, identityFiles: [identity], agent: false }, backoff: { initialDelay: 50, maxDelay: 200 } });
    const states: WatcherState['state'][] = [];
    w.state$.subscribe((s) => states.push(s.state));
    await w.ready({ signal: AbortSignal.timeout(10_000) });
    fake.containers.set('c3', inspection('c3', 'late', 4444));
    for (const c of sshd.connections) c.end();
    await waitFor(() => states.includes('reconnecting'), { what: 'reconnecting' });
    await waitFor(() => states.at(-1) === 'synced' && w.portfolio.container('late')?.pid === 4444, { what: 'synced again' });
    expect(sshd.connections.size).to.equal(1);
    await w.close();
    await waitFor(() => sshd.connections.size === 0, { what: 'the SSH connection closed' });
    fake.containers.delete('c3');
  });
});
