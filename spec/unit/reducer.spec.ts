import { expect } from 'chai';
import type { Action } from '../../lib/actions.js';
import type { ContainerDetails } from '../../lib/adapter.js';
import { type Effects, type WatchState, createReducer, initialState, initialTransition } from '../../lib/reducer.js';

const at = new Date(1_000);
const reduce = createReducer({ rucksack: (d) => ({ seen: d.raw }) });

const details = (id: string, pid: number, more: Partial<ContainerDetails> = {}): ContainerDetails => ({
  id,
  name: id,
  labels: {},
  pid,
  paused: false,
  raw: `raw-${id}-${pid}`,
  ...more,
});

/** Applies actions one after the other and keeps every lifecycle event and inspection request. */
class Run {
  state: WatchState = initialState();
  effects: Effects = initialTransition().effects;
  events: string[] = [];
  requests = new Map<string, number>();
  diagnostics: string[] = [];

  do(...actions: Action[]): this {
    for (const a of actions) {
      ({ state: this.state, effects: this.effects } = reduce(this.state, a));
      for (const e of this.effects.lifecycle) this.events.push(`${e.type} ${e.container.id}/${e.container.pid}`);
      for (const r of this.effects.lookups) this.requests.set(r.id, r.seq);
      for (const d of this.effects.diagnostics) this.diagnostics.push(`${d.code} ${d.id ?? ''}`.trim());
    }
    return this;
  }

  /** Answers the latest inspection request for `id`. */
  answer(id: string, d: ContainerDetails | null): this {
    const requestSeq = this.requests.get(id);
    if (requestSeq === undefined) throw new Error(`no inspection of ${id} was requested`);
    return this.do({ type: 'inspected', id, requestSeq, details: d, at });
  }

  get ids(): string[] {
    return this.state.portfolio.containers().map((c) => `${c.id}/${c.pid}${c.paused ? ' paused' : ''}`);
  }
}

const connected = (): Action => ({ type: 'connected', at });
const listRequested = (full = false): Action => ({ type: 'listRequested', full, at });
const listed = (...ids: string[]): Action => ({ type: 'listed', summaries: ids.map((id) => ({ id, paused: false })), at });
const ev = (type: 'started' | 'died' | 'paused' | 'unpaused', id: string): Action => ({ type, id, at });

/** A watcher that has synced c1/100 and c2/200. */
function synced(): Run {
  return new Run()
    .do(connected(), listRequested(), listed('c1', 'c2'))
    .answer('c1', details('c1', 100))
    .answer('c2', details('c2', 200));
}

describe('reducer', () => {
  it('announces every container of the first sync and is synced only when all inspections are in', () => {
    const r = new Run().do(connected(), listRequested(), listed('c1', 'c2'));
    expect(r.state.phase).to.equal('inspecting');
    r.answer('c1', details('c1', 100));
    expect(r.state.phase).to.equal('inspecting');
    r.answer('c2', details('c2', 200));
    expect(r.state.phase).to.equal('synced');
    expect(r.events).to.deep.equal(['started c1/100', 'started c2/200']);
    expect(r.state.portfolio.container('c1')?.rucksack).to.deep.equal({ seen: 'raw-c1-100' });
  });

  it('takes a first list answered before the connection is established, and is synced only once it is', () => {
    const r = new Run().do(listRequested(), ev('died', 'c2'), listed('c1', 'c2'));
    expect(r.state.phase).to.equal('inspecting');
    expect([...r.requests.keys()], 'c2 died during the list').to.deep.equal(['c1']);
    r.answer('c1', details('c1', 100));
    expect(r.state.phase, 'no connection yet').to.equal('inspecting');
    r.do(connected());
    expect(r.state.phase).to.equal('synced');
    expect(r.ids).to.deep.equal(['c1/100']);
    r.do({ type: 'disconnected', at }, listRequested(), listed('c1'));
    expect(r.state.phase, 'a new connection must be established again').to.equal('inspecting');
  });

  describe('races between a list in flight and events', () => {
    it('race: a container that died during the list is not added back', () => {
      const r = synced().do(listRequested(), ev('died', 'c2'), {
        type: 'listed',
        summaries: [
          { id: 'c1', paused: false, details: details('c1', 100) },
          { id: 'c2', paused: false, details: details('c2', 200) },
        ],
        at,
      });
      expect(r.ids).to.deep.equal(['c1/100']);
      expect(r.events.slice(2)).to.deep.equal(['exited c2/200']);
    });

    it('race: the latest pause state wins over the list', () => {
      const r = synced().do(listRequested(), ev('paused', 'c1'), listed('c1', 'c2'));
      expect(r.ids).to.deep.equal(['c1/100 paused', 'c2/200']);
      expect(r.events.slice(2)).to.deep.equal(['paused c1/100']);
    });

    it('race: a container that started during the list stays', () => {
      const r = synced().do(listRequested(), ev('started', 'c3')).answer('c3', details('c3', 300)).do(listed('c1', 'c2'));
      expect(r.ids).to.deep.equal(['c1/100', 'c2/200', 'c3/300']);
      expect(r.events.slice(2)).to.deep.equal(['started c3/300']);
    });

    it('race: an inspection answered after the container died does not resurrect it', () => {
      const r = synced().do(ev('started', 'c3'), ev('died', 'c3')).answer('c3', details('c3', 300));
      expect(r.ids).to.deep.equal(['c1/100', 'c2/200']);
      expect(r.events.slice(2)).to.deep.equal([]);
    });

    it('race: a late died of an earlier lifetime does not end the current one', () => {
      const r = new Run()
        .do(connected(), listRequested(), listed('c1'))
        .answer('c1', details('c1', 101, { startedAt: new Date(50) }))
        .do({ type: 'died', id: 'c1', at: new Date(40), engineAt: new Date(40) });
      expect(r.ids).to.deep.equal(['c1/101']);
    });

    it('race: an answer older than the list does not undo what the list found', () => {
      const r = synced()
        .do(ev('started', 'c1')) // c1 restarts: an inspection is in flight
        .do(listRequested(), {
          type: 'listed',
          summaries: [{ id: 'c2', paused: false, details: details('c2', 200) }],
          at,
        }) // the list saw c1 gone
        .answer('c1', details('c1', 100));
      expect(r.ids).to.deep.equal(['c2/200']);
    });
  });

  describe('lifetimes', () => {
    it('does not announce survivors of a reconnect again, and exits the vanished', () => {
      const r = synced().do({ type: 'disconnected', at }, connected(), listRequested(), listed('c1'));
      expect(r.state.listing).to.equal(null);
      r.answer('c1', details('c1', 100));
      expect(r.events.slice(2)).to.deep.equal(['exited c2/200']);
      expect(r.state.phase).to.equal('synced');
    });

    it('re-inspects everything after a reconnect and turns an unseen restart into exited + started', () => {
      const r = synced().do({ type: 'disconnected', at }, connected(), listRequested(), listed('c1', 'c2'));
      expect([...r.state.inflight.keys()].sort()).to.deep.equal(['c1', 'c2']);
      r.answer('c1', details('c1', 100)).answer('c2', details('c2', 222));
      expect(r.events.slice(2)).to.deep.equal(['exited c2/200', 'started c2/222']);
    });

    it('inspects only newcomers on an ordinary resync, and a resync without change changes nothing', () => {
      const r = synced();
      const before = r.state.portfolio;
      r.do(listRequested(), listed('c1', 'c2'));
      expect(r.effects.lookups).to.deep.equal([]);
      expect(r.state.portfolio).to.equal(before);
    });

    it('updates a rename without a lifecycle event and keeps other objects', () => {
      const r = synced();
      const c2 = r.state.portfolio.container('c2');
      r.do({ type: 'updated', id: 'c1', name: 'web', labels: { 'com.docker.compose.project': 'shop' }, at });
      expect(r.state.portfolio.container('web')?.project).to.equal('shop');
      expect(r.state.portfolio.container('c2')).to.equal(c2);
      expect(r.events).to.have.length(2);
    });

    it('keeps every property of a container, in order, through a pause and a rename', () => {
      const startedAt = new Date(500);
      const r = synced().do({ type: 'started', id: 'c9', details: details('c9', 900, { startedAt }), at });
      const born = r.state.portfolio.container('c9')!;
      r.do(ev('paused', 'c9'), { type: 'updated', id: 'c9', name: 'db', at });
      const now = r.state.portfolio.container('c9')!;
      expect(Object.keys(now)).to.deep.equal(Object.keys(born));
      expect(now).to.deep.equal({ ...born, paused: true, name: 'db' });
      expect(Object.isFrozen(now)).to.equal(true);
      expect(r.state.portfolio.container('c1')?.startedAt).to.equal(undefined);
      expect(r.state.portfolio.container('c1')).to.have.property('rucksack');
    });

    it('restarts seen through events give exited then started', () => {
      const r = synced().do(ev('died', 'c1'), ev('started', 'c1')).answer('c1', details('c1', 101));
      expect(r.events.slice(2)).to.deep.equal(['exited c1/100', 'started c1/101']);
    });

    it('takes a started event that carries details without an inspection', () => {
      const r = synced().do({ type: 'started', id: 'c9', details: details('c9', 900), at });
      expect(r.effects.lookups).to.deep.equal([]);
      expect(r.ids).to.include('c9/900');
    });
  });
});

describe('reducer with failing user options', () => {
  it('keeps going when project or rucksack throw, and says so', () => {
    const failing = createReducer({
      project: () => {
        throw new Error('no project');
      },
      rucksack: () => {
        throw new Error('no rucksack');
      },
    });
    let s = initialState();
    const diagnostics: string[] = [];
    for (const a of [
      connected(),
      listRequested(),
      { type: 'listed', summaries: [{ id: 'c1', paused: false, details: details('c1', 100) }], at } as Action,
    ]) {
      const t = failing(s, a);
      s = t.state;
      diagnostics.push(...t.effects.diagnostics.map((d) => d.code));
    }
    const c = s.portfolio.container('c1');
    expect(c?.project).to.equal('');
    expect(c?.rucksack).to.equal(undefined);
    expect(diagnostics).to.deep.equal(['option-failed', 'option-failed']);
  });
});
