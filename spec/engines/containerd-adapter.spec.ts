/**
 * The containerd adapter against the real private containerd 1.7, driven with its `ctr`:
 * what list/inspect/info/events answer, compared with what ctr says and does.
 */
import assert from 'node:assert/strict';
import { lastValueFrom, type Subscription } from 'rxjs';
import type { EngineAdapter, EngineEvent } from '../../lib/adapter.js';
import { createContainerdAdapter } from '../../engines/containerd/index.js';
import { ctr, describeEngine, enginePid, importTestImage, uniqueName, waitFor } from '../support/engines.js';
import { CtrContainers } from './containerd-support.js';
import { inspectAlive, listAlive } from '../support/answers.js';

describeEngine('containerd', 'containerd adapter on containerd 1.7', (endpoint) => {
  const containers = new CtrContainers();
  let adapter: EngineAdapter;
  let events: EngineEvent[];
  let subscription: Subscription | undefined;
  const ns = 'ww-test';

  before(async function () {
    this.timeout(180_000);
    await importTestImage('moby');
  });
  beforeEach(() => {
    adapter = createContainerdAdapter(endpoint());
    events = [];
  });
  afterEach(async () => {
    subscription?.unsubscribe();
    subscription = undefined;
    await adapter.close();
    await containers.removeAll();
  });

  /** Subscribes to the adapter's events and waits until they are live. */
  async function watchEvents(): Promise<void> {
    subscription = adapter.events().subscribe({ next: (e) => events.push(e), error: (e) => events.push({ type: 'diagnostic', code: 'error', message: String(e) }) });
    await waitFor(() => events.some((e) => e.type === 'live'), { what: 'events live' });
  }

  function eventsOf(id: string): string[] {
    return events.filter((e) => 'id' in e && e.id === id).map((e) => (e.type === 'diagnostic' ? `diagnostic:${e.code}` : e.type));
  }

  it('tells the engine identity: Introspection UUID and PID, version', async () => {
    const info = await lastValueFrom(adapter.info());
    assert.match(info.id, /^[0-9a-f-]{36}$/);
    assert.equal(info.type, 'containerd.io');
    assert.equal(info.pid, enginePid('containerd'));
    const server = await ctr('default', 'version');
    const version = /Server:\s*\n\s*Version:\s*(\S+)/.exec(server)?.[1];
    assert.ok(version && info.version.startsWith(`containerd ${version}`), `${info.version} vs ${server}`);
    assert.equal((await lastValueFrom(adapter.info())).id, info.id);
  });

  it('lists alive containers of watched namespaces as ctr sees them', async () => {
    const web = uniqueName('web');
    const db = uniqueName('db');
    const frozen = uniqueName('frozen');
    const idle = uniqueName('idle');
    const dead = uniqueName('dead');
    const docker = uniqueName('moby');
    const kube = uniqueName('k8s');
    await containers.run(ns, web, { 'nerdctl/name': 'web', 'com.docker.compose.project': 'p1' });
    await containers.run('default', db, { 'nerdctl/name': 'db', 'com.docker.compose.project': 'p2' });
    await containers.run(ns, frozen);
    await ctr(ns, 'tasks', 'pause', frozen);
    await containers.create(ns, idle);
    await containers.run(ns, dead);
    await containers.kill(ns, dead);
    await containers.run('moby', docker);
    await containers.run('k8s.io', kube);

    const listed = new Map((await listAlive(adapter)).map((s) => [s.id, s]));
    const mine = [...listed.keys()].filter((id) => id.includes('ww-')).sort();
    assert.deepEqual(mine, [`${ns}/${frozen}`, `${ns}/${web}`, db].sort());

    const w = listed.get(`${ns}/${web}`)!.details!;
    assert.equal(w.name, `${ns}/web`);
    assert.equal(w.labels['com.docker.compose.project'], 'p1');
    assert.equal(w.pid, await containers.pid(ns, web));
    assert.equal(w.paused, false);
    const d = listed.get(db)!.details!;
    assert.equal(d.name, 'db');
    assert.equal(d.pid, await containers.pid('default', db));
    const f = listed.get(`${ns}/${frozen}`)!;
    assert.equal(f.paused, true);
    assert.equal(f.details!.name, `${ns}/${frozen}`);

    const inspected = await inspectAlive(adapter, `${ns}/${web}`);
    assert.deepEqual({ ...inspected, raw: undefined }, { ...w, raw: undefined });
    assert.equal(await inspectAlive(adapter, `${ns}/${idle}`), null);
    assert.equal(await inspectAlive(adapter, `${ns}/${dead}`), null);
    assert.equal(await inspectAlive(adapter, `${ns}/nonexistent`), null);
    assert.equal((await inspectAlive(adapter, `${ns}/${frozen}`))?.paused, true);
  });

  it('proves its subscription live with a published marker, then reports what ctr does', async () => {
    await watchEvents();
    assert.equal(events[0]?.type, 'live');
    const id = uniqueName('ev');
    const qid = `${ns}/${id}`;
    await containers.run(ns, id, { 'nerdctl/name': 'before' });
    await ctr(ns, 'tasks', 'pause', id);
    await ctr(ns, 'tasks', 'resume', id);
    await ctr(ns, 'tasks', 'exec', '--exec-id', 'x1', id, '/bin/true');
    await ctr(ns, 'containers', 'label', id, 'nerdctl/name=after', 'com.docker.compose.project=p9');
    await waitFor(() => eventsOf(qid).includes('updated'), { what: 'updated event' });
    assert.deepEqual(eventsOf(qid), ['started', 'paused', 'unpaused', 'diagnostic:exec-exit', 'updated']);
    const updated = events.find((e) => e.type === 'updated' && e.id === qid);
    assert.ok(updated?.type === 'updated');
    assert.equal(updated.name, `${ns}/after`);
    assert.equal(updated.labels?.['com.docker.compose.project'], 'p9');
    assert.equal((await inspectAlive(adapter, qid))?.name, `${ns}/after`, 'the exec did not end the container');
    await containers.kill(ns, id);
    await waitFor(() => eventsOf(qid).includes('died'), { what: 'died event' });
  });

  it('skips moby and k8s.io events and reports a new namespace as resync', async () => {
    await watchEvents();
    const docker = uniqueName('moby');
    await containers.run('moby', docker);
    const fresh = uniqueName('ns');
    await ctr('default', 'namespaces', 'create', fresh);
    try {
      await waitFor(() => events.some((e) => e.type === 'resync'), { what: 'resync on namespace create' });
      assert.deepEqual(eventsOf(`moby/${docker}`), []);
    } finally {
      await ctr('default', 'namespaces', 'rm', fresh).catch(() => undefined);
    }
  });

  it('releases its socket on close', async () => {
    const pipes = () =>
      (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;
    const before = pipes();
    const a = createContainerdAdapter(endpoint());
    const sub = a.events().subscribe({ error: () => undefined });
    await listAlive(a);
    assert.ok(pipes() > before, 'the adapter holds a socket while watching');
    sub.unsubscribe();
    await a.close();
    await waitFor(() => pipes() <= before, { what: 'socket released' });
  });
});
