/**
 * Smoke suites: each real engine answers, and (Docker, Podman, containerd) runs a test
 * container through its whole life: started, paused, unpaused, killed, each state read back
 * through the engine's own command line. Containers are killed with SIGKILL (busybox sleep
 * as PID 1 ignores SIGTERM) and removed afterwards.
 */
import { expect } from 'chai';
import {
  crashEngine,
  ctr,
  ctrAt,
  ctrRunFlags,
  describeEngine,
  docker,
  engineAnswers,
  enginePid,
  isProvisioned,
  podman,
  restartEngine,
  skipOrFail,
  testEngines,
  uniqueName,
  waitFor,
} from '../support/engines.js';

/** The container's state as the Docker API reports it. */
async function dockerState(endpoint: string, name: string): Promise<string> {
  return docker(endpoint, 'inspect', '--format', '{{.State.Status}}', name);
}

/** Start → pause → unpause → SIGKILL through the Docker CLI, checking every state. */
function mobyLifecycle(engine: 'docker' | 'docker26' | 'podman', endpoint: () => string, image: () => string): void {
  const name = uniqueName(`smoke-${engine}`);

  after(async function () {
    this.timeout(60_000);
    // (after hooks run even when the suite was skipped: endpoint() throws then)
    await Promise.resolve()
      .then(() => docker(endpoint(), 'rm', '--force', name))
      .catch(() => undefined);
  });

  it('starts, pauses, unpauses and kills a container', async () => {
    const id = await docker(endpoint(), 'run', '--detach', '--network', 'none', '--name', name, image());
    expect(id).to.match(/^[0-9a-f]{64}$/);
    expect(await dockerState(endpoint(), name)).to.equal('running');
    const pid = Number(await docker(endpoint(), 'inspect', '--format', '{{.State.Pid}}', name));
    expect(pid).to.be.greaterThan(0);

    await docker(endpoint(), 'pause', name);
    expect(await dockerState(endpoint(), name)).to.equal('paused');

    await docker(endpoint(), 'unpause', name);
    expect(await dockerState(endpoint(), name)).to.equal('running');

    await docker(endpoint(), 'kill', '--signal', 'KILL', name);
    await waitFor(async () => (await dockerState(endpoint(), name)) === 'exited', {
      timeoutMs: 10_000,
      what: `${engine} container ${name} exited`,
    });
    expect(await docker(endpoint(), 'inspect', '--format', '{{.State.ExitCode}}', name)).to.equal('137');
  });
}

// Debian 12's dockerd 20.10 and Debian 13's dockerd 26 (WHALEWATCHER_TEST_DOCKER26).
for (const [key, title, provisionedVersion] of [
  ['docker', 'Docker 20.10', /^20\.10\./],
  ['docker26', 'Docker 26', /^26\./],
] as const) {
  describeEngine(key, `smoke: ${title}`, (endpoint) => {
    it('answers info', async () => {
      const version = await docker(endpoint(), 'info', '--format', '{{.ServerVersion}}');
      expect(version).to.match(/^\d+\.\d+/);
      if (isProvisioned(key, endpoint())) expect(version).to.match(provisionedVersion);
    });

    mobyLifecycle(key, endpoint, () => testEngines().images.docker);
  });
}

describeEngine('podman', 'smoke: Podman (Docker-compatible API)', (endpoint) => {
  it('answers info, as Podman', async () => {
    const version = await docker(endpoint(), 'info', '--format', '{{.ServerVersion}}');
    expect(version).to.match(/^\d+\.\d+/);
    const components = await docker(endpoint(), 'version', '--format', '{{range .Server.Components}}{{.Name}};{{end}}');
    expect(components).to.contain('Podman Engine');
  });

  mobyLifecycle('podman', endpoint, () => testEngines().images.podman);

  it('keeps its containers private (the podman CLI on the private storage sees them)', async function () {
    if (!isProvisioned('podman')) skipOrFail(this, 'not the provisioning\'s own podman');
    const name = uniqueName('smoke-podman-cli');
    try {
      await docker(endpoint(), 'run', '--detach', '--network', 'none', '--name', name, testEngines().images.podman);
      const names = await podman('ps', '--format', '{{.Names}}');
      expect(names.split('\n')).to.include(name);
    } finally {
      await docker(endpoint(), 'rm', '--force', name).catch(() => undefined);
    }
  });
});

describeEngine('containerd', 'smoke: containerd (native API)', (endpoint) => {
  const ns = 'ww-test';
  const id = uniqueName('smoke-ctr');

  /** The task's status column in `ctr tasks ls` (RUNNING, PAUSED, STOPPED), '' if absent. */
  async function taskStatus(): Promise<string> {
    const out = await ctr(ns, 'tasks', 'ls');
    for (const line of out.split('\n').slice(1)) {
      const [task, , status] = line.trim().split(/\s+/);
      if (task === id) return status ?? '';
    }
    return '';
  }

  after(async function () {
    this.timeout(60_000);
    await ctr(ns, 'tasks', 'kill', '--signal', 'SIGKILL', id).catch(() => undefined);
    await ctr(ns, 'tasks', 'delete', '--force', id).catch(() => undefined);
    await ctr(ns, 'containers', 'delete', id).catch(() => undefined);
  });

  it('answers version (1.7)', async () => {
    const out = await ctr(ns, 'version');
    const server = out.slice(out.indexOf('Server:'));
    expect(server).to.match(/Version:\s+v?\d+\.\d+/);
    if (isProvisioned('containerd')) expect(server).to.match(/Version:\s+v?1\.7\./);
  });

  it('starts, pauses, resumes and kills a task', async () => {
    await ctr(ns, 'run', '--detach', ...ctrRunFlags(), testEngines().images.containerd, id);
    expect(await taskStatus()).to.equal('RUNNING');

    await ctr(ns, 'tasks', 'pause', id);
    expect(await taskStatus()).to.equal('PAUSED');

    await ctr(ns, 'tasks', 'resume', id);
    expect(await taskStatus()).to.equal('RUNNING');

    await ctr(ns, 'tasks', 'kill', '--signal', 'SIGKILL', id);
    await waitFor(async () => (await taskStatus()) === 'STOPPED', { timeoutMs: 10_000, what: `task ${id} stopped` });

    await ctr(ns, 'tasks', 'delete', id);
    await ctr(ns, 'containers', 'delete', id);
    expect(await taskStatus()).to.equal('');
  });
});

/** The CRI plugin of a containerd is loaded and healthy (`ctr plugins ls`). */
async function criPluginOk(address: string, binary: string): Promise<void> {
  const out = await ctrAt(address, 'k8s.io', ['plugins', 'ls'], { binary });
  const cri = out.split('\n').find((l) => /^io\.containerd\.grpc\.v1\s+cri\s/.test(l.trim()));
  expect(cri, 'the cri plugin in `ctr plugins ls`').to.be.a('string');
  expect(cri!.trim().split(/\s+/).pop()).to.equal('ok');
}

describeEngine('cri', 'smoke: CRI on containerd 1.7', (endpoint) => {
  it('serves the CRI plugin', async function () {
    if (!isProvisioned('cri')) skipOrFail(this, 'not the provisioning\'s own cri');
    await criPluginOk(endpoint(), testEngines().ctr);
  });

  it('has the sandbox image in k8s.io', async function () {
    if (!isProvisioned('cri')) skipOrFail(this, 'not the provisioning\'s own cri');
    const images = await ctrAt(endpoint(), 'k8s.io', ['images', 'ls', '--quiet'], { binary: testEngines().ctr });
    expect(images.split('\n')).to.include(testEngines().images.containerd);
  });
});

describeEngine('criNoEvents', 'smoke: CRI on containerd 1.6 (no GetContainerEvents)', (endpoint) => {
  it('is containerd 1.6 and serves the CRI plugin', async function () {
    if (!isProvisioned('criNoEvents')) skipOrFail(this, 'not the provisioning\'s own criNoEvents');
    const { ctr16 } = testEngines();
    const out = await ctrAt(endpoint(), 'k8s.io', ['version'], { binary: ctr16 });
    expect(out.slice(out.indexOf('Server:'))).to.match(/Version:\s+v?1\.6\./);
    await criPluginOk(endpoint(), ctr16);
  });

  it('has the sandbox image in k8s.io', async function () {
    if (!isProvisioned('criNoEvents')) skipOrFail(this, 'not the provisioning\'s own criNoEvents');
    const { ctr16, images } = testEngines();
    const list = await ctrAt(endpoint(), 'k8s.io', ['images', 'ls', '--quiet'], { binary: ctr16 });
    expect(list.split('\n')).to.include(images.containerd);
  });
});

/**
 * The crash helpers: SIGKILL to the daemon, then a clean restart that answers again. What
 * survives is each engine's own business: dockerd (no live-restore) brings its containers back
 * exited, while Podman's conmon and containerd's shims keep theirs running.
 */
describe('smoke: crash and restart helpers', function () {
  this.timeout(120_000);

  describeEngine('docker', 'Docker', (endpoint) => {
    const name = uniqueName('smoke-crash-docker');
    after(async function () {
      await Promise.resolve()
        .then(() => docker(endpoint(), 'rm', '--force', name))
        .catch(() => undefined);
    });

    it('crashes and restarts dockerd; its container comes back exited', async function () {
      if (!isProvisioned('docker')) skipOrFail(this, 'not the provisioning\'s own docker');
      await docker(endpoint(), 'run', '--detach', '--network', 'none', '--name', name, testEngines().images.docker);
      const before = enginePid('docker');
      await crashEngine('docker');
      expect(await engineAnswers('docker', endpoint(), 2_000)).to.equal(false);
      await restartEngine('docker');
      expect(enginePid('docker')).to.be.greaterThan(0).and.not.equal(before);
      expect(await dockerState(endpoint(), name)).to.equal('exited');
    });
  });

  describeEngine('podman', 'Podman', (endpoint) => {
    const name = uniqueName('smoke-crash-podman');
    after(async function () {
      await Promise.resolve()
        .then(() => docker(endpoint(), 'rm', '--force', name))
        .catch(() => undefined);
    });

    it('crashes and restarts the service; its container keeps running', async function () {
      if (!isProvisioned('podman')) skipOrFail(this, 'not the provisioning\'s own podman');
      await docker(endpoint(), 'run', '--detach', '--network', 'none', '--name', name, testEngines().images.podman);
      const pid = await docker(endpoint(), 'inspect', '--format', '{{.State.Pid}}', name);
      await crashEngine('podman');
      expect(await engineAnswers('podman', endpoint(), 2_000)).to.equal(false);
      await restartEngine('podman');
      expect(await dockerState(endpoint(), name)).to.equal('running');
      expect(await docker(endpoint(), 'inspect', '--format', '{{.State.Pid}}', name)).to.equal(pid);
    });
  });

  describeEngine('containerd', 'containerd 1.7', () => {
    const ns = 'ww-test';
    const id = uniqueName('smoke-crash-ctr');
    after(async function () {
      await ctr(ns, 'tasks', 'delete', '--force', id).catch(() => undefined);
      await ctr(ns, 'containers', 'delete', id).catch(() => undefined);
    });

    it('crashes and restarts containerd; its task keeps running with the same PID', async function () {
      if (!isProvisioned('containerd')) skipOrFail(this, 'not the provisioning\'s own containerd');
      await ctr(ns, 'run', '--detach', ...ctrRunFlags(), testEngines().images.containerd, id);
      const pid = (await ctr(ns, 'tasks', 'ls')).split('\n').find((l) => l.startsWith(`${id} `))?.split(/\s+/)[1];
      expect(Number(pid)).to.be.greaterThan(0);
      await crashEngine('containerd');
      expect(await engineAnswers('containerd', undefined, 2_000)).to.equal(false);
      await restartEngine('containerd');
      const line = (await ctr(ns, 'tasks', 'ls')).split('\n').find((l) => l.startsWith(`${id} `));
      expect(line?.split(/\s+/).slice(1)).to.deep.equal([pid, 'RUNNING']);
    });
  });

  describeEngine('criNoEvents', 'containerd 1.6', (endpoint) => {
    it('crashes and restarts containerd 1.6', async function () {
      if (!isProvisioned('criNoEvents')) skipOrFail(this, 'not the provisioning\'s own criNoEvents');
      const before = enginePid('containerd16');
      await crashEngine('containerd16');
      expect(await engineAnswers('criNoEvents', endpoint(), 2_000)).to.equal(false);
      await restartEngine('containerd16');
      expect(enginePid('containerd16')).to.be.greaterThan(0).and.not.equal(before);
    });
  });
});
