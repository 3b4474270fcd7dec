/**
 * Per-container isolation in the watch pipeline: a lookup that hangs, fails or answers nonsense
 * costs its container a diagnostic, never the session; events are applied in order without
 * waiting for anyone's lookup; bursts of short-lived containers cost no lookups.
 */
import { expect } from 'chai';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { NEVER, Observable, Subject, filter, firstValueFrom, of, throwError } from 'rxjs';
import type { ContainerDetails, ContainerList, EngineAdapter, EngineEvent, Inspection } from '../../lib/adapter.js';
import { MAX_PID } from '../../lib/reducer.js';
import { watch } from '../../lib/watch.js';
import type { Diagnostic, Watcher } from '../../lib/watcher.js';
import { waitFor } from '../support/engines.js';

const d = (id: string, pid: number): ContainerDetails => ({ id, name: id, labels: {}, pid, paused: false, raw: null });

/**
 * An engine whose containers and lookup answers the test scripts: `answers` maps an ID to its
 * lookup (default: details with PID 100); `inspected` counts lookups per ID, `active` those running.
 */
class ScriptedEngine implements EngineAdapter {
  readonly type = 'scripted';
  readonly api = 'test://isolation';
  readonly events$ = new Subject<EngineEvent>();
  alive: string[] = [];
  readonly answers = new Map<string, () => Observable<ContainerDetails | null>>();
  readonly inspected = new Map<string, number>();
  eventSubscriptions = 0;
  active = 0;

  events(): Observable<EngineEvent> {
    return new Observable<EngineEvent>((o) => {
      this.eventSubscriptions++;
      const s = this.events$.subscribe(o);
      o.next({ type: 'live' });
      return s;
    });
  }
  list(): Observable<ContainerList> {
    return of({ containers: this.alive.map((id) => ({ id, paused: false })), skipped: [] });
  }
  inspect(id: string): Observable<Inspection> {
    this.inspected.set(id, (this.inspected.get(id) ?? 0) + 1);
    const answer = this.answers.get(id)?.() ?? of(d(id, 100));
    return new Observable<Inspection>((o) => {
      this.active++;
      const s = answer.subscribe(o);
      return () => {
        this.active--;
        s.unsubscribe();
      };
    });
  }
  info() {
    return of({ id: 'e1', version: 'Scripted 1' });
  }
  async close() {}
  start(id: string) {
    this.alive.push(id);
    this.events$.next({ type: 'started', id });
  }
  die(id: string) {
    this.alive = this.alive.filter((a) => a !== id);
    this.events$.next({ type: 'died', id });
  }
}

describe('watch pipeline: per-container isolation', function () {
  this.timeout(10_000);
  let engine: ScriptedEngine;
  let w: Watcher;
  let diagnostics: Diagnostic[];
  const start = (options = {}) => {
    w = watch(engine, { resyncInterval: 0, callTimeout: 200, ...options });
    diagnostics = [];
    w.diagnostics$.subscribe((x) => diagnostics.push(x));
    return w;
  };
  const codes = (id: string) => diagnostics.filter((x) => x.id === id).map((x) => x.code);
  beforeEach(() => (engine = new ScriptedEngine()));
  afterEach(() => w.close());

  it('syncs without the one of 50 containers whose lookup never answers, and says which', async () => {
    engine.alive = Array.from({ length: 50 }, (_, i) => `c${i}`);
    engine.answers.set('c17', () => NEVER);
    const p = await start().ready();
    expect(p.containerTotal).to.equal(49);
    expect(p.container('c17')).to.equal(undefined);
    expect(codes('c17')).to.deep.equal(['lookup-failed']);
    expect(diagnostics.find((x) => x.id === 'c17')!.message).to.match(/c17.*timed out after 200 ms/);
    expect(engine.eventSubscriptions, 'the session was never torn down').to.equal(1);
  });

  it('stays synced when a newcomer lookup fails or hangs; tries again at its next event', async () => {
    engine.alive = ['a'];
    start();
    await w.ready();
    const states: string[] = [];
    w.state$.subscribe((s) => states.push(s.state));
    engine.answers.set('b', () => throwError(() => new Error('engine says no')));
    engine.answers.set('c', () => NEVER);
    engine.start('b');
    engine.start('c');
    await waitFor(() => codes('b').length + codes('c').length === 2, { what: 'two lookup-failed diagnostics' });
    expect(diagnostics.find((x) => x.id === 'b')!.message).to.include('engine says no');
    expect(states).to.deep.equal(['synced']);
    engine.answers.delete('b');
    engine.events$.next({ type: 'started', id: 'b' });
    await firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('b'))));
    expect(engine.inspected.get('b')).to.equal(2);
  });

  it('keeps a known container whose re-inspection fails on a full resync', async () => {
    engine.alive = ['a'];
    start({ resyncInterval: 50, fullResyncEvery: 1 });
    await w.ready();
    engine.answers.set('a', () => NEVER);
    await waitFor(() => codes('a').includes('lookup-failed'), { what: 'the failed re-inspection' });
    expect(w.portfolio.container('a')?.pid).to.equal(100);
    expect(diagnostics.find((x) => x.id === 'a')!.message).to.include('keeps what was known');
  });

  it('applies an exit at once while another container’s lookup hangs', async () => {
    engine.alive = ['a'];
    start({ callTimeout: 60_000, inspectConcurrency: 1 });
    await w.ready();
    engine.answers.set('stuck', () => NEVER);
    engine.start('stuck');
    await waitFor(() => engine.active === 1, { what: 'the hung lookup' });
    engine.die('a');
    expect(w.portfolio.container('a'), 'exit applied synchronously').to.equal(undefined);
  });

  it('looks up no container that died before its lookup went out; one that died during it gives its slot up', async () => {
    start({ inspectConcurrency: 2, callTimeout: 60_000 });
    await w.ready();
    for (let i = 0; i < 1_000; i++) {
      engine.start(`short${i}`);
      engine.die(`short${i}`);
    }
    for (const id of ['slow', 'slow2']) engine.answers.set(id, () => NEVER);
    engine.start('slow');
    await waitFor(() => engine.active === 1, { what: 'the lookup of slow' });
    engine.die('slow');
    engine.start('late');
    await firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('late'))));
    expect(engine.active, 'the orphaned lookup of slow runs on (not reset), without its slot').to.equal(1);
    expect([...engine.inspected.keys()]).to.deep.equal(['slow', 'late']);
    expect(w.portfolio.containerTotal).to.equal(1);
    // Orphans are bounded: while `inspectConcurrency` of them run, no new lookup starts.
    engine.start('slow2');
    await waitFor(() => engine.active === 2, { what: 'the lookup of slow2' });
    engine.die('slow2');
    engine.start('waits');
    for (let i = 0; i < 3; i++) await new Promise(setImmediate); // lookups start on the next turn
    expect(engine.inspected.has('waits'), 'no third call in flight beside two orphans').to.equal(false);
    expect(engine.active).to.equal(2);
  });

  it('holds bounded memory for pending lookups while every slot hangs, whatever the burst', async () => {
    start({ inspectConcurrency: 2, callTimeout: 60_000 });
    await w.ready();
    engine.answers.set('h1', () => NEVER);
    engine.answers.set('h2', () => NEVER);
    engine.start('h1');
    engine.start('h2');
    await waitFor(() => engine.active === 2, { what: 'both slots hung' });
    const before = heapAfterGc();
    for (let i = 0; i < 200_000; i++) {
      engine.start(`burst${i}`);
      engine.die(`burst${i}`);
    }
    const grown = heapAfterGc() - before;
    console.log(`      heap after 200,000 start/die pairs behind 2 hung lookups: +${(grown / 1e6).toFixed(1)} MB`);
    expect(grown, "an unswept queue of 200,000 entries holds about 14 MB").to.be.lessThan(4e6);
    expect(engine.inspected.size).to.equal(2);
  });

  it('an inspection that answers for another ID is a diagnostic, not a phantom', async () => {
    engine.alive = ['x'];
    engine.answers.set('x', () => of(d('y', 7)));
    start({ resyncInterval: 30 });
    const p = await w.ready();
    expect(p.containerTotal).to.equal(0);
    expect(codes('x')).to.include('wrong-id');
    await waitFor(() => codes('x').length >= 2, { what: 'a resync asking again' });
    expect(w.portfolio.container('y')).to.equal(undefined);
  });

  for (const pid of [0.5, -1, MAX_PID + 1, 2 ** 53, 1e300, Number.NaN]) {
    it(`a PID of ${pid} is unreadable: a diagnostic, the container left out`, async () => {
      engine.alive = ['p'];
      engine.answers.set('p', () => of(d('p', pid)));
      const p = await start().ready();
      expect(p.containerTotal).to.equal(0);
      expect(codes('p')).to.deep.equal(['unreadable-pid']);
    });
  }
  it(`the largest real PID, ${MAX_PID}, is taken`, async () => {
    engine.alive = ['p'];
    engine.answers.set('p', () => of(d('p', MAX_PID)));
    expect((await start().ready()).container('p')?.pid).to.equal(MAX_PID);
  });
});

function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  return v8.getHeapStatistics().used_heap_size;
}
