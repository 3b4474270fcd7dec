/**
 * The CRI adapter against the REAL private containerd 1.7 CRI (WHALEWATCHER_TEST_CRI) and
 * containerd 1.6 CRI without events (WHALEWATCHER_TEST_CRI_NOEVENTS), compared with what the
 * project's own CRI client says. At most one event subscription per runtime at any time.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as os from 'node:os';
import { filter, firstValueFrom, take, timeout, toArray, type Subscription } from 'rxjs';
import type { EngineAdapter, EngineEvent } from '../../lib/adapter.js';
import { WrongEngineError } from '../../lib/errors.js';
import { createCriAdapter } from '../../engines/cri/index.js';
import { CriTestClient, TEST_NAMESPACE } from '../support/cri-client.js';
import { requireEngine, waitFor } from '../support/engines.js';
import { inspectAlive, listAlive } from '../support/answers.js';

/** The command line of a process, as separate arguments. */
function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/** Subscribes to events(), collecting them; resolves once live. */
async function listen(adapter: EngineAdapter): Promise<{ events: EngineEvent[]; sub: Subscription; errors: unknown[] }> {
  const events: EngineEvent[] = [];
  const errors: unknown[] = [];
  let live!: () => void;
  const isLive = new Promise<void>((resolve) => (live = resolve));
  const sub = adapter.events().subscribe({
    next: (e) => {
      events.push(e);
      if (e.type === 'live') live();
    },
    error: (e: unknown) => errors.push(e),
  });
  await Promise.race([
    isLive,
    new Promise((_, reject) => setTimeout(() => reject(new Error('events() never went live')), 10_000).unref()),
  ]);
  return { events, sub, errors };
}

/** Waits until `check` holds, polling every 20 ms, failing after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  await waitFor(check, { timeoutMs: ms, intervalMs: 20, what });
}

describe('CRI adapter against containerd 1.7 CRI', function () {
  this.timeout(60_000);
  let socket: string;
  let cri: CriTestClient;
  let adapter: EngineAdapter;

  before(async function () {
    socket = await requireEngine(this, 'cri');
    cri = new CriTestClient(socket);
    await cri.removePodsIn([TEST_NAMESPACE]);
  });
  beforeEach(async () => {
    // Event subscriptions ended earlier (by this or another suite, or a killed run) would each
    // take one of the next events: let them have theirs first.
    await cri.flushStaleSubscriptions(TEST_NAMESPACE);
    adapter = createCriAdapter(socket);
  });
  afterEach(async () => {
    await adapter?.close();
    await cri?.removePodsIn([TEST_NAMESPACE]);
  });
  after(async () => {
    await cri?.flushStaleSubscriptions(TEST_NAMESPACE); // the next suite starts without stale subscriptions
    await cri?.close();
  });

  it('tells the runtime and this host', async () => {
    const info = await firstValueFrom(adapter.info());
    assert.match(info.version, /^containerd \S+ \(CRI v1\)$/);
    assert.equal(info.id, os.hostname());
    assert.equal(info.type, 'k8s.io/cri-api');
  });

  it('lists ready sandboxes and running containers as the runtime has them, with true PIDs', async () => {
    const pod = await cri.runPod({
      namespace: TEST_NAMESPACE,
      name: 'list',
      labels: { app: 'list' },
      annotations: { note: 'sandbox' },
      containers: [
        { name: 'one', labels: { tier: 'a' }, annotations: { note: 'one' } },
        { name: 'two' },
      ],
    });
    const expected = [pod.sandboxId, pod.containers['one']!, pod.containers['two']!];
    // A fresh adapter lists without details (two list calls, no status call): the core inspects.
    const fresh = await listAlive(adapter);
    for (const id of expected) assert.deepEqual(fresh.find((s) => s.id === id), { id, paused: false });
    for (const id of expected) assert.ok(await inspectAlive(adapter, id), `inspects ${id}`);
    // What it inspected, it lists with details from then on.
    const summaries = await listAlive(adapter);
    const ours = summaries.filter((s) => s.details?.labels['io.kubernetes.pod.namespace'] === TEST_NAMESPACE);
    const alive = await cri.alive();
    assert.deepEqual(ours.map((s) => s.id).sort(), [...expected].sort());
    for (const s of ours) {
      const d = s.details!;
      assert.equal(d.pid, alive.get(s.id)?.pid, `PID of ${d.name}`);
      assert.ok(existsSync(`/proc/${d.pid}`));
      assert.ok(cmdline(d.pid).some((a) => a.endsWith('sleep')), `${d.name} runs sleep`);
      assert.equal(s.paused, false);
    }
    const byName = new Map(ours.map((s) => [s.details!.name, s.details!]));
    assert.deepEqual([...byName.keys()].sort(), [`${TEST_NAMESPACE}/list`, `${TEST_NAMESPACE}/list/one`, `${TEST_NAMESPACE}/list/two`]);
    const sandbox = byName.get(`${TEST_NAMESPACE}/list`)!;
    assert.equal(sandbox.labels['io.kubernetes.sandbox'], '');
    assert.equal(sandbox.labels['app'], 'list');
    assert.equal(sandbox.labels['io.kubernetes.annotation/note'], 'sandbox');
    assert.equal(sandbox.labels['io.kubernetes.pod.uid'], pod.uid);
    const one = byName.get(`${TEST_NAMESPACE}/list/one`)!;
    assert.equal(one.labels['tier'], 'a');
    assert.equal(one.labels['io.kubernetes.annotation/note'], 'one');
    assert.equal(one.labels['io.kubernetes.pod.name'], 'list');
    assert.equal(one.labels['io.kubernetes.container.name'], 'one');
    assert.ok(!('io.kubernetes.sandbox' in one.labels));
  });

  it('inspects containers and sandboxes; null once stopped or gone', async () => {
    const pod = await cri.runPod({ namespace: TEST_NAMESPACE, name: 'inspect', containers: [{ name: 'c' }] });
    const c = await inspectAlive(adapter, pod.containers['c']!);
    assert.equal(c?.name, `${TEST_NAMESPACE}/inspect/c`);
    assert.ok(cmdline(c!.pid).some((a) => a.endsWith('sleep')));
    const sb = await inspectAlive(adapter, pod.sandboxId);
    assert.equal(sb?.name, `${TEST_NAMESPACE}/inspect`);
    assert.notEqual(sb?.pid, c?.pid);
    await cri.stopContainer(pod.containers['c']!);
    assert.equal(await inspectAlive(adapter, pod.containers['c']!), null);
    await cri.removePod(pod.sandboxId);
    assert.equal(await inspectAlive(adapter, pod.sandboxId), null);
    assert.equal(await inspectAlive(adapter, pod.containers['c']!), null);
  });

  it('streams sandbox and container starts (the core inspects them), and their stops', async () => {
    const { events, sub, errors } = await listen(adapter);
    try {
      const pod = await cri.runPod({ namespace: TEST_NAMESPACE, name: 'events', containers: [{ name: 'a' }, { name: 'b' }] });
      const ids = [pod.sandboxId, pod.containers['a']!, pod.containers['b']!];
      const started = () =>
        events.filter((e): e is Extract<EngineEvent, { type: 'started' }> => e.type === 'started' && ids.includes(e.id));
      await until(() => started().length === 3, 10_000, 'three starts');
      for (const e of started()) {
        assert.equal(e.details, undefined, `no lookup inside the event stream for ${e.id}`);
        assert.ok(e.at instanceof Date && Math.abs(e.at.getTime() - Date.now()) < 60_000);
      }
      const details = [];
      for (const e of started()) details.push(await inspectAlive(adapter, e.id));
      for (const d of details) assert.ok(cmdline(d!.pid).some((a) => a.endsWith('sleep')), `${d?.name} runs sleep`);
      assert.deepEqual(
        details.map((d) => d?.name),
        [`${TEST_NAMESPACE}/events`, `${TEST_NAMESPACE}/events/a`, `${TEST_NAMESPACE}/events/b`],
      );

      await cri.stopContainer(pod.containers['a']!);
      await until(() => events.some((e) => e.type === 'died' && e.id === pod.containers['a']), 10_000, 'a died');
      await cri.removePod(pod.sandboxId);
      await until(
        () => ids.every((id) => events.some((e) => e.type === 'died' && e.id === id)),
        10_000,
        'b and the sandbox died',
      );
      // each start and stop once
      for (const id of ids) {
        assert.equal(events.filter((e) => e.type === 'started' && e.id === id).length, 1);
        assert.equal(events.filter((e) => e.type === 'died' && e.id === id).length, 1);
      }
      assert.deepEqual(errors, []);
    } finally {
      sub.unsubscribe();
    }
  });

  it('drops the events the runtime buffered while nobody listened', async () => {
    // Nobody listens: the runtime keeps these events in its one shared channel.
    const pod = await cri.runPod({ namespace: TEST_NAMESPACE, name: 'stale', containers: [{ name: 'c' }] });
    const { events, sub } = await listen(adapter);
    try {
      const fresh = await cri.runPod({ namespace: TEST_NAMESPACE, name: 'fresh', containers: [{ name: 'c' }] });
      await until(() => events.some((e) => e.type === 'started' && e.id === fresh.containers['c']), 10_000, 'fresh start');
      const about = (id: string) => events.filter((e) => 'id' in e && (e as { id?: string }).id === id);
      assert.ok(!about(pod.containers['c']!).some((e) => e.type === 'started'), 'no stale start');
      assert.ok(about(pod.containers['c']!).some((e) => e.type === 'diagnostic' && e.code === 'stale-event'));
    } finally {
      sub.unsubscribe();
    }
  });

  it('leaves no socket behind after close()', async () => {
    const sockets = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
        } catch {
          return false;
        }
      }).length;
    await cri.alive(); // the test client's own connection is open before the baseline
    const before = sockets();
    await firstValueFrom(adapter.info());
    const { sub } = await listen(adapter);
    assert.ok(sockets() > before, 'the adapter has its own connection');
    sub.unsubscribe();
    await adapter.close();
    await until(() => sockets() <= before, 2_000, "the adapter's socket closed");
  });
});

describe('CRI adapter against containerd 1.6 CRI (no container events)', function () {
  this.timeout(60_000);
  let socket: string;
  let cri: CriTestClient;

  before(async function () {
    socket = await requireEngine(this, 'criNoEvents');
    cri = new CriTestClient(socket);
    await cri.removePodsIn([TEST_NAMESPACE]);
  });
  after(async () => {
    await cri?.removePodsIn([TEST_NAMESPACE]);
    await cri?.close();
  });

  it('goes live, tells once that it polls, and asks for resyncs every pollInterval', async () => {
    const adapter = createCriAdapter(socket, { pollInterval: 100 });
    try {
      const first = await firstValueFrom(adapter.events().pipe(take(4), toArray(), timeout(10_000)));
      assert.deepEqual(first[0], { type: 'live' });
      assert.ok(first[1]?.type === 'diagnostic' && first[1].code === 'no-events-fallback');
      assert.match(first[1].message, /enable_pod_events/);
      assert.deepEqual(first.slice(2), [{ type: 'resync' }, { type: 'resync' }]);
      const again = await firstValueFrom(adapter.events().pipe(filter((e) => e.type !== 'live'), timeout(10_000)));
      assert.deepEqual(again, { type: 'resync' }, 'the notice comes once');
    } finally {
      await adapter.close();
    }
  });

  it("fails with WrongEngineError naming cri-o's enable_pod_events when events are required", async () => {
    const adapter = createCriAdapter(socket, { events: 'required' });
    try {
      await assert.rejects(firstValueFrom(adapter.events().pipe(filter((e) => e.type !== 'live'))), (err: unknown) => {
        assert.ok(err instanceof WrongEngineError);
        assert.match(err.message, /enable_pod_events/);
        return true;
      });
    } finally {
      await adapter.close();
    }
  });

  it('still lists and inspects', async () => {
    const adapter = createCriAdapter(socket);
    try {
      const pod = await cri.runPod({ namespace: TEST_NAMESPACE, name: 'old', containers: [{ name: 'c' }] });
      const summaries = await listAlive(adapter);
      assert.deepEqual(summaries.find((s) => s.id === pod.containers['c']), { id: pod.containers['c'], paused: false });
      const c = await inspectAlive(adapter, pod.containers['c']!);
      assert.equal(c?.name, `${TEST_NAMESPACE}/old/c`);
      assert.ok(cmdline(c!.pid).some((a) => a.endsWith('sleep')));
      assert.equal((await inspectAlive(adapter, pod.sandboxId))?.name, `${TEST_NAMESPACE}/old`);
      assert.match((await firstValueFrom(adapter.info())).version, /^containerd \S+ \(CRI v1\)$/);
    } finally {
      await adapter.close();
    }
  });
});
