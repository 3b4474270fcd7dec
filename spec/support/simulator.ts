import type { ContainerDetails } from '../../lib/adapter.js';
import type { Action } from '../../lib/actions.js';
import type { LifecycleEvent } from '../../lib/model.js';
import { type ReconciliationRules, type Transition, type WatchState, createReducer, initialState } from '../../lib/reducer.js';

/** The engine's truth about one container, kept by the simulator independently of the reducer. */
interface Truth {
  pid: number;
  paused: boolean;
  name: string;
  startedAt: Date;
}

/** One scheduling decision: which kind of thing happens next, and two numbers to pick targets. */
export interface Choice {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
}

/** Choice kinds, weighted: engine changes and deliveries dominate, outages are rare. */
export const CHOICE_KINDS = 20;
const KIND = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 4, 4, 5, 5, 5, 6, 7, 8, 8];
const IDS = ['c0', 'c1', 'c2', 'c3'];
const at = new Date(0);

type Answer = ContainerDetails | null;
interface Inspection {
  readonly id: string;
  readonly seq: number;
  answer?: Answer;
}

/**
 * An independent container-engine simulator that drives the reducer the way the pipeline
 * would, but in an arbitrary legal interleaving: engine changes, in-order event delivery,
 * list and inspection answers taken at any moment between request and delivery and delivered
 * in any order, resyncs, outages (events lost, answers void) and reconnects.
 */
export class Simulation {
  readonly truth = new Map<string, Truth>();
  readonly lifecycle: LifecycleEvent[] = [];
  state: WatchState = initialState();
  private readonly reduce: (s: WatchState, a: Action) => Transition;
  private nextPid = 100;
  private clock = 0;
  private connected = false;
  private queue: Action[] = [];
  private list: { answer?: Answer[] } | null = null;
  private inspections: Inspection[] = [];

  /** `detailedList`: lists carry full details (like containerd's), so nothing gets inspected. */
  constructor(
    rules?: ReconciliationRules,
    private readonly detailedList = false,
  ) {
    this.reduce = createReducer({}, rules);
    // Some containers exist before the watcher starts.
    this.engine(0, 0);
    this.engine(0, 1);
    this.engine(2, 1);
    this.connect();
  }

  run(choices: readonly Choice[]): this {
    for (const c of choices) this.step(c);
    this.quiesce();
    return this;
  }

  step({ kind, a, b }: Choice): void {
    switch (KIND[kind % CHOICE_KINDS]) {
      case 0:
        this.engine(a, b);
        break;
      case 1: {
        const next = this.queue.shift();
        if (next) this.apply(next);
        break;
      }
      case 2:
        if (this.list && !this.list.answer) this.list.answer = this.listNow();
        break;
      case 3:
        this.deliverList();
        break;
      case 4: {
        const open = this.inspections.filter((i) => i.answer === undefined);
        const pick = open[a % Math.max(1, open.length)];
        if (pick) pick.answer = this.inspectNow(pick.id);
        break;
      }
      case 5: {
        const done = this.inspections.filter((i) => i.answer !== undefined);
        const pick = done[a % Math.max(1, done.length)];
        if (pick) this.deliverInspection(pick);
        break;
      }
      case 6:
        if (this.connected && !this.list) this.requestList(b % 2 === 0);
        break;
      case 7:
        if (this.connected && a % 3 === 0) this.disconnect();
        break;
      case 8:
        if (!this.connected) this.connect();
        break;
    }
  }

  /** Delivers everything outstanding until nothing is left: the watcher's quiescence. */
  quiesce(): void {
    if (!this.connected) this.connect();
    for (let guard = 0; guard < 1000; guard++) {
      const next = this.queue.shift();
      if (next) {
        this.apply(next);
        continue;
      }
      if (this.list) {
        this.list.answer ??= this.listNow();
        this.deliverList();
        continue;
      }
      const pick = this.inspections[0];
      if (!pick) return;
      pick.answer ??= this.inspectNow(pick.id);
      this.deliverInspection(pick);
    }
    throw new Error('the simulation did not quiesce');
  }

  /** An engine-side change; its event is queued for delivery only while connected. */
  private engine(a: number, b: number): void {
    const id = IDS[a % IDS.length]!;
    const c = this.truth.get(id);
    const op = b % 6;
    const at = new Date(++this.clock);
    if (!c) {
      if (op < 3) {
        this.truth.set(id, { pid: this.nextPid++, paused: false, name: id, startedAt: at });
        this.emit({ type: 'started', id, at });
      }
      return;
    }
    switch (op) {
      case 0:
      case 5:
        this.truth.delete(id);
        this.emit({ type: 'died', id, at, engineAt: at });
        break;
      case 1: {
        this.emit({ type: 'died', id, at, engineAt: at });
        const restartedAt = new Date(++this.clock);
        Object.assign(c, { pid: this.nextPid++, paused: false, startedAt: restartedAt });
        this.emit({ type: 'started', id, at: restartedAt });
        break;
      }
      case 2:
      case 3:
        c.paused = !c.paused;
        this.emit({ type: c.paused ? 'paused' : 'unpaused', id, at, engineAt: at });
        break;
      case 4:
        c.name = `${id}-${this.nextPid++}`;
        this.emit({ type: 'updated', id, name: c.name, at });
        break;
    }
  }

  private emit(action: Action): void {
    if (this.connected) this.queue.push(action);
  }

  private details(id: string): Answer {
    const c = this.truth.get(id);
    return c ? { id, name: c.name, labels: {}, pid: c.pid, paused: c.paused, startedAt: c.startedAt, raw: null } : null;
  }

  private listNow(): Answer[] {
    return [...this.truth.keys()].map((id) => this.details(id));
  }

  private inspectNow(id: string): Answer {
    return this.details(id);
  }

  private connect(): void {
    this.connected = true;
    this.apply({ type: 'connected', at });
    this.requestList(false);
  }

  private disconnect(): void {
    this.connected = false;
    this.queue = [];
    this.list = null;
    this.inspections = [];
    this.apply({ type: 'disconnected', at });
  }

  private requestList(full: boolean): void {
    this.list = {};
    this.apply({ type: 'listRequested', full, at });
  }

  private deliverList(): void {
    if (!this.list?.answer) return;
    const summaries = this.list.answer.map((d) =>
      this.detailedList ? { id: d!.id, paused: d!.paused, details: d! } : { id: d!.id, paused: d!.paused },
    );
    this.list = null;
    this.apply({ type: 'listed', summaries, at });
  }

  private deliverInspection(pick: Inspection): void {
    this.inspections.splice(this.inspections.indexOf(pick), 1);
    this.apply({ type: 'inspected', id: pick.id, requestSeq: pick.seq, details: pick.answer ?? null, at });
  }

  private apply(action: Action): void {
    const { state, effects } = this.reduce(this.state, action);
    this.state = state;
    this.lifecycle.push(...effects.lifecycle);
    for (const r of effects.lookups) this.inspections.push({ id: r.id, seq: r.seq });
  }
}

/**
 * Checks a simulation after quiescence: the portfolio equals the engine's truth, every
 * container's lifecycle events are legal (started, pause toggles, exited; one `started` per
 * ID + PID), and replaying the events alone gives the same picture. Returns the problems.
 */
export function problems(sim: Simulation): string[] {
  const found: string[] = [];
  const p = sim.state.portfolio;
  if (sim.state.phase !== 'synced') found.push(`phase is ${sim.state.phase}, not synced`);
  for (const [id, t] of sim.truth) {
    const c = p.container(id);
    if (!c) found.push(`${id} is alive but missing`);
    else if (c.pid !== t.pid || c.paused !== t.paused || c.name !== t.name) {
      found.push(`${id} is ${JSON.stringify({ pid: c.pid, paused: c.paused, name: c.name })}, truth ${JSON.stringify(t)}`);
    }
  }
  for (const c of p.containers()) if (!sim.truth.has(c.id)) found.push(`${c.id} is dead but shown`);

  const seen = new Map<string, { pid: number; paused: boolean }>();
  const lifetimes = new Set<string>();
  for (const e of sim.lifecycle) {
    const { id, pid, paused } = e.container;
    const now = seen.get(id);
    const bad = (why: string) => found.push(`illegal ${e.type} of ${id}/${pid}: ${why}`);
    switch (e.type) {
      case 'started':
        if (now) bad('already alive');
        if (lifetimes.has(`${id}/${pid}`)) bad('second start of the same lifetime');
        lifetimes.add(`${id}/${pid}`);
        seen.set(id, { pid, paused });
        break;
      case 'exited':
        if (!now) bad('not alive');
        seen.delete(id);
        break;
      case 'paused':
      case 'unpaused':
        if (!now) bad('not alive');
        else if (now.paused === (e.type === 'paused')) bad('no change');
        else now.paused = e.type === 'paused';
        break;
    }
  }
  for (const [id, t] of sim.truth) {
    const s = seen.get(id);
    if (!s || s.pid !== t.pid || s.paused !== t.paused) found.push(`events tell ${JSON.stringify(s)} for ${id}, truth ${JSON.stringify(t)}`);
  }
  for (const id of seen.keys()) if (!sim.truth.has(id)) found.push(`events leave dead ${id} alive`);
  return found;
}
