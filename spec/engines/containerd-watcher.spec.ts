/**
 * containerdWatcher against the real private containerd 1.7, driven with its `ctr`: the
 * portfolio and lifecycle events follow what happens to nerdctl-style containers.
 */
import assert from 'node:assert/strict';
import { createClient } from '@connectrpc/connect';
import { lastValueFrom, tap, type Subscription } from 'rxjs';
import { containerdWatcher, createContainerdAdapter, type ContainerdRaw } from '../../engines/containerd/index.js';
import { createUnixGrpcTransport } from '../../engines/grpc.js';
import type { EngineAdapter } from '../../lib/adapter.js';
import { watch } from '../../lib/watch.js';
import type { Diagnostic } from '../../lib/watcher.js';
import { Events } from '../../protos/gen/containerd/services/events/v1/events_pb.js';
import type { LifecycleEvent } from '../../lib/model.js';
import type { Watcher, WatcherState } from '../../lib/watcher.js';
import {
  crashEngine,
  ctr,
  describeEngine,
  importTestImage,
  restartEngine,
  testEngines,
  uniqueName,
  waitFor,
} from '../support/engines.js';
import { CtrContainers } from './containerd-support.js';
import { activeResources } from '../support/reliability-helpers.js';

const ns = 'ww-test';

/** Best-effort removal of a namespace the suite created: images, snapshots, blobs, then itself. */
async function removeNamespace(namespace: string): Promise<void> {
  const list = async (...args: string[]) =>
    (await ctr(namespace, ...args).catch(() => '')).split('\n').map((l) => l.trim()).filter(Boolean);
  for (const image of await list('images', 'ls', '-q')) await ctr(namespace, 'images', 'rm', image).catch(() => undefined);
  for (let pass = 0; pass < 5; pass++) {
    const snapshots = (await list('snapshots', 'ls')).slice(1).map((l) => l.split(/\s+/)[0]!);
    if (snapshots.length === 0) break;
    for (const s of snapshots) await ctr(namespace, 'snapshots', 'rm', s).catch(() => undefined);
  }
  for (const blob of await list('content', 'ls', '-q')) await ctr(namespace, 'content', 'rm', blob).catch(() => undefined);
  await ctr('default', 'namespaces', 'rm', namespace).catch(() => undefined);
}

describeEngine('containerd', 'containerd watcher on containerd 1.7', (endpoint) => {
  const containers = new CtrContainers();
  let w: Watcher | undefined;
  let lifecycle: LifecycleEvent[];
  let states: WatcherState[];
  let subscriptions: Subscription[];

  before(async function () {
    this.timeout(180_000);
    await importTestImage('moby');
  });

  afterEach(async () => {
    for (const s of subscriptions ?? []) s.unsubscribe();
    await w?.close();
    w = undefined;
    await containers.removeAll();
  });

  /** A watcher with fast reconnects, recording its lifecycle events and states from the start. */
  async function start(options: Parameters<typeof containerdWatcher>[1] = {}): Promise<Watcher> {
    const watcher = containerdWatcher(endpoint(), { backoff: { initialDelay: 100, maxDelay: 1000 }, ...options });
    w = watcher;
    lifecycle = [];
    states = [];
    subscriptions = [
      watcher.events$.subscribe((e) => lifecycle.push(e)),
      watcher.state$.subscribe((s) => states.push(s)),
    ];
    await watcher.ready({ signal: AbortSignal.timeout(20_000) });
    return watcher;
  }

  /** The lifecycle event types seen for a container ID. */
  const typesOf = (id: string) => lifecycle.filter((e) => e.container.id === id).map((e) => e.type);

  it('shows labelled containers of two namespaces in their projects, with names and PIDs', async () => {
    const web = uniqueName('web');
    const api = uniqueName('api');
    const db = uniqueName('db');
    const solo = uniqueName('solo');
    await containers.run(ns, web, { 'nerdctl/name': `${web}-n`, 'com.docker.compose.project': 'ww-p1' });
    await containers.run(ns, api, { 'nerdctl/name': `${api}-n`, 'com.docker.compose.project': 'ww-p1' });
    await containers.run('default', db, { 'nerdctl/name': `${db}-n`, 'com.docker.compose.project': 'ww-p2' });
    const watcher = await start();
    await containers.run(ns, solo);
    await waitFor(() => watcher.portfolio.container(`${ns}/${solo}`), { what: 'container started after ready' });

    const p = watcher.portfolio;
    assert.ok(p.names().includes('ww-p1') && p.names().includes('ww-p2'), p.names().join());
    assert.deepEqual(p.project('ww-p1')!.containerNames(), [`${ns}/${api}-n`, `${ns}/${web}-n`].sort());
    assert.deepEqual(p.project('ww-p2')!.containerNames(), [`${db}-n`]);
    const c = p.container(`${db}-n`)!;
    assert.equal(c.id, db);
    assert.equal(c.project, 'ww-p2');
    assert.equal(c.pid, await containers.pid('default', db));
    assert.equal(c.paused, false);
    assert.equal(p.container(`${ns}/${solo}`)!.project, '');
    assert.equal(p.container(`${ns}/${solo}`)!.name, `${ns}/${solo}`);
    for (const id of [`${ns}/${web}`, `${ns}/${api}`, db, `${ns}/${solo}`]) assert.deepEqual(typesOf(id), ['started'], id);
    assert.equal(watcher.type, 'containerd.io');
    assert.match(await watcher.id(), /^[0-9a-f-]{36}$/);
    assert.match(await watcher.version(), /^containerd 1\.7/);
    assert.ok(watcher.pid > 0);
  });

  it('follows pause and resume, also back to back', async () => {
    const id = uniqueName('pause');
    const qid = `${ns}/${id}`;
    await containers.run(ns, id);
    const watcher = await start();
    await ctr(ns, 'tasks', 'pause', id);
    await waitFor(() => watcher.portfolio.container(qid)?.paused, { what: 'paused' });
    await ctr(ns, 'tasks', 'resume', id);
    await waitFor(() => watcher.portfolio.container(qid)?.paused === false, { what: 'resumed' });
    await ctr(ns, 'tasks', 'pause', id);
    await ctr(ns, 'tasks', 'resume', id);
    await waitFor(() => typesOf(qid).length === 5, { what: 'two pauses and resumes' });
    assert.deepEqual(typesOf(qid), ['started', 'paused', 'unpaused', 'paused', 'unpaused']);
    assert.equal(watcher.portfolio.container(qid)?.paused, false);
  });

  it('drops a killed container with exited, and keeps one whose exec exits', async () => {
    const victim = uniqueName('kill');
    const host = uniqueName('exec');
    await containers.run(ns, victim);
    await containers.run(ns, host);
    const watcher = await start();
    await ctr(ns, 'tasks', 'exec', '--exec-id', 'x1', host, '/bin/true');
    await containers.kill(ns, victim);
    await waitFor(() => !watcher.portfolio.container(`${ns}/${victim}`), { what: 'killed container gone' });
    assert.deepEqual(typesOf(`${ns}/${victim}`), ['started', 'exited']);
    // The exec's exit came before the kill's: had it counted, the host would be gone by now.
    assert.ok(watcher.portfolio.container(`${ns}/${host}`), 'the exec exit did not end its container');
    assert.deepEqual(typesOf(`${ns}/${host}`), ['started']);
  });

  it('shows a container only while it has a task', async () => {
    const id = uniqueName('notask');
    const qid = `${ns}/${id}`;
    await containers.create(ns, id, { 'nerdctl/name': `${id}-n` });
    const watcher = await start();
    assert.equal(watcher.portfolio.container(qid), undefined);
    await ctr(ns, 'tasks', 'start', '-d', id);
    await waitFor(() => watcher.portfolio.container(qid), { what: 'task started' });
    assert.equal(watcher.portfolio.container(qid)!.name, `${ns}/${id}-n`);
  });

  it('ignores the moby and k8s.io namespaces', async () => {
    const docker = uniqueName('moby');
    const kube = uniqueName('k8s');
    const mark = uniqueName('mark');
    await containers.run('moby', docker);
    const watcher = await start();
    await containers.run('k8s.io', kube);
    await containers.run(ns, mark);
    await waitFor(() => watcher.portfolio.container(`${ns}/${mark}`), { what: 'marker container' });
    const ids = watcher.portfolio.containers().map((c) => c.id);
    assert.ok(!ids.some((id) => id.startsWith('moby/') || id.startsWith('k8s.io/')), ids.join());
    assert.ok(!lifecycle.some((e) => /^(moby|k8s\.io)\//.test(e.container.id)));
  });

  it('honours an allow-list', async () => {
    const inside = uniqueName('in');
    const outside = uniqueName('out');
    await containers.run(ns, inside);
    await containers.run('default', outside);
    const watcher = await start({ namespaces: [ns] });
    assert.ok(watcher.portfolio.container(`${ns}/${inside}`));
    assert.equal(watcher.portfolio.container(outside), undefined);
  });

  it('picks up a namespace created while watching', async () => {
    const fresh = uniqueName('ns');
    const id = uniqueName('fresh');
    const watcher = await start();
    try {
      await importTestImage(fresh);
      await containers.run(fresh, id, { 'nerdctl/name': 'web', 'com.docker.compose.project': 'ww-fresh' });
      await waitFor(() => watcher.portfolio.container(`${fresh}/web`), { what: 'container in the new namespace' });
      assert.equal(watcher.portfolio.container(`${fresh}/web`)!.project, 'ww-fresh');
    } finally {
      await containers.removeAll();
      await removeNamespace(fresh);
    }
  });

  it('renames and regroups a container whose labels change', async () => {
    const id = uniqueName('label');
    const qid = `${ns}/${id}`;
    await containers.run(ns, id, { 'nerdctl/name': `${id}-old`, 'com.docker.compose.project': 'ww-pa' });
    const watcher = await start();
    assert.equal(watcher.portfolio.container(qid)!.name, `${ns}/${id}-old`);
    await ctr(ns, 'containers', 'label', id, `nerdctl/name=${id}-new`, 'com.docker.compose.project=ww-pb');
    await waitFor(() => watcher.portfolio.container(qid)?.name === `${ns}/${id}-new`, { what: 'renamed' });
    const p = watcher.portfolio;
    assert.equal(p.container(qid)!.project, 'ww-pb');
    assert.equal(p.container(`${ns}/${id}-old`), undefined);
    assert.deepEqual(p.project('ww-pb')!.containerNames(), [`${ns}/${id}-new`]);
    assert.equal(p.project('ww-pa'), undefined);
    assert.deepEqual(typesOf(qid), ['started'], 'a rename is no lifecycle event');
  });

  it('reconnects after a containerd crash: survivors stay, the lost exit, no second started', async function () {
    this.timeout(240_000);
    const survivor = uniqueName('survivor');
    const lost = uniqueName('lost');
    await containers.run(ns, survivor);
    await containers.run(ns, lost);
    const lostPid = await containers.pid(ns, lost);
    const watcher = await start();
    assert.ok(watcher.portfolio.container(`${ns}/${lost}`));
    await crashEngine('containerd');
    try {
      await waitFor(() => states.some((s) => s.state === 'reconnecting'), { what: 'reconnecting state' });
      process.kill(lostPid, 'SIGKILL'); // the container dies while its engine is down
    } finally {
      await restartEngine('containerd');
    }
    await waitFor(() => !watcher.portfolio.container(`${ns}/${lost}`), { timeoutMs: 30_000, what: 'lost container gone' });
    await waitFor(() => states.at(-1)?.state === 'synced', { timeoutMs: 30_000, what: 'synced again' });
    assert.ok(watcher.portfolio.container(`${ns}/${survivor}`), 'the survivor is still there');
    assert.deepEqual(typesOf(`${ns}/${survivor}`), ['started'], 'no second started for the survivor');
    assert.deepEqual(typesOf(`${ns}/${lost}`), ['started', 'exited']);
    const fresh = createContainerdAdapter(endpoint());
    try {
      assert.equal((await lastValueFrom(fresh.info())).id, await watcher.id(), 'the engine ID survives a restart');
    } finally {
      await fresh.close();
    }
  });

  it('hands the rucksack option the container record and its task, on list and on events', async () => {
    const listed = uniqueName('rl');
    const evented = uniqueName('re');
    await containers.run(ns, listed);
    const rucksack = (d: { raw: unknown }) => {
      const raw = d.raw as ContainerdRaw;
      return { image: raw.container.image, pid: raw.task.pid, namespace: raw.namespace };
    };
    const watcher = await start({ rucksack });
    await containers.run(ns, evented);
    await waitFor(() => watcher.portfolio.container(`${ns}/${evented}`), { what: 'started container' });
    for (const id of [listed, evented]) {
      const c = watcher.portfolio.container(`${ns}/${id}`)!;
      assert.deepEqual(c.rucksack, { image: testEngines().images.containerd, pid: c.pid, namespace: ns });
    }
  });

  it('skips unknown event payloads with a diagnostic', async () => {
    const id = uniqueName('odd');
    await containers.run(ns, id);
    const watcher = await start();
    const diagnostics: Diagnostic[] = [];
    subscriptions.push(watcher.diagnostics$.subscribe((d) => diagnostics.push(d)));
    const grpc = createUnixGrpcTransport(endpoint());
    try {
      // A /tasks/exit whose payload is of a type the watcher does not know: not a death.
      await createClient(Events, grpc.transport).publish(
        { topic: '/tasks/exit', event: { typeUrl: 'whalewatcher.test.Mystery', value: new Uint8Array([10, 1, 120]) } },
        { headers: { 'containerd-namespace': ns } },
      );
    } finally {
      await grpc.close();
    }
    await waitFor(() => diagnostics.some((d) => d.code === 'unknown-event'), { what: 'unknown-event diagnostic' });
    assert.ok(watcher.portfolio.container(`${ns}/${id}`));
    assert.equal(states.at(-1)?.state, 'synced');
  });

  it('resyncs an unchanged engine with lists only: no inspections, no snapshots, no events', async () => {
    const id = uniqueName('calm');
    await containers.run(ns, id, { 'nerdctl/name': `${id}-n` });
    const calls = { list: 0, inspect: 0 };
    const inner = createContainerdAdapter(endpoint());
    const counting: EngineAdapter = {
      ...inner,
      events: () => inner.events(),
      info: () => inner.info(),
      close: () => inner.close(),
      list: () => inner.list().pipe(tap(() => calls.list++)),
      inspect: (cid) => inner.inspect(cid).pipe(tap(() => calls.inspect++)),
    };
    const watcher = watch(counting, { resyncInterval: 200, fullResyncEvery: 2 });
    w = watcher;
    lifecycle = [];
    states = [];
    subscriptions = [watcher.events$.subscribe((e) => lifecycle.push(e))];
    await watcher.ready();
    let snapshots = 0;
    subscriptions.push(watcher.portfolio$.subscribe(() => snapshots++));
    const settled = snapshots;
    await waitFor(() => calls.list >= 4, { what: 'three resyncs' });
    assert.equal(calls.inspect, 0, 'lists carry full details, even on full resyncs');
    assert.equal(snapshots, settled, 'an unchanged resync emits no snapshot');
    assert.deepEqual(typesOf(`${ns}/${id}`), ['started']);
  });

  it('leaves no sockets or timers behind after close()', async () => {
    await new Promise((resolve) => setImmediate(resolve)); // mocha's own test timer shows up only now
    const before = activeResources();
    const count = (list: string[], kind: string) => list.filter((r) => r === kind).length;
    const watcher = containerdWatcher(endpoint(), { resyncInterval: 1000 });
    await watcher.ready(); // (no AbortSignal.timeout: its timer would outlive the test)
    assert.ok(count(activeResources(), 'PipeWrap') > count(before, 'PipeWrap'), 'watching holds a socket');
    await watcher.close();
    const released = () =>
      count(activeResources(), 'PipeWrap') <= count(before, 'PipeWrap') &&
      count(activeResources(), 'Timeout') <= count(before, 'Timeout');
    await waitFor(released, { timeoutMs: 5000 }).catch(() => {
      assert.fail(`resources left after close(): before ${before.join()}; now ${activeResources().join()}`);
    });
  });
});
