import { expect } from 'chai';
import { NEVER, Observable, Subject, concat, filter, firstValueFrom, from, map, of, skip, take, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { ContainerDetails, ContainerSummary, EngineAdapter, EngineEvent, EngineInfo, Inspection } from '../../lib/adapter.js';
import { EngineUnreachableError, WatcherAbortedError, WrongEngineError } from '../../lib/errors.js';
import type { Portfolio } from '../../lib/model.js';
import { selectContainer } from '../../lib/operators/selectContainer.js';
import { selectProject } from '../../lib/operators/selectProject.js';
import { FakeEngine } from '../../lib/testing/index.js';
import { watch } from '../../lib/watch.js';
import { activeResources } from '../support/reliability-helpers.js';
import type { WatcherState } from '../../lib/watcher.js';

const live: EngineEvent = { type: 'live' };
const d = (id: string, pid: number, more: Partial<ContainerDetails> = {}): ContainerDetails => ({
  id,
  name: id,
  labels: {},
  pid,
  paused: false,
  raw: null,
  ...more,
});

/** An adapter whose every method is a scripted (marble) observable; its lists skip nothing. */
function scripted(parts: {
  events: () => Observable<EngineEvent>;
  list: () => Observable<readonly ContainerSummary[]>;
  inspect?: (id: string) => Observable<Inspection>;
  info?: () => Observable<EngineInfo>;
}): EngineAdapter & { closed: boolean } {
  return {
    type: 'scripted',
    api: 'test://engine',
    closed: false,
    events: parts.events,
    list: () => parts.list().pipe(map((containers) => ({ containers, skipped: [] }))),
    inspect: parts.inspect ?? (() => NEVER),
    info: parts.info ?? (() => of({ id: 'e1', version: 'Scripted 1' })),
    async close() {
      this.closed = true;
    },
  };
}

const kinds = (states: WatcherState[]) => states.map((s) => s.state);
const names = (p: Portfolio) => p.containers().map((c) => `${c.name}/${c.pid}`);

describe('watch pipeline (virtual time)', () => {
  let ts: TestScheduler;
  beforeEach(() => {
    ts = new TestScheduler((actual, expected) => {
      expect(actual).to.deep.equal(expected);
    });
  });

  it('lists only after the event subscription is live, then inspects, then is synced', () => {
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const events = cold<EngineEvent>('---l', { l: live });
      const list = cold<readonly ContainerSummary[]>('--(a|)', { a: [{ id: 'c1', paused: false }] });
      const inspect = cold<ContainerDetails | null>('-(a|)', { a: d('c1', 42) });
      const w = watch(scripted({ events: () => events, list: () => list, inspect: () => inspect }), { resyncInterval: 0, scheduler: ts });
      expectObservable(w.portfolio$.pipe(take(1), map(names))).toBe(
        '------(a|)',
        { a: ['c1/42'] },
      );
      expectSubscriptions(events.subscriptions).toBe('^');
      expectSubscriptions(list.subscriptions).toBe('---^-!');
      expectSubscriptions(inspect.subscriptions).toBe('-----^!');
    });
  });

  it('lists and inspects from `subscribed` on, and counts the sync done once the subscription is live', () => {
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const events = cold<EngineEvent>('s---l', { s: { type: 'subscribed' }, l: live });
      const list = cold<readonly ContainerSummary[]>('-(a|)', { a: [{ id: 'c1', paused: false }] });
      const inspect = cold<ContainerDetails | null>('-(a|)', { a: d('c1', 42) });
      const w = watch(scripted({ events: () => events, list: () => list, inspect: () => inspect }), { resyncInterval: 0, scheduler: ts });
      expectObservable(w.portfolio$.pipe(take(1), map(names))).toBe('----(a|)', { a: ['c1/42'] });
      expectSubscriptions(list.subscriptions).toBe('^!');
      expectSubscriptions(inspect.subscriptions).toBe('-^!');
    });
  });

  it('an exit told while a list sent at `subscribed` is in flight wins over its answer', () => {
    ts.run(({ cold, expectObservable }) => {
      const died: EngineEvent = { type: 'died', id: 'c2', at: new Date(0) };
      const events = cold<EngineEvent>('s-ld', { s: { type: 'subscribed' }, l: live, d: died });
      const list = cold<readonly ContainerSummary[]>('----(a|)', { a: [{ id: 'c1', paused: false }, { id: 'c2', paused: false }] });
      const inspect = (id: string) => cold<ContainerDetails | null>('-(a|)', { a: d(id, 42) });
      const w = watch(scripted({ events: () => events, list: () => list, inspect }), { resyncInterval: 0, scheduler: ts });
      expectObservable(w.portfolio$.pipe(take(1), map(names))).toBe('-----(a|)', { a: ['c1/42'] });
    });
  });

  it('makes one list call and no inspection per ordinary resync, no calls between resyncs, and emits nothing', () => {
    ts.run(({ flush }) => {
      const engine = new FakeEngine();
      for (let i = 0; i < 50; i++) engine.start({ id: `c${i}` });
      const w = watch(engine, { resyncInterval: 1000, fullResyncEvery: 0, scheduler: ts });
      const emitted: Portfolio[] = [];
      w.portfolio$.subscribe((p) => emitted.push(p));
      const calls: (typeof engine.calls)[] = [];
      for (const t of [0, 999, 1001, 2001]) ts.schedule(() => calls.push({ ...engine.calls }), t);
      ts.schedule(() => void w.close(), 2500);
      flush();
      expect(calls[0]).to.deep.equal({ info: 1, events: 1, list: 1, inspect: 50 });
      expect(calls[1]).to.deep.equal(calls[0]); // idle: no engine calls
      expect(calls[2]).to.deep.equal({ ...calls[0], list: 2 });
      expect(calls[3]).to.deep.equal({ ...calls[0], list: 3 });
      expect(emitted).to.have.length(1);
    });
  });

  it('re-inspects everything every fullResyncEvery-th resync', () => {
    ts.run(({ flush }) => {
      const engine = new FakeEngine();
      engine.start({ id: 'c1' });
      engine.start({ id: 'c2' });
      const w = watch(engine, { resyncInterval: 10, fullResyncEvery: 3, scheduler: ts });
      w.portfolio$.subscribe();
      ts.schedule(() => void w.close(), 35);
      flush();
      // first sync 2 inspections; resyncs at 10, 20, 30: the third is full (2 more)
      expect(engine.calls.list).to.equal(4);
      expect(engine.calls.inspect).to.equal(4);
    });
  });

  it('retries with backoff in virtual time, shows reconnecting then synced, and reconciles', () => {
    ts.run(({ flush }) => {
      const engine = new FakeEngine();
      engine.start({ id: 'keep' });
      engine.start({ id: 'gone' });
      const w = watch(engine, { resyncInterval: 0, backoff: { initialDelay: 100, jitter: 0 }, scheduler: ts });
      const states: WatcherState[] = [];
      const events: string[] = [];
      w.events$.subscribe((e) => events.push(`${e.type} ${e.container.id}`));
      w.state$.subscribe((s) => states.push(s));
      flush();
      ts.schedule(() => {
        engine.crash();
        engine.stop('gone');
        engine.restart('keep'); // unseen restart: new PID
      }, 10);
      ts.schedule(() => engine.recover(), 150); // the first retry at 110 fails, the second at 310 succeeds
      ts.schedule(() => void w.close(), 400);
      flush();
      // connecting: the first lookups go out once the events of that moment are applied
      expect(kinds(states)).to.deep.equal(['connecting', 'synced', 'reconnecting', 'reconnecting', 'synced', 'closed']);
      const delays = states.flatMap((s) => (s.state === 'reconnecting' ? [s.delay] : []));
      expect(delays).to.deep.equal([100, 200]);
      expect(events).to.deep.equal(['started keep', 'started gone', 'exited gone', 'exited keep', 'started keep']);
    });
  });

  it('tears everything down on close() and ends its streams', async () => {
    await new Promise(setImmediate); // let mocha arm its own test timer first
    const baseline = activeResources();
    const events = new Subject<EngineEvent>();
    let unsubscribed = false;
    const adapter = scripted({
      events: () =>
        new Observable<EngineEvent>((o) => {
          const s = events.subscribe(o);
          o.next(live);
          return () => {
            unsubscribed = true;
            s.unsubscribe();
          };
        }),
      list: () => of([]),
    });
    const w = watch(adapter, { resyncInterval: 50 });
    const states = firstValueFrom(w.state$.pipe(toArray()));
    await w.ready();
    await w.close();
    expect(unsubscribed).to.equal(true);
    expect(adapter.closed).to.equal(true);
    expect(kinds(await states)).to.deep.equal(['idle', 'connecting', 'synced', 'closed']);
    expect(activeResources()).to.deep.equal(baseline);
    await w.close(); // idempotent
    await expectRejection(w.ready(), WatcherAbortedError);
  });
});


async function expectRejection(p: Promise<unknown>, type: new (...a: never[]) => Error): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(type);
    return e as Error;
  }
  throw new Error(`expected a ${type.name}`);
}

describe('watcher surface', () => {
  it('opens nothing until started, and keeps running when subscribers leave', async () => {
    const engine = new FakeEngine();
    const w = watch(engine);
    expect(engine.calls.info + engine.calls.events).to.equal(0);
    expect(w.portfolio.containerTotal).to.equal(0);
    const sub = w.portfolio$.subscribe();
    sub.unsubscribe();
    engine.start({ id: 'c1' });
    await firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('c1'))));
    expect(w.portfolio.container('c1')?.pid).to.be.greaterThan(0);
    expect(engine.subscribed).to.equal(true);
    await w.close();
    expect(engine.subscribed).to.equal(false);
  });

  it('ready() rejects with the engine error when retries are off', async () => {
    const err = new EngineUnreachableError('test://engine', 'no such socket');
    const w = watch(scripted({ events: () => NEVER, list: () => of([]), info: () => throwError(() => err) }), {
      backoff: false,
    });
    expect(await expectRejection(w.ready(), EngineUnreachableError)).to.equal(err);
    await w.close();
  });

  it('ready() rejects at once on a wrong engine even with retries on', async () => {
    const err = new WrongEngineError('test://engine', 'docker.com', 'containerd');
    const w = watch(scripted({ events: () => NEVER, list: () => of([]), info: () => throwError(() => err) }));
    await expectRejection(w.ready(), WrongEngineError);
    await w.close();
  });

  it('ready() pending at close() rejects; an aborted signal rejects at once without starting the watcher', async () => {
    const engine = new FakeEngine();
    const w = watch(scripted({ events: () => NEVER, list: () => of([]) }));
    const pending = w.ready();
    await w.close();
    expect((await expectRejection(pending, WatcherAbortedError)).message).to.contain('the watcher was closed');
    const idle = watch(engine);
    await expectRejection(idle.ready({ signal: AbortSignal.abort() }), WatcherAbortedError);
    expect(engine.calls.info + engine.calls.events, 'calls made').to.equal(0);
    await idle.close();
  });

  it('ready() rejects when its signal aborts, and the watcher stays usable', async () => {
    const w = watch(scripted({ events: () => NEVER, list: () => of([]) }));
    const ac = new AbortController();
    const pending = w.ready({ signal: ac.signal });
    ac.abort(new Error('impatient'));
    const e = await expectRejection(pending, WatcherAbortedError);
    expect((e.cause as Error).message).to.equal('impatient');
    await w.close();
  });

  it('forwards adapter diagnostics and reports its engine identity', async () => {
    const w = watch(
      scripted({
        events: () => concat(from<EngineEvent[]>([live, { type: 'diagnostic', code: 'unknown-event', message: 'x' }]), NEVER),
        list: () => of([]),
        info: () => of({ id: 'e1', version: 'Scripted 1', type: 'podman.io', pid: 77 }),
      }),
    );
    const diag = firstValueFrom(w.diagnostics$);
    await w.ready();
    expect((await diag).code).to.equal('unknown-event');
    expect(w.type).to.equal('podman.io');
    expect(w.pid).to.equal(77);
    expect(await w.id()).to.equal('e1');
    expect(await w.version()).to.equal('Scripted 1');
    await w.close();
  });

  it('asks the engine identity alongside the event subscription, lists and inspects meanwhile, and syncs once the identity is in', async () => {
    const info = new Subject<EngineInfo>();
    let listed = false;
    const engine = new FakeEngine();
    engine.start({ id: 'c1' });
    const w = watch(
      scripted({
        events: () => concat(of(live), NEVER),
        list: () => {
          listed = true;
          return of([{ id: 'c1', paused: false }]);
        },
        inspect: (id) => engine.inspect(id),
        info: () => info,
      }),
    );
    let ready = false;
    const pending = w.ready().then(() => (ready = true));
    await new Promise(setImmediate);
    await new Promise(setImmediate);
    expect(info.observed, 'the identity is asked at once').to.equal(true);
    expect(listed, 'the list goes out while the identity is on its way').to.equal(true);
    expect(engine.calls.inspect, 'so do the lookups').to.equal(1);
    expect(ready, 'ready before the identity is known').to.equal(false);
    info.next({ id: 'e1', version: 'Podman Engine 4', type: 'podman.io' });
    info.complete();
    const synced = await w.ready();
    await pending;
    expect(synced.containerTotal).to.equal(1);
    expect(w.type).to.equal('podman.io');
    await w.close();
  });

  it('selectors emit only when their slice changes', async () => {
    const engine = new FakeEngine();
    const shop = { 'com.docker.compose.project': 'shop' };
    engine.start({ id: 'w', name: 'web', labels: shop });
    engine.start({ id: 'o', name: 'other' });
    const w = watch(engine);
    const projects: unknown[] = [];
    const containers: unknown[] = [];
    w.portfolio$.pipe(selectProject('shop')).subscribe((p) => projects.push(p?.containerNames()));
    w.portfolio$.pipe(selectContainer('web')).subscribe((c) => containers.push(c?.paused));
    await w.ready();
    engine.pause('o'); // elsewhere: no emission
    engine.pause('w');
    engine.start({ id: 'd', name: 'db', labels: shop });
    await firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('db'))));
    engine.stop('w');
    expect(projects).to.deep.equal([['web'], ['web'], ['db', 'web'], ['db']]);
    expect(containers).to.deep.equal([false, true, undefined]);
    await w.close();
  });

  it('tells containers a list or an inspection skipped as unreadable on diagnostics$, and leaves them out', async () => {
    const engine = new FakeEngine();
    engine.start({ id: 'ok' });
    engine.start({ id: 'bad' });
    engine.garble('bad', 'unknown-status');
    const w = watch(engine, { resyncInterval: 0 });
    const diagnostics: Array<[string, string | undefined, string]> = [];
    w.diagnostics$.subscribe((d) => diagnostics.push([d.code, d.id, d.message]));
    const synced = await w.ready();
    expect(synced.containerTotal).to.equal(1);
    expect(diagnostics).to.deep.equal([['unknown-status', 'bad', 'skipped bad: the fake engine garbled it']]);
    const newcomer = engine.start({ id: 'late' });
    engine.garble(newcomer);
    engine.start({ id: 'after' });
    await firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('after'))));
    expect(w.portfolio.containerTotal).to.equal(2);
    expect(diagnostics.at(-1)).to.deep.equal(['unreadable-inspection', 'late', 'skipped late: the fake engine garbled it']);
    await w.close();
  });

  it('replays the latest portfolio to late subscribers', async () => {
    const engine = new FakeEngine();
    engine.start({ id: 'c1' });
    const w = watch(engine);
    const first = await w.ready();
    engine.start({ id: 'c2' });
    const latest = await firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('c2'))));
    expect(latest).to.equal(w.portfolio);
    expect(latest).to.not.equal(first);
    expect(await firstValueFrom(w.portfolio$.pipe(skip(0), take(1)))).to.equal(latest);
    await w.close();
  });
});
