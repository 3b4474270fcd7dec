/**
 * Remote Docker endpoints without an engine: endpoints that can never work fail at once and for
 * good; ssh:// parsing; known_hosts checks; TLS failures as final errors; Docker contexts
 * resolved as the Docker CLI does (temp DOCKER_CONFIG); the command's user sockets.
 */
import { expect } from 'chai';
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverEngines, userDockerPlaces } from '../../cli/discover.js';
import { createMobyAdapter } from '../../engines/moby/adapter.js';
import { DockerContextError, currentDockerContext, readDockerContext, resolveDockerHost } from '../../engines/moby/context.js';
import { mobyError } from '../../engines/moby/errors.js';
import { mobyWatcher } from '../../engines/moby/index.js';
import { checkHostKey, parseKnownHosts } from '../../engines/moby/known-hosts.js';
import { parseSshHost } from '../../engines/moby/ssh.js';
import { EngineUnreachableError, WrongEngineError } from '../../lib/errors.js';
import type { WatcherState } from '../../lib/watcher.js';
import { inspection, startFakeDocker } from './moby-fakeserver.js';
import { NO_CLIENT_ENV, withEnv } from '../support/env.js';

/** A context in the Docker CLI's store below `config` (meta.json and TLS files, as `docker context create` writes them). */
function writeContext(config: string, name: string, host: string, tls: Record<string, string> = {}, skipTlsVerify = false): void {
  const id = createHash('sha256').update(name).digest('hex');
  mkdirSync(join(config, 'contexts', 'meta', id), { recursive: true });
  writeFileSync(
    join(config, 'contexts', 'meta', id, 'meta.json'),
    JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: skipTlsVerify } } }),
  );
  if (Object.keys(tls).length) {
    const dir = join(config, 'contexts', 'tls', id, 'docker');
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(tls)) writeFileSync(join(dir, file), text);
  }
}

describe('moby: endpoints that can never work', () => {
  const hopeless = ['ftp://docker.example', 'docker.sock', 'tcp://[zz', 'tcp://h:99999', 'ssh://h/some/path', 'ssh://me:secret@h', 'ssh://', 'npipe:////./pipe/docker_engine'];

  for (const host of hopeless) {
    it(`${host}: ready() rejects with a WrongEngineError naming it, the watcher ends failed, no retry`, async () => {
      const w = mobyWatcher(host, { backoff: { initialDelay: 1 } });
      const states: WatcherState['state'][] = [];
      w.state$.subscribe((s) => states.push(s.state));
      let error: unknown;
      await w.ready().catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(WrongEngineError);
      expect((error as WrongEngineError).endpoint).to.equal(host);
      expect((error as Error).message).to.include(host).and.to.match(/no usable Docker endpoint/);
      expect(states).to.not.include('reconnecting');
      expect(states.at(-1)).to.equal('failed');
      await w.close();
    });
  }

  it('the adapter names the endpoint as given', () => {
    expect(createMobyAdapter('ftp://x').api).to.equal('ftp://x');
    expect(createMobyAdapter('ssh://me@h:2222').api).to.equal('ssh://me@h:2222');
  });
});

describe('moby: ssh:// hosts', () => {
  it('parses ssh://[user@]host[:port] as the Docker CLI does', () => {
    expect(parseSshHost('ssh://me@build:2222')).to.deep.equal({ kind: 'ssh', api: 'ssh://me@build:2222', username: 'me', host: 'build', port: 2222 });
    expect(parseSshHost('ssh://root@[::1]')).to.include({ host: '::1', port: 22, username: 'root' });
    expect(parseSshHost('ssh://10.0.0.7').username).to.be.a('string').and.not.equal('');
    expect(() => parseSshHost('ssh://h/var/run/docker.sock')).to.throw(TypeError, /extra path/);
    expect(() => parseSshHost('ssh://u:pw@h')).to.throw(TypeError, /password/);
    expect(() => parseSshHost('ssh://h?x=1')).to.throw(TypeError, /query/);
  });

  it('a server that accepts the connection and never speaks SSH: an EngineUnreachableError after readyTimeout, retried', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => sockets.add(s.on('error', () => undefined)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    try {
      const host = `ssh://me@127.0.0.1:${port}`;
      const w = mobyWatcher(host, { ssh: { readyTimeout: 300, knownHosts: '/nonexistent', agent: false }, backoff: { initialDelay: 50, maxRetries: 1 } });
      const states: WatcherState[] = [];
      w.state$.subscribe((s) => states.push(s));
      const error = await w.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(EngineUnreachableError);
      expect((error as Error).message).to.include(host).and.match(/timed out in the SSH handshake/);
      expect(states.map((s) => s.state)).to.include('reconnecting');
      await w.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  describe('known_hosts', () => {
    const key = (seed: string) =>
      Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), createHash('sha256').update(seed).digest()] as unknown as Uint8Array[]);
    const line = (hosts: string, seed: string) => `${hosts} ssh-ed25519 ${key(seed).toString('base64')}`;
    const hashed = (name: string) => {
      const salt = Buffer.from('0123456789abcdefghij');
      return `|1|${salt.toString('base64')}|${createHmac('sha1', salt as unknown as Uint8Array).update(name).digest('base64')}`;
    };

    it('trusts a listed key: plain names, [host]:port, patterns, hashed names', () => {
      const entries = parseKnownHosts(
        ['# comment', '', line('build,10.0.0.7', 'a'), line('[127.0.0.1]:2222', 'b'), line('*.example.org,!bad.example.org', 'c'), line(hashed('[h]:2200'), 'd'), 'garbage'].join('\n'),
      );
      expect(entries).to.have.length(4);
      expect(checkHostKey(entries, 'build', 22, key('a'))).to.equal('trusted');
      expect(checkHostKey(entries, '10.0.0.7', 22, key('a'))).to.equal('trusted');
      expect(checkHostKey(entries, '127.0.0.1', 2222, key('b'))).to.equal('trusted');
      expect(checkHostKey(entries, 'web.example.org', 22, key('c'))).to.equal('trusted');
      expect(checkHostKey(entries, 'h', 2200, key('d'))).to.equal('trusted');
    });

    it('tells unknown hosts from changed and revoked keys', () => {
      const entries = parseKnownHosts([line('[127.0.0.1]:2222', 'b'), line('*.example.org,!bad.example.org', 'c'), `@revoked ${line('*', 'evil')}`].join('\n'));
      expect(checkHostKey(entries, '127.0.0.1', 2222, key('other'))).to.equal('changed');
      expect(checkHostKey(entries, '127.0.0.1', 22, key('b'))).to.equal('unknown'); // another port is another host
      expect(checkHostKey(entries, 'bad.example.org', 22, key('c'))).to.equal('unknown'); // negated
      expect(checkHostKey(entries, '127.0.0.1', 2222, key('evil'))).to.equal('revoked');
      expect(checkHostKey([], 'h', 22, key('a'))).to.equal('unknown');
    });
  });
});

describe('moby: TLS failures are final', () => {
  const api = 'tcp://127.0.0.1:2376';
  const tlsErr = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('a server certificate the client may not trust is a WrongEngineError naming endpoint and reason', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      const e = mobyError(api, tlsErr(code, 'unable to verify the first certificate'));
      expect(e, code).to.be.instanceOf(WrongEngineError);
      expect(e.message).to.include(api).and.include(code).and.include('not trusted');
    }
  });

  it('a client certificate the server refuses is a WrongEngineError with the alert', () => {
    const raw = '807CDF32657F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n';
    const e = mobyError(api, tlsErr('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', raw));
    expect(e).to.be.instanceOf(WrongEngineError);
    expect(e.message).to.include(api).and.include('refuses our client certificate').and.include('sslv3 alert bad certificate').and.not.include('\n');
    expect(mobyError(api, tlsErr('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'))).to.be.instanceOf(WrongEngineError);
    expect(mobyError(api, tlsErr('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')).message).to.include('no TLS server');
  });

  it('connection failures stay EngineUnreachableErrors (retried)', () => {
    expect(mobyError(api, tlsErr('ECONNREFUSED', 'refused'))).to.be.instanceOf(EngineUnreachableError);
    expect(mobyError(api, tlsErr('ECONNRESET', 'reset'))).to.be.instanceOf(EngineUnreachableError);
  });
});

describe('moby: Docker contexts (temp DOCKER_CONFIG)', () => {
  let config: string;
  beforeEach(() => {
    config = mkdtempSync(join(tmpdir(), 'ww-docker-config-'));
  });
  afterEach(() => rmSync(config, { recursive: true, force: true }));

  it('resolves as the Docker CLI: DOCKER_HOST, DOCKER_CONTEXT, currentContext, default socket', () => {
    writeContext(config, 'ctx-a', 'tcp://a.example:2375');
    writeContext(config, 'ctx-b', 'ssh://me@b.example');
    writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'ctx-b' }));
    const env = { DOCKER_CONFIG: config };
    expect(resolveDockerHost({ ...env, DOCKER_HOST: 'unix:///x.sock', DOCKER_CONTEXT: 'ctx-a' })).to.deep.equal({ host: 'unix:///x.sock', source: 'DOCKER_HOST' });
    expect(resolveDockerHost({ ...env, DOCKER_CONTEXT: 'ctx-a' })).to.deep.equal({ host: 'tcp://a.example:2375', tls: false, source: 'DOCKER_CONTEXT', context: 'ctx-a' });
    expect(resolveDockerHost(env)).to.deep.equal({ host: 'ssh://me@b.example', tls: false, source: 'currentContext', context: 'ctx-b' });
    expect(resolveDockerHost({ ...env, DOCKER_CONTEXT: 'default' })).to.deep.equal({ host: 'unix:///var/run/docker.sock', source: 'default' });
    writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: {} }));
    expect(resolveDockerHost(env)).to.deep.equal({ host: 'unix:///var/run/docker.sock', source: 'default' });
    expect(currentDockerContext(env)).to.equal(undefined);
  });

  it("reads a context's TLS files from the store, and SkipTLSVerify", () => {
    writeContext(config, 'tls', 'tcp://10.0.0.5:2376', { 'ca.pem': 'CA', 'cert.pem': 'CERT', 'key.pem': 'KEY' });
    const { host, tls } = readDockerContext('tls', { DOCKER_CONFIG: config });
    expect(host).to.equal('tcp://10.0.0.5:2376');
    expect(tls && { verify: tls.verify, ca: String(tls.ca), cert: String(tls.cert), key: String(tls.key) }).to.deep.equal({ verify: true, ca: 'CA', cert: 'CERT', key: 'KEY' });
    writeContext(config, 'skip', 'tcp://10.0.0.5:2376', { 'cert.pem': 'CERT', 'key.pem': 'KEY' }, true);
    expect(readDockerContext('skip', { DOCKER_CONFIG: config }).tls).to.include({ verify: false });
  });

  it('a context that does not exist is a DockerContextError, and the watcher fails for good naming it', async () => {
    expect(() => readDockerContext('gone', { DOCKER_CONFIG: config })).to.throw(DockerContextError, /"gone" does not exist/);
    await withEnv({ ...NO_CLIENT_ENV, DOCKER_CONFIG: config, DOCKER_CONTEXT: 'gone' }, async () => {
      const w = mobyWatcher(undefined, { backoff: { initialDelay: 1 } });
      const states: WatcherState['state'][] = [];
      w.state$.subscribe((s) => states.push(s.state));
      const error = await w.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(WrongEngineError);
      expect((error as WrongEngineError).endpoint).to.equal('docker context gone');
      expect(states).to.not.include('reconnecting');
      await w.close();
    });
  });

  it('mobyWatcher() without a host watches the current context', async () => {
    const fake = await startFakeDocker();
    try {
      fake.containers.set('c1', inspection('c1', 'web', 4242));
      writeContext(config, 'fake', fake.api);
      writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'fake' }));
      await withEnv({ ...NO_CLIENT_ENV, DOCKER_CONFIG: config }, async () => {
        const w = mobyWatcher();
        expect(w.api).to.equal(fake.api);
        const p = await w.ready({ signal: AbortSignal.timeout(10_000) });
        expect(p.container('web')?.pid).to.equal(4242);
        await w.close();
      });
    } finally {
      await fake.close();
    }
  });

  it("the command discovers the current context (with its TLS), instead of the default socket", () => {
    writeContext(config, 'remote', 'tcp://10.0.0.5:2376', { 'ca.pem': 'CA' });
    const none = { docker: [], containerd: [], cri: [] };
    const found = discoverEngines(none, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'remote' }, (p) => p === '/var/run/docker.sock');
    expect(found.engines).to.have.length(1);
    expect(found.engines[0]).to.include({ kind: 'docker', endpoint: 'tcp://10.0.0.5:2376', source: 'context', context: 'remote' });
    expect(found.engines[0]!.tls).to.include({ verify: true });
    const missing = discoverEngines(none, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'nope' }, () => false);
    expect(missing.engines).to.deep.equal([]);
    expect(missing.tried.join('\n')).to.match(/Docker context nope .*does not exist/);
  });
});

describe('cli: user sockets', () => {
  it('discovers $XDG_RUNTIME_DIR/docker.sock and $XDG_RUNTIME_DIR/podman/podman.sock when they exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-xdg-'));
    try {
      mkdirSync(join(dir, 'podman'));
      writeFileSync(join(dir, 'docker.sock'), '');
      writeFileSync(join(dir, 'podman', 'podman.sock'), '');
      expect(userDockerPlaces({ XDG_RUNTIME_DIR: dir })).to.deep.equal([`unix://${dir}/docker.sock`, `unix://${dir}/podman/podman.sock`]);
      expect(userDockerPlaces({})).to.deep.equal([]);
      const none = { docker: [], containerd: [], cri: [] };
      const found = discoverEngines(none, { XDG_RUNTIME_DIR: dir, DOCKER_CONFIG: dir }, (p) => p.startsWith(dir));
      expect(found.engines).to.deep.equal([
        { kind: 'docker', endpoint: `unix://${dir}/docker.sock`, source: 'default' },
        { kind: 'docker', endpoint: `unix://${dir}/podman/podman.sock`, source: 'default' },
      ]);
      rmSync(join(dir, 'docker.sock'));
      const one = discoverEngines(none, { XDG_RUNTIME_DIR: dir, DOCKER_CONFIG: dir }, (p) => p === join(dir, 'podman', 'podman.sock'));
      expect(one.engines.map((e) => e.endpoint)).to.deep.equal([`unix://${dir}/podman/podman.sock`]);
      expect(one.tried).to.include(`docker ${dir}/docker.sock (no such socket)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
