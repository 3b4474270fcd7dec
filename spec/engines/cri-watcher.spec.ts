/**
 * criWatcher against the REAL private containerd 1.7 CRI (WHALEWATCHER_TEST_CRI) and containerd
 * 1.6 CRI without events (WHALEWATCHER_TEST_CRI_NOEVENTS), pods run with the project's own CRI
 * client. Never two CRI watchers on one runtime at once: every test closes its watcher.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import { filter, firstValueFrom, timeout, type Subscription } from 'rxjs';
import { WrongEngineError } from '../../lib/errors.js';
import type { Container, LifecycleEvent, Portfolio } from '../../lib/model.js';
import type { Diagnostic, Watcher, WatcherState } from '../../lib/watcher.js';
import { criWatcher, type CriWatchOptions } from '../../engines/cri/index.js';
import { CriTestClient, TEST_NAMESPACE, type RunningPod } from '../support/cri-client.js';
import { crashEngine, enginePid, isProvisioned, requireEngine, restartEngine, waitFor, skipOrFail } from '../support/engines.js';
import { openSockets } from '../support/reliability-helpers.js';

const NS = TEST_NAMESPACE;

/** Our test pods' containers and sandboxes in a portfolio. */
function ours(p: Portfolio): Container[] {
  return p.containers().filter((c) => c.labels['io.kubernetes.pod.namespace'] === NS);
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/** The first portfolio that satisfies `check`, within `ms`. */
function portfolioWhere(w: Watcher, check: (p: Portfolio) => boolean, ms = 10_000, what = 'portfolio'): Promise<Portfolio> {
  return firstValueFrom(
    w.portfolio$.pipe(
      filter(check),
      timeout({ first: ms, with: () => Promise.reject(new Error(`${what}: not seen within ${ms} ms`)) }),
    ),
  );
}

/** Records a watcher's lifecycle events, diagnostics and states. */
function record(w: Watcher) {
  const events: LifecycleEvent[] = [];
  const diagnostics: Diagnostic[] = [];
  const states: WatcherState[] = [];
  const subs: Subscription[] = [
    w.diagnostics$.subscribe((d) => diagnostics.push(d)),
    w.events$.subscribe((e) => events.push(e)),
    w.state$.subscribe((s) => states.push(s)),
  ];
  const count = (type: LifecycleEvent['type'], id: string) =>
    events.filter((e) => e.type === type && e.container.id === id).length;
  return { events, diagnostics, states, count, stop: () => subs.forEach((s) => s.unsubscribe()) };
}

/** All IDs of a running pod: sandbox first. */
const idsOf = (pod: RunningPod) => [pod.sandboxId, ...Object.values(pod.containers)];

/** Asserts that the watcher's view of our pods equals the runtime's, PIDs included. */
async function assertMatchesRuntime(cri: CriTestClient, p: Portfolio): Promise<void> {
  const alive = await cri.alive(NS);
  const seen = ours(p);
  assert.deepEqual(seen.map((c) => c.id).sort(), [...alive.keys()].sort(), 'the same sandboxes and containers');
  for (const c of seen) {
    assert.equal(c.pid, alive.get(c.id)?.pid, `PID of ${c.name}`);
    assert.ok(existsSync(`/proc/${c.pid}`), `${c.name}: /proc/${c.pid} exists`);
    // Right after StartContainer the process may still be runc's init on its way to exec sleep.
    await waitFor(() => cmdline(c.pid).some((a) => a.endsWith('sleep')), { timeoutMs: 5_000, intervalMs: 20 }).catch(() => {
      assert.fail(`${c.name} (PID ${c.pid}) runs sleep: its command line is ${JSON.stringify(cmdline(c.pid))}`);
    });
  }
}

const fast: CriWatchOptions = { backoff: { initialDelay: 100, maxDelay: 1_000 }, callTimeout: 10_000 };

describe('criWatcher against containerd 1.7 CRI', function () {
  this.timeout(120_000);
  let socket: string;
  let cri: CriTestClient;
  let w: Watcher | undefined;

  before(async function () {
    socket = await requireEngine(this, 'cri');
    cri = new CriTestClient(socket);
    await cri.removePodsIn([NS]);
  });
  beforeEach(async () => {
    // Event subscriptions ended earlier (a closed watcher, another suite, a killed run) would
    // each take one of the next events: let them have theirs first.
    await cri.flushStaleSubscriptions(NS);
  });
  afterEach(async () => {
    await w?.close(); // never two CRI watchers on one runtime at once
    w = undefined;
    await cri?.removePodsIn([NS]);
  });
  after(async () => {
    await cri?.flushStaleSubscriptions(NS); // the next suite starts without stale subscriptions
    await cri?.close();
  });

  it('sees pods started while watching: unique names, true PIDs, labels; each start and stop once', async () => {
    w = criWatcher(socket, fast);
    const rec = record(w);
    try {
      await w.ready({ signal: AbortSignal.timeout(15_000) });
      assert.equal(w.type, 'k8s.io/cri-api');
      const a = await cri.runPod({
        namespace: NS,
        name: 'a',
        labels: { app: 'a' },
        annotations: { 'example.com/pod': 'A' },
        containers: [{ name: 'app', labels: { tier: 'front' }, annotations: { 'example.com/c': 'A-app' } }],
      });
      const b = await cri.runPod({ namespace: NS, name: 'b', containers: [{ name: 'app' }, { name: 'side' }] });
      let p = await portfolioWhere(w, (p) => ours(p).length === 5, 10_000, 'five alive');
      assert.deepEqual(
        ours(p).map((c) => c.name),
        [`${NS}/a`, `${NS}/a/app`, `${NS}/b`, `${NS}/b/app`, `${NS}/b/side`],
      );
      await assertMatchesRuntime(cri, p);
      assert.equal(p.container(`${NS}/a/app`)?.id, a.containers['app']);
      assert.equal(p.container(`${NS}/b/app`)?.id, b.containers['app']);
      assert.equal(p.container(b.sandboxId)?.name, `${NS}/b`);

      const sandbox = p.container(`${NS}/a`)!;
      assert.equal(sandbox.labels['io.kubernetes.sandbox'], '');
      assert.equal(sandbox.labels['app'], 'a');
      assert.equal(sandbox.labels['io.kubernetes.annotation/example.com/pod'], 'A');
      assert.equal(sandbox.labels['io.kubernetes.pod.uid'], a.uid);
      assert.equal(sandbox.project, '');
      const app = p.container(`${NS}/a/app`)!;
      assert.equal(app.labels['tier'], 'front');
      assert.equal(app.labels['io.kubernetes.annotation/example.com/c'], 'A-app');
      assert.equal(app.labels['io.kubernetes.pod.name'], 'a');
      assert.equal(app.labels['io.kubernetes.pod.namespace'], NS);
      assert.equal(app.labels['io.kubernetes.container.name'], 'app');
      assert.ok(!('io.kubernetes.sandbox' in app.labels));
      assert.equal(app.paused, false);

      // stop one container
      await cri.stopContainer(b.containers['side']!);
      p = await portfolioWhere(w, (p) => !p.container(`${NS}/b/side`), 10_000, 'b/side gone');
      assert.equal(ours(p).length, 4);

      // stop and remove a pod
      await cri.removePod(a.sandboxId);
      p = await portfolioWhere(w, (p) => ours(p).length === 2, 10_000, 'pod a gone');
      assert.deepEqual(ours(p).map((c) => c.name), [`${NS}/b`, `${NS}/b/app`]);

      await cri.removePod(b.sandboxId);
      await portfolioWhere(w, (p) => ours(p).length === 0, 10_000, 'pod b gone');

      for (const id of [...idsOf(a), ...idsOf(b)]) {
        assert.equal(rec.count('started', id), 1, `one start of ${id}`);
        assert.equal(rec.count('exited', id), 1, `one exit of ${id}`);
      }
      const appStart = rec.events.find((e) => e.type === 'started' && e.container.id === a.containers['app'])!;
      assert.ok(Math.abs(appStart.at.getTime() - Date.now()) < 60_000, 'engine event time');
    } finally {
      rec.stop();
    }
  });

  it('repairs with its resync what stale subscriptions took from the shared event channel', async () => {
    // Four stale subscriptions queue before the watcher's: they take the next four events, all
    // the events of a one-container pod's start (sandbox and container created and started).
    await cri.leaveStaleSubscriptions(4);
    w = criWatcher(socket, { ...fast, resyncInterval: 1_000 });
    const rec = record(w);
    try {
      await w.ready({ signal: AbortSignal.timeout(15_000) });
      const t0 = Date.now();
      const pod = await cri.runPod({ namespace: NS, name: 'unannounced', containers: [{ name: 'app' }] });
      const p = await portfolioWhere(w, (p) => ours(p).length === 2, 10_000, 'the pod, found by a resync');
      console.log(`      the pod whose start events were taken showed up after ${Date.now() - t0} ms (resync every 1000 ms)`);
      await assertMatchesRuntime(cri, p);
      for (const id of idsOf(pod)) assert.equal(rec.count('started', id), 1, `one start of ${id}`);
      assert.deepEqual(rec.states.map((s) => s.state).filter((s) => s === 'reconnecting'), [], 'no reconnect');
    } finally {
      rec.stop();
    }
  });

  it('sees pods that ran before watching, announces them once, and maps projects and rucksacks', async () => {
    const a = await cri.runPod({ namespace: NS, name: 'early', containers: [{ name: 'app' }, { name: 'db' }] });
    const pid = isProvisioned('cri', socket) ? enginePid('containerd') : 0;
    w = criWatcher(socket, {
      ...fast,
      pid,
      project: (c) => c.labels['io.kubernetes.pod.namespace'] ?? '',
      rucksack: (d) => (d.raw as { $typeName: string }).$typeName,
    });
    const rec = record(w);
    try {
      const p = await w.ready({ signal: AbortSignal.timeout(15_000) });
      assert.deepEqual(ours(p).map((c) => c.name), [`${NS}/early`, `${NS}/early/app`, `${NS}/early/db`]);
      await assertMatchesRuntime(cri, p);
      assert.ok(p.names().includes(NS));
      assert.deepEqual(p.project(NS)?.containerNames(), [`${NS}/early`, `${NS}/early/app`, `${NS}/early/db`]);
      assert.equal(p.container(`${NS}/early`)?.rucksack, 'runtime.v1.PodSandboxStatus');
      assert.equal(p.container(`${NS}/early/app`)?.rucksack, 'runtime.v1.ContainerStatus');
      for (const id of idsOf(a)) assert.equal(rec.count('started', id), 1, `first sync announces ${id}`);
      assert.match(await w.version(), /^containerd \S+ \(CRI v1\)$/);
      assert.equal(w.pid, pid);
      const hostFile = `/proc/${pid}/root/etc/hostname`;
      const host = pid > 0 && existsSync(hostFile) ? readFileSync(hostFile, 'utf8').trim() : os.hostname();
      assert.equal(await w.id(), host || os.hostname());
    } finally {
      rec.stop();
    }
  });

  it('reconnects after a containerd crash and converges', async function () {
    if (!isProvisioned('cri', socket)) skipOrFail(this, 'not the provisioning\'s own CRI runtime: never crash it');
    const before = await cri.runPod({ namespace: NS, name: 'survivor', containers: [{ name: 'c' }] });
    w = criWatcher(socket, fast);
    const rec = record(w);
    try {
      await w.ready({ signal: AbortSignal.timeout(15_000) });
      await crashEngine('containerd');
      await firstValueFrom(w.state$.pipe(filter((s) => s.state === 'reconnecting'), timeout(15_000)));
      await restartEngine('containerd');
      // the shim kept the pod running: it stays, with its PIDs, and is not announced again
      const after = await cri.runPod({ namespace: NS, name: 'newcomer', containers: [{ name: 'c' }] });
      const p = await portfolioWhere(w, (p) => ours(p).length === 4, 30_000, 'converged after restart');
      await assertMatchesRuntime(cri, p);
      assert.deepEqual(ours(p).map((c) => c.name), [`${NS}/newcomer`, `${NS}/newcomer/c`, `${NS}/survivor`, `${NS}/survivor/c`]);
      for (const id of idsOf(before)) assert.equal(rec.count('started', id), 1, `${id} announced once`);
      for (const id of idsOf(after)) assert.equal(rec.count('started', id), 1, `${id} announced once`);
      assert.ok(rec.states.some((s) => s.state === 'reconnecting'));
      assert.equal(rec.states.at(-1)?.state, 'synced');
    } finally {
      rec.stop();
    }
  });

  it('leaves no sockets or timers behind after close()', async () => {
    await cri.alive(); // the test client's own connection is open before the baseline
    const timers = () =>
      (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout')
        .length;
    const baseline = { sockets: openSockets(), timers: timers() };
    w = criWatcher(socket, fast);
    await w.ready({ signal: AbortSignal.timeout(15_000) });
    assert.ok(openSockets() > baseline.sockets, 'the watcher has its own connection');
    assert.ok(timers() > baseline.timers, 'the watcher has its resync timer');
    await w.close();
    w = undefined;
    const deadline = Date.now() + 2_000;
    while ((openSockets() > baseline.sockets || timers() > baseline.timers) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(openSockets(), baseline.sockets, 'sockets after close()');
    assert.equal(timers(), baseline.timers, 'timers after close()');
  });
});

describe('criWatcher against containerd 1.6 CRI (no container events: polling)', function () {
  this.timeout(60_000);
  const pollInterval = 500;
  let socket: string;
  let cri: CriTestClient;
  let w: Watcher | undefined;

  before(async function () {
    socket = await requireEngine(this, 'criNoEvents');
    cri = new CriTestClient(socket);
    await cri.removePodsIn([NS]);
  });
  afterEach(async () => {
    await w?.close();
    w = undefined;
    await cri?.removePodsIn([NS]);
  });
  after(() => cri?.close());

  it('sees pods appear and disappear within the polling interval, and says it polls', async () => {
    w = criWatcher(socket, { ...fast, pollInterval });
    const rec = record(w);
    try {
      await w.ready({ signal: AbortSignal.timeout(15_000) });
      assert.ok(rec.diagnostics.some((d) => d.code === 'no-events-fallback'), 'a no-events-fallback diagnostic');
      const pod = await cri.runPod({ namespace: NS, name: 'polled', containers: [{ name: 'c' }] });
      let t0 = Date.now();
      const p = await portfolioWhere(w, (p) => ours(p).length === 2, pollInterval + 2_000, 'pod appears');
      assert.ok(Date.now() - t0 <= pollInterval + 1_000, `appeared after ${Date.now() - t0} ms`);
      await assertMatchesRuntime(cri, p);
      assert.deepEqual(ours(p).map((c) => c.name), [`${NS}/polled`, `${NS}/polled/c`]);

      await cri.removePod(pod.sandboxId);
      t0 = Date.now();
      await portfolioWhere(w, (p) => ours(p).length === 0, pollInterval + 2_000, 'pod disappears');
      assert.ok(Date.now() - t0 <= pollInterval + 1_000, `disappeared after ${Date.now() - t0} ms`);
      for (const id of idsOf(pod)) {
        assert.equal(rec.count('started', id), 1);
        assert.equal(rec.count('exited', id), 1);
      }
      assert.equal(rec.diagnostics.filter((d) => d.code === 'no-events-fallback').length, 1);
    } finally {
      rec.stop();
    }
  });

  it('leaves no polling timer or socket behind after close()', async () => {
    await cri.alive();
    const timers = () =>
      (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout')
        .length;
    const baseline = { sockets: openSockets(), timers: timers() };
    w = criWatcher(socket, { ...fast, pollInterval, resyncInterval: 0 });
    await w.ready({ signal: AbortSignal.timeout(15_000) });
    assert.ok(timers() > baseline.timers, 'the polling timer runs');
    await w.close();
    w = undefined;
    const deadline = Date.now() + 2_000;
    while ((openSockets() > baseline.sockets || timers() > baseline.timers) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(openSockets(), baseline.sockets, 'sockets after close()');
    assert.equal(timers(), baseline.timers, 'timers after close()');
  });

  it("fails at once when events are required, naming cri-o's enable_pod_events", async () => {
    w = criWatcher(socket, { ...fast, events: 'required' });
    // The runtime's UNIMPLEMENTED answer and the Version answer that proves the stream live race
    // each other: ready() rejects, or (rarely) resolves an instant before the watcher fails.
    // Either way the watcher ends failed, with the error that names the missing setting.
    const failed = firstValueFrom(w.state$.pipe(filter((s) => s.state === 'failed'), timeout(15_000)));
    await w.ready({ signal: AbortSignal.timeout(15_000) }).catch(() => undefined);
    const s = await failed;
    assert.ok(s.state === 'failed' && s.error instanceof WrongEngineError, `failed with ${String(s.state === 'failed' && s.error)}`);
    assert.match(s.error.message, /enable_pod_events/);
  });
});
