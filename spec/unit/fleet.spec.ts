import { expect } from 'chai';
import { firstValueFrom, filter, mergeMap, take, toArray } from 'rxjs';
import { WatcherAbortedError } from '../../lib/errors.js';
import { aggregateState } from '../../lib/fleet/aggregateState.js';
import { fleet, type FleetPortfolio } from '../../lib/fleet/index.js';
import type { LifecycleEvent } from '../../lib/model.js';
import { selectProject } from '../../lib/operators/selectProject.js';
import { FakeEngine } from '../../lib/testing/index.js';
import { watch } from '../../lib/watch.js';
import type { WatcherState } from '../../lib/watcher.js';

const project = (name: string) => ({ 'com.docker.compose.project': name });

function twoEngines() {
  const a = new FakeEngine({ type: 'docker.com', api: 'unix:///a.sock' });
  const b = new FakeEngine({ type: 'containerd.io', api: '/b.sock' });
  const wa = watch(a, { resyncInterval: 0 });
  const wb = watch(b, { resyncInterval: 0 });
  return { a, b, wa, wb, all: fleet(wa, wb) };
}

/** Resolves with the first fleet snapshot that satisfies `ok`. */
function snapshot(all: ReturnType<typeof fleet>, ok: (p: FleetPortfolio) => boolean): Promise<FleetPortfolio> {
  return firstValueFrom(all.portfolio$.pipe(filter(ok)));
}

describe('fleet', () => {
  it('merges engines without collisions: same ID and name on two engines stay two containers', async () => {
    const { a, b, all } = twoEngines();
    a.start({ id: 'x1', name: 'web', labels: project('shop') });
    b.start({ id: 'x1', name: 'web', labels: project('shop') });
    b.start({ id: 'y', name: 'solo' });
    const p = await all.ready();
    expect(p.containerTotal).to.equal(3);
    expect(p.containers().map((c) => `${c.engine?.type}:${c.name}`)).to.deep.equal([
      'containerd.io:solo',
      'docker.com:web',
      'containerd.io:web',
    ]);
    expect(p.names()).to.deep.equal(['shop']);
    expect(p.project('shop')!.containers()).to.have.length(2);
    expect(p.project('')!.containerNames()).to.deep.equal(['solo']);
    // Container.id stays the engine's ID; lookups across engines and per engine.
    expect(p.container('x1')!.id).to.equal('x1');
    expect(p.container('x1')!.engine).to.deep.equal({ type: 'docker.com', api: 'unix:///a.sock' });
    expect(p.container('web', '/b.sock')!.engine!.type).to.equal('containerd.io');
    expect(p.container('web', { type: 'containerd.io', api: '/b.sock' })!.engine!.api).to.equal('/b.sock');
    expect(p.container('solo', 'unix:///a.sock')).to.equal(undefined);
    expect(p.engines()).to.deep.equal([
      { type: 'docker.com', api: 'unix:///a.sock' },
      { type: 'containerd.io', api: '/b.sock' },
    ]);
    expect(p.engine('/b.sock')!.containers().map((c) => c.name)).to.deep.equal(['solo', 'web']);
    expect(p.engine('nowhere')).to.equal(undefined);
    expect(all.portfolio).to.equal(p);
    await all.close();
  });

  it('tells apart two engines on one socket by type (containerd and its CRI plugin)', async () => {
    const a = new FakeEngine({ type: 'containerd.io', api: '/run/c.sock' });
    const b = new FakeEngine({ type: 'k8s.io/cri-api', api: '/run/c.sock' });
    a.start({ id: 'same' });
    b.start({ id: 'same' });
    const all = fleet(watch(a), watch(b));
    const p = await all.ready();
    expect(p.containerTotal).to.equal(2);
    expect(p.container('same', { type: 'k8s.io/cri-api', api: '/run/c.sock' })!.engine!.type).to.equal('k8s.io/cri-api');
    expect(p.engine({ type: 'containerd.io', api: '/run/c.sock' })!.containerTotal).to.equal(1);
    await all.close();
  });

  it('keeps the identity of unchanged containers and projects across snapshots', async () => {
    const { a, b, all } = twoEngines();
    a.start({ id: 'a1', labels: project('shop') });
    b.start({ id: 'b1', labels: project('shop') });
    b.start({ id: 'b2', labels: project('blog') });
    const p1 = await all.ready();
    const before = p1.container('a1');
    const blog = p1.project('blog');
    const shop = p1.project('shop');
    expect(p1.container('a1')).to.equal(before); // cached, not copied per call
    a.start({ id: 'a2', labels: project('other') });
    const p2 = await snapshot(all, (p) => p.containerTotal === 4);
    expect(p2).to.not.equal(p1);
    expect(p2.container('a1')).to.equal(before);
    expect(p2.project('blog')).to.equal(blog);
    expect(p2.project('shop')).to.equal(shop); // merged over two engines, both parts unchanged
    expect(p2.containers().filter((c) => p1.containers().includes(c))).to.have.length(3);
    a.pause('a1');
    const p3 = await snapshot(all, (p) => p.container('a1')?.paused === true);
    expect(p3.container('a1')).to.not.equal(before);
    expect(p3.project('shop')).to.not.equal(shop);
    expect(p3.project('blog')).to.equal(blog);
    await all.close();
  });

  it('selectProject over a fleet wakes only for changes of that project', async () => {
    const { a, b, all } = twoEngines();
    a.start({ id: 'a1', labels: project('shop') });
    await all.ready();
    const seen: Array<readonly string[]> = [];
    const sub = all.portfolio$.pipe(selectProject('shop')).subscribe((p) => seen.push(p?.containerNames() ?? []));
    b.start({ id: 'b1', labels: project('blog') });
    await snapshot(all, (p) => p.containerTotal === 2);
    b.start({ id: 'b2', labels: project('shop') });
    await snapshot(all, (p) => p.containerTotal === 3);
    sub.unsubscribe();
    expect(seen).to.deep.equal([['a1'], ['a1', 'b2']]);
    await all.close();
  });

  it('merges lifecycle events, containers tagged with their engine', async () => {
    const { a, b, all } = twoEngines();
    await all.ready();
    const events = firstValueFrom(all.events$.pipe(take(3), toArray()));
    const id = a.start({ id: 'a1' });
    await snapshot(all, (p) => p.containerTotal === 1);
    b.start({ id: 'b1' });
    await snapshot(all, (p) => p.containerTotal === 2);
    a.stop(id);
    const got: LifecycleEvent[] = await events;
    expect(got.map((e) => `${e.type} ${e.container.engine?.type} ${e.container.id}`)).to.deep.equal([
      'started docker.com a1',
      'started containerd.io b1',
      'exited docker.com a1',
    ]);
    expect(all.portfolio.container('b1')).to.equal(got[1]!.container);
    await all.close();
  });

  it('tags diagnostics with their engine', async () => {
    const a = new FakeEngine({ type: 'docker.com', api: 'unix:///a.sock' });
    const events = a.events.bind(a);
    a.events = () =>
      events().pipe(
        mergeMap((e) => (e.type === 'live' ? [e, { type: 'diagnostic' as const, code: 'test-code', message: 'hello' }] : [e])),
      );
    const all = fleet(watch(a), watch(new FakeEngine({ api: 'fake://b' })));
    const diagnostic = firstValueFrom(all.diagnostics$);
    await all.ready();
    const d = await diagnostic;
    expect(d.code).to.equal('test-code');
    expect(d.engine).to.deep.equal({ type: 'docker.com', api: 'unix:///a.sock' });
    await all.close();
  });

  it('state$: synced when all are synced, else the worst; ready() waits for all', async () => {
    const { a, b, all } = twoEngines();
    b.crash();
    const states: string[] = [];
    all.state$.subscribe((s) => states.push(s.state));
    const reconnecting = await firstValueFrom(all.state$.pipe(filter((s) => s.state === 'reconnecting')));
    expect(reconnecting.state).to.equal('reconnecting');
    // One engine down does not hide the other: portfolio$ emits what is known.
    a.start({ id: 'a1' });
    const partial = await snapshot(all, (p) => p.containerTotal === 1);
    expect(partial.container('a1')!.engine!.type).to.equal('docker.com');
    let readyDone = false;
    const ready = all.ready().then((p) => {
      readyDone = true;
      return p;
    });
    await new Promise((r) => setImmediate(r));
    expect(readyDone).to.equal(false);
    b.recover();
    b.start({ id: 'b1' });
    const p = await ready;
    expect(p.containerTotal).to.equal(2);
    expect(states.slice(0, 3)).to.deep.equal(['idle', 'connecting', 'reconnecting']);
    expect(states).to.include('synced');
    await all.close();
    expect(states.at(-1)).to.equal('closed');
  });

  it('aggregateState ranks member states', () => {
    const at = new Date(1000);
    const later = new Date(2000);
    const err = new Error('x');
    const synced: WatcherState = { state: 'synced', at };
    expect(aggregateState([synced, { state: 'synced', at: later }])).to.deep.equal({ state: 'synced', at: later });
    expect(aggregateState([synced, { state: 'connecting' }]).state).to.equal('connecting');
    const rec: WatcherState = { state: 'reconnecting', error: err, delay: 5, attempt: 1 };
    expect(aggregateState([{ state: 'connecting' }, rec, synced])).to.equal(rec);
    expect(aggregateState([rec, { state: 'failed', error: err }]).state).to.equal('failed');
  });

  it('ready() rejects on abort and after close; close() closes every member', async () => {
    const a = new FakeEngine();
    const b = new FakeEngine({ api: 'fake://b' });
    b.crash();
    const all = fleet(watch(a), watch(b, { backoff: { initialDelay: 10_000 } }));
    const ac = new AbortController();
    const pending = all.ready({ signal: ac.signal });
    ac.abort();
    await pending.then(
      () => expect.fail('resolved'),
      (e: unknown) => expect(e).to.be.instanceOf(WatcherAbortedError),
    );
    await all.close();
    expect(a.closed && b.closed).to.equal(true);
    await all.ready().then(
      () => expect.fail('resolved'),
      (e: unknown) => expect(e).to.be.instanceOf(WatcherAbortedError),
    );
  });

  it('ready() rejects when a member fails for good', async () => {
    const a = new FakeEngine();
    a.crash();
    const all = fleet(watch(a, { backoff: false }), watch(new FakeEngine({ api: 'fake://b' })));
    await all.ready().then(
      () => expect.fail('resolved'),
      (e: unknown) => expect(e).to.be.instanceOf(Error),
    );
    await all.close();
  });

  it('reports identity and versions of all members; rejects a watcher given twice', async () => {
    const w = watch(new FakeEngine());
    expect(() => fleet(w, w)).to.throw(TypeError);
    const all = fleet(w, watch(new FakeEngine({ api: 'fake://b' })));
    expect(all.type).to.equal('whalewatcher.fleet');
    expect(all.api).to.equal('fake://engine fake://b');
    expect(await all.id()).to.equal('fake-engine,fake-engine');
    expect(await all.version()).to.equal('Fake 1.0, Fake 1.0');
    await all[Symbol.asyncDispose]();
  });

  it('an empty fleet is synced at once with an empty portfolio', async () => {
    const all = fleet();
    const p = await all.ready();
    expect(p.containerTotal).to.equal(0);
    expect(p.containers()).to.deep.equal([]);
    await all.close();
  });
});
