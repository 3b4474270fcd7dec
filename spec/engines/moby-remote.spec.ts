/**
 * Remote Docker against a real private dockerd (the provisioning's `remote` engine): over
 * tcp://127.0.0.1 with mutual TLS (the `tls` option, DOCKER_HOST + DOCKER_TLS_VERIFY +
 * DOCKER_CERT_PATH, and a context made by `docker context create`), and over SSH through a
 * private sshd (`docker system dial-stdio`). After each step the watcher's portfolio equals the
 * engine's own answer through its unix socket (docker ps + inspect, PIDs included). A server
 * certificate from another CA, a client certificate the server refuses, an unknown and a
 * changed host key are final WrongEngineErrors naming the endpoint: the watcher ends `failed`
 * and `ready()` rejects, with no retry.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { mobyWatcher, type MobyWatchOptions } from '../../engines/moby/index.js';
import type { MobySshOptions } from '../../engines/moby/ssh.js';
import { WrongEngineError } from '../../lib/errors.js';
import type { Watcher, WatcherState } from '../../lib/watcher.js';
import { REPO_ROOT, docker, exec, runDir, skipOrFail, testEngines, uniqueName, waitFor } from '../support/engines.js';
import { Running, tsxArgs } from './cli-support.js';
import { engineAnswer, inSync, removeTestContainers, run } from './moby-helpers.js';
import { NO_CLIENT_ENV, withEnv } from '../support/env.js';

/** The remote engine's endpoints and files, from the environment or RUN/env (scripts/engines/up.sh). */
interface Remote {
  /** The engine's own unix socket: the truth the suite compares with. */
  readonly unix: string;
  readonly tls: string;
  readonly certs: string;
  readonly wrongCa: string;
  readonly ssh: string;
  readonly sshKey: string;
  readonly knownHosts: string;
  readonly changedKnownHosts: string;
  readonly sshdPidFile: string;
}

const REMOTE_VARIABLES = {
  unix: 'WHALEWATCHER_TEST_DOCKER_REMOTE',
  tls: 'WHALEWATCHER_TEST_DOCKER_TLS',
  certs: 'WHALEWATCHER_TEST_DOCKER_CERTS',
  wrongCa: 'WHALEWATCHER_TEST_DOCKER_WRONG_CA',
  ssh: 'WHALEWATCHER_TEST_DOCKER_SSH',
  sshKey: 'WHALEWATCHER_TEST_DOCKER_SSH_KEY',
  knownHosts: 'WHALEWATCHER_TEST_DOCKER_SSH_KNOWN_HOSTS',
  changedKnownHosts: 'WHALEWATCHER_TEST_DOCKER_SSH_CHANGED_KNOWN_HOSTS',
  sshdPidFile: 'WHALEWATCHER_TEST_DOCKER_SSH_PIDFILE',
} as const satisfies Record<keyof Remote, string>;

function readRemote(): Partial<Remote> {
  const file: Record<string, string> = {};
  try {
    for (const line of readFileSync(path.join(runDir(), 'env'), 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (!line.startsWith('#') && eq > 0) file[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
  } catch {
    // no RUN/env: only the environment
  }
  const out: Partial<Record<keyof Remote, string>> = {};
  for (const [key, variable] of Object.entries(REMOTE_VARIABLES) as [keyof Remote, string][]) {
    const value = process.env[variable] || file[variable];
    if (value) out[key] = value;
  }
  return out;
}

async function remoteAnswers(r: Partial<Remote>): Promise<boolean> {
  if (!r.unix || !r.tls || !r.ssh) return false;
  try {
    await docker(r.unix, 'version', '--format', '{{.Server.Version}}');
    return true;
  } catch {
    return false;
  }
}

/**
 * The remote engine for a `before` hook: started with `scripts/engines/up.sh --only remote` when
 * the provisioning's run folder lacks it; missing, it fails the suite under CI=true and skips
 * it elsewhere.
 */
async function requireRemote(ctx: Mocha.Context): Promise<Remote> {
  ctx.timeout(300_000);
  let r = readRemote();
  if (!(await remoteAnswers(r)) && process.getuid?.() === 0 && !process.env[REMOTE_VARIABLES.unix]) {
    await exec('bash', [path.join(REPO_ROOT, 'scripts', 'engines', 'up.sh'), '--only', 'remote'], { timeoutMs: 240_000 }).catch((e: unknown) => {
      console.warn(`      (scripts/engines/up.sh --only remote failed: ${e instanceof Error ? e.message : String(e)})`);
    });
    r = readRemote();
  }
  if (!(await remoteAnswers(r))) {
    skipOrFail(ctx, `the remote Docker engine is missing (${Object.values(REMOTE_VARIABLES).join(', ')}): run npm run engines:up as root`);
  }
  return r as Remote;
}

/** A watcher with its states recorded. */
function observed(w: Watcher): { w: Watcher; states: WatcherState[] } {
  const states: WatcherState[] = [];
  w.state$.subscribe((s) => states.push(s));
  return { w, states };
}

/** Expects the watcher to fail for good with a WrongEngineError naming `endpoint` and matching `reason`. */
async function expectFinal(w: Watcher, states: WatcherState[], endpoint: string, reason: RegExp): Promise<WrongEngineError> {
  const t0 = Date.now();
  const error = await w.ready({ signal: AbortSignal.timeout(20_000) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'ready() rejects').to.be.instanceOf(WrongEngineError);
  const e = error as WrongEngineError;
  expect(e.endpoint).to.equal(endpoint);
  expect(e.message).to.include(endpoint).and.match(reason);
  expect(states.map((s) => s.state)).to.not.include('reconnecting');
  expect(states.at(-1)?.state).to.equal('failed');
  expect(Date.now() - t0, 'fails at once').to.be.below(10_000);
  return e;
}

/** Starts a container through the engine's own socket, waits for it in the portfolio with the engine's PID. */
async function startAndSee(w: Watcher, r: Remote, what: string): Promise<{ id: string; name: string }> {
  const name = uniqueName(`remote-${what}`);
  const id = await run(r.unix, testEngines().images.docker, { name });
  const seen = await inSync(w, r.unix, `${what}: started`);
  const mine = seen.find((c) => c.id === id);
  expect(mine, `${name} in the engine's answer`).to.not.equal(undefined);
  expect(w.portfolio.container(name)?.pid).to.equal(mine!.pid).and.be.greaterThan(0);
  return { id, name };
}

const timings: string[] = [];

describe('moby remote engine (TLS and SSH on loopback)', function () {
  this.timeout(60_000);
  let r: Remote;
  const watchers: Watcher[] = [];
  const watcher = (host: string | undefined, options: MobyWatchOptions = {}) => {
    const o = observed(mobyWatcher(host, { backoff: { initialDelay: 100, maxDelay: 1_000 }, ...options }));
    watchers.push(o.w);
    return o;
  };

  before(async function () {
    r = await requireRemote(this);
    await removeTestContainers(r.unix);
  });
  afterEach(async () => {
    for (const w of watchers.splice(0)) await w.close();
  });
  after(async () => {
    if (r) await removeTestContainers(r.unix).catch(() => undefined);
    if (timings.length) console.log(`      timings: ${timings.join('; ')}`);
  });

  describe('tcp:// with TLS', () => {
    it('the tls option (certPath): syncs, then sees a container start, pause and die with the engine\'s PID', async () => {
      const t0 = Date.now();
      const { w } = watcher(r.tls, { tls: { certPath: r.certs } });
      await w.ready({ signal: AbortSignal.timeout(20_000) });
      timings.push(`TLS first sync ${Date.now() - t0} ms`);
      await inSync(w, r.unix, 'first sync');
      const { id, name } = await startAndSee(w, r, 'tls');
      await docker(r.unix, 'pause', id);
      await waitFor(() => w.portfolio.container(name)?.paused, { what: 'paused over TLS' });
      await inSync(w, r.unix, 'paused');
      await docker(r.unix, 'unpause', id);
      await docker(r.unix, 'kill', id);
      await waitFor(() => !w.portfolio.container(name), { what: 'gone over TLS' });
      await inSync(w, r.unix, 'killed');
    });

    it('DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, as the Docker CLI', async () => {
      await withEnv({ ...NO_CLIENT_ENV, DOCKER_HOST: r.tls, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: r.certs }, async () => {
        const { w } = watcher(undefined);
        expect(w.api).to.equal(r.tls);
        await w.ready({ signal: AbortSignal.timeout(20_000) });
        await startAndSee(w, r, 'tls-env');
      });
    });

    it('a server certificate not signed by the CA the client trusts: final WrongEngineError', async () => {
      const { w, states } = watcher(r.tls, { tls: { certPath: r.wrongCa } });
      await expectFinal(w, states, r.tls, /certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    });

    it('a client certificate the server refuses (another CA): final WrongEngineError', async () => {
      const tls = {
        ca: readFileSync(path.join(r.certs, 'ca.pem')),
        cert: readFileSync(path.join(r.wrongCa, 'cert.pem')),
        key: readFileSync(path.join(r.wrongCa, 'key.pem')),
      };
      const { w, states } = watcher(r.tls, { tls });
      await expectFinal(w, states, r.tls, /refuses our client certificate \(alert bad_certificate/);
    });

    it('a context made by `docker context create` (HOME and DOCKER_CONFIG in a temp folder), current by `docker context use`', async () => {
      const home = mkdtempSync(path.join(tmpdir(), 'ww-context-home-'));
      try {
        const config = path.join(home, '.docker');
        const env = { ...NO_CLIENT_ENV, HOME: home, DOCKER_CONFIG: config };
        const cli = (...args: string[]) => exec(testEngines().dockerCli, args, { env });
        const ca = path.join(r.certs, 'ca.pem');
        const cert = path.join(r.certs, 'cert.pem');
        const key = path.join(r.certs, 'key.pem');
        await cli('context', 'create', 'ww-remote-tls', '--docker', `host=${r.tls},ca=${ca},cert=${cert},key=${key}`);
        await cli('context', 'use', 'ww-remote-tls');
        // The CLI itself reaches the engine through it.
        expect((await cli('version', '--format', '{{.Server.Version}}')).stdout.trim()).to.not.equal('');
        await withEnv(env, async () => {
          const { w } = watcher(undefined);
          expect(w.api).to.equal(r.tls);
          await w.ready({ signal: AbortSignal.timeout(20_000) });
          await inSync(w, r.unix, 'through the context');
          await startAndSee(w, r, 'context');
        });
        // DOCKER_CONTEXT names it as well, with config.json saying otherwise.
        writeFileSync(path.join(config, 'config.json'), JSON.stringify({ currentContext: 'default' }));
        await withEnv({ ...env, DOCKER_CONTEXT: 'ww-remote-tls' }, async () => {
          const { w } = watcher(undefined);
          expect(w.api).to.equal(r.tls);
          await w.ready({ signal: AbortSignal.timeout(20_000) });
        });
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    });
  });

  describe('ssh://', () => {
    const sshOptions = (): MobySshOptions => ({ knownHosts: r.knownHosts, identityFiles: [r.sshKey], agent: false });

    /** The sshd's session processes (children of the listener): one per SSH connection. */
    const sessions = async (): Promise<number[]> => {
      const listener = Number.parseInt(readFileSync(r.sshdPidFile, 'utf8').trim(), 10);
      const { stdout } = await exec('ps', ['-o', 'pid=', '--ppid', String(listener)]).catch(() => ({ stdout: '' }));
      return stdout.split('\n').map((s) => Number.parseInt(s.trim(), 10)).filter((n) => n > 0);
    };

    it('events, lists and inspections over SSH match the engine', async () => {
      const t0 = Date.now();
      const { w } = watcher(r.ssh, { ssh: sshOptions() });
      await w.ready({ signal: AbortSignal.timeout(30_000) });
      timings.push(`SSH first sync ${Date.now() - t0} ms`);
      await inSync(w, r.unix, 'first sync over SSH');
      const { id, name } = await startAndSee(w, r, 'ssh');
      await docker(r.unix, 'pause', id);
      await waitFor(() => w.portfolio.container(name)?.paused, { what: 'paused over SSH' });
      await docker(r.unix, 'unpause', id);
      await waitFor(() => w.portfolio.container(name)?.paused === false, { what: 'unpaused over SSH' });
      await inSync(w, r.unix, 'unpaused');
      await docker(r.unix, 'kill', id);
      await waitFor(() => !w.portfolio.container(name), { what: 'gone over SSH' });
      await inSync(w, r.unix, 'killed');
    });

    it("the default key and known_hosts files of ~/.ssh (HOME in a temp folder)", async () => {
      const home = mkdtempSync(path.join(tmpdir(), 'ww-ssh-home-'));
      try {
        mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
        copyFileSync(r.sshKey, path.join(home, '.ssh', 'id_ed25519'));
        copyFileSync(r.knownHosts, path.join(home, '.ssh', 'known_hosts'));
        await withEnv({ HOME: home, SSH_AUTH_SOCK: undefined }, async () => {
          const { w } = watcher(r.ssh);
          await w.ready({ signal: AbortSignal.timeout(30_000) });
          await inSync(w, r.unix, 'default key files');
        });
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    });

    it('a key from the SSH agent (SSH_AUTH_SOCK), none in ~/.ssh', async () => {
      const home = mkdtempSync(path.join(tmpdir(), 'ww-ssh-agent-'));
      const sock = path.join(home, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
      try {
        await waitFor(() => existsSync(sock), { what: 'ssh-agent socket' });
        await exec('ssh-add', [r.sshKey], { env: { SSH_AUTH_SOCK: sock } });
        await withEnv({ HOME: home, SSH_AUTH_SOCK: sock }, async () => {
          const { w } = watcher(r.ssh, { ssh: { knownHosts: r.knownHosts } });
          await w.ready({ signal: AbortSignal.timeout(30_000) });
          await inSync(w, r.unix, 'key from the agent');
        });
      } finally {
        agent.kill('SIGKILL');
        rmSync(home, { recursive: true, force: true });
      }
    });

    it('a dropped SSH connection (its sshd session killed) reconnects and syncs again', async () => {
      const before = new Set(await sessions());
      const { w, states } = watcher(r.ssh, { ssh: sshOptions() });
      await w.ready({ signal: AbortSignal.timeout(30_000) });
      const mine = await waitFor(async () => {
        const now = (await sessions()).filter((p) => !before.has(p));
        return now.length ? now : undefined;
      }, { what: "the watcher's sshd session" });
      const t0 = Date.now();
      for (const pid of mine) process.kill(pid, 'SIGKILL');
      await waitFor(() => states.some((s) => s.state === 'reconnecting'), { what: 'reconnecting after the drop' });
      // A container started while the connection is being made again.
      const name = uniqueName('remote-ssh-drop');
      const id = await run(r.unix, testEngines().images.docker, { name });
      await waitFor(() => states.at(-1)?.state === 'synced' && w.portfolio.container(name), { timeoutMs: 20_000, what: 'synced again with the newcomer' });
      timings.push(`SSH resync after a drop ${Date.now() - t0} ms`);
      const seen = await inSync(w, r.unix, 'after the drop');
      expect(w.portfolio.container(name)?.pid).to.equal(seen.find((c) => c.id === id)?.pid);
    });

    it('an unknown host key (empty known_hosts): final WrongEngineError', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'ww-known-'));
      try {
        const empty = path.join(dir, 'known_hosts');
        writeFileSync(empty, '');
        const { w, states } = watcher(r.ssh, { ssh: { ...sshOptions(), knownHosts: empty } });
        await expectFinal(w, states, r.ssh, /host key \(ssh-ed25519 SHA256:\S+\) is unknown/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a changed host key (known_hosts lists another key): final WrongEngineError', async () => {
      const { w, states } = watcher(r.ssh, { ssh: { ...sshOptions(), knownHosts: r.changedKnownHosts } });
      await expectFinal(w, states, r.ssh, /host key \(ssh-ed25519 SHA256:\S+\) is changed/);
    });

    it('a hostVerifier decides instead of known_hosts: it gets the key blob known_hosts lists', async () => {
      const listed = readFileSync(r.knownHosts, 'utf8').trim().split(/\s+/)[2]!;
      const seen: string[] = [];
      const trusting = watcher(r.ssh, { ssh: { identityFiles: [r.sshKey], agent: false, knownHosts: '/nonexistent', hostVerifier: (key) => (seen.push(key.toString('base64')), true) } });
      await trusting.w.ready({ signal: AbortSignal.timeout(30_000) });
      expect(seen[0]).to.equal(listed);
      const { w, states } = watcher(r.ssh, { ssh: { identityFiles: [r.sshKey], agent: false, hostVerifier: () => false } });
      await expectFinal(w, states, r.ssh, /host key \(ssh-ed25519 SHA256:\S+\) the hostVerifier refused/);
    });

    it('keys the server refuses: final WrongEngineError', async () => {
      const { w, states } = watcher(r.ssh, { ssh: { knownHosts: r.knownHosts, identityFiles: [], agent: false } });
      await expectFinal(w, states, r.ssh, /accepts none of our keys/);
    });
  });

  describe('examples/remote-fleet.ts', () => {
    it('one host over SSH and one over TLS as a fleet: the containers, then their lifecycle events on both engines', async () => {
      const ex = new Running(tsxArgs('examples/remote-fleet.ts'), {
        REMOTE_SSH: r.ssh,
        REMOTE_TLS: r.tls,
        DOCKER_CERT_PATH: r.certs,
        SSH_KNOWN_HOSTS: r.knownHosts,
        SSH_IDENTITY: r.sshKey,
        SSH_AUTH_SOCK: undefined,
      });
      try {
        await ex.until(() => ex.lines().some((l) => /^\d+ containers on 2 engines$/.test(l)), 'both engines synced');
        const name = uniqueName('remote-example');
        const id = await run(r.unix, testEngines().images.docker, { name });
        const pid = (await engineAnswer(r.unix)).find((c) => c.id === id)?.pid;
        expect(pid).to.be.greaterThan(0);
        for (const api of [r.ssh, r.tls]) {
          await ex.until(() => ex.lines().includes(`started ${name} pid ${pid} on ${api}`), `started on ${api}`);
        }
        await docker(r.unix, 'kill', id);
        for (const api of [r.ssh, r.tls]) {
          await ex.until(() => ex.lines().includes(`exited ${name} pid ${pid} on ${api}`), `exited on ${api}`);
        }
        expect(await ex.stop('SIGINT'), `exit code; stderr: ${ex.stderr}`).to.equal(0);
        expect(ex.stderr).to.match(/\[ssh\] synced/).and.match(/\[tls\] synced/);
      } finally {
        await ex.stop('SIGKILL');
      }
    });
  });
});
