import { Map as PMap, Set as PSet } from 'immutable';
import type { ContainerDetails, ContainerSummary } from './adapter.js';
import type { Action, InspectRequest } from './actions.js';
import type { Container, LifecycleEvent } from './model.js';
import type { ProjectInput } from './options.js';
import { PortfolioSnapshot } from './portfolio.js';
import type { Diagnostic } from './watcher.js';

/**
 * What the engine's events said about one container while a list or an inspection of it was in
 * flight. Events are newer than any answer requested before them, so these marks win over it.
 */
interface Marks {
  readonly died?: boolean;
  /** Started again, or an answer requested later than this one was applied: that one rules. */
  readonly started?: boolean;
  readonly paused?: boolean;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** An inspection in flight: its request number and the marks collected since. */
interface Pending {
  readonly seq: number;
  readonly marks: Marks;
}

/** A list call in flight: its request number, whether it re-inspects all, marks per container. */
interface Listing {
  readonly seq: number;
  readonly full: boolean;
  readonly marks: PMap<string, Marks>;
}

/**
 * The complete, immutable state of one watcher: the portfolio and the bookkeeping that makes
 * reconciliation race-free. What a step causes comes beside it, as {@link Effects}.
 *
 * @example
 * let s = initialState();
 * s = reduce(s, { type: 'connected', at: new Date() });
 */
export interface WatchState {
  /** Number of the last applied action; inspection requests carry it. */
  readonly seq: number;
  readonly portfolio: PortfolioSnapshot;
  /**
   * `down` without a connection; `listing` until the connection's first list lands;
   * `inspecting` until the inspections that list asked for are in and the connection is
   * established (see {@link WatchState.connected}); then `synced`. A first list may land before
   * `connected` (Docker lists while its event stream connects).
   */
  readonly phase: 'down' | 'listing' | 'inspecting' | 'synced';
  /** The connection is established: its event subscription is live and the engine identified. */
  readonly connected: boolean;
  /** The next list re-inspects every container (after a reconnect). */
  readonly needsFull: boolean;
  readonly listing: Listing | null;
  readonly inflight: PMap<string, Pending>;
  /** Inspections the current sync waits for before it counts as done. */
  readonly awaiting: PSet<string>;
}

/**
 * What one step of the reducer causes besides the next state: the lifecycle events to announce,
 * the lookups (inspections) to make, and the diagnostics to tell.
 *
 * @example
 * const { effects } = reduce(state, action); effects.lookups.forEach(startLookup);
 */
export interface Effects {
  readonly lifecycle: readonly LifecycleEvent[];
  readonly lookups: readonly InspectRequest[];
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * One step of the reducer: the next state and what the step caused.
 *
 * @example
 * const t: Transition = reduce(initialState(), { type: 'connected', at: new Date() });
 */
export interface Transition {
  readonly state: WatchState;
  readonly effects: Effects;
}

/** Linux's largest PID (`PID_MAX_LIMIT` on 64-bit): a PID above it is not a real one. */
export const MAX_PID = 4_194_304;

/**
 * How the reducer turns engine details into containers.
 *
 * @example
 * const config: ReducerConfig = { project: (c) => c.labels['team'] ?? '' };
 */
export interface ReducerConfig {
  readonly project?: (container: ProjectInput) => string;
  readonly rucksack?: (details: ContainerDetails) => unknown;
}

/**
 * The reconciliation rules, each of which can be switched off for mutation testing (the test
 * suite proves that the property tests fail without any one of them). Not part of the public API.
 */
export interface ReconciliationRules {
  /** A container that died while a list was in flight is not added back by that list. */
  readonly diedDuringList: boolean;
  /** A container started while a list was in flight stays, even though the list lacks it. */
  readonly startedDuringList: boolean;
  /** Pause and unpause events win over older list and inspection answers. */
  readonly latestPauseWins: boolean;
  /** An inspection answered after the container's death does not resurrect it. */
  readonly noResurrection: boolean;
  /** A late event of an earlier lifetime (older PID or start time) does not touch the current one. */
  readonly earlierLifetimes: boolean;
}

const allRules: ReconciliationRules = {
  diedDuringList: true,
  startedDuringList: true,
  latestPauseWins: true,
  noResurrection: true,
  earlierLifetimes: true,
};

/**
 * The default project mapping: the compose project label, else the unnamed project.
 *
 * @example
 * mobyWatcher(undefined, { project: (c) => c.labels['team'] ?? composeProject(c) });
 */
export const composeProject = (c: ProjectInput): string => c.labels['com.docker.compose.project'] ?? '';

const none: readonly never[] = Object.freeze([]);

/** The marks the events leave that carry no data: shared, so that events allocate none. */
const startedMark: Marks = Object.freeze({ started: true });
const diedMark: Marks = Object.freeze({ died: true });
const pausedMark: Marks = Object.freeze({ paused: true });
const unpausedMark: Marks = Object.freeze({ paused: false });

/**
 * The state before anything is known.
 *
 * @example
 * const s = initialState(); s.portfolio.containerTotal; // 0
 */
export function initialState(): WatchState {
  return {
    seq: 0,
    portfolio: PortfolioSnapshot.empty,
    phase: 'down',
    connected: false,
    needsFull: false,
    listing: null,
    inflight: PMap(),
    awaiting: PSet(),
  };
}

/** The effects of a step that caused nothing. */
const noEffects: Effects = Object.freeze({ lifecycle: none, lookups: none, diagnostics: none });

/**
 * The transition into {@link initialState}, which caused nothing: the seed of a `scan`.
 *
 * @example
 * actions$.pipe(scan((t, a) => reduce(t.state, a), initialTransition()));
 */
export function initialTransition(): Transition {
  return { state: initialState(), effects: noEffects };
}

/**
 * Creates the pure reducer `(state, action) => { state, effects }` of a watcher. All ordering,
 * race and reconciliation decisions live here:
 *
 * - events that arrive while a list or an inspection is in flight are newer than its answer
 *   and win over it (a container that died during a list is not added back, the latest pause
 *   state wins, one started during the list stays, an inspection that returns after the
 *   container's death does not resurrect it);
 * - a lifetime is ID plus PID: one `started` per lifetime, `exited` then `started` for a
 *   restart seen only through a new PID, `exited` for containers a list no longer shows;
 * - the reducer decides what to inspect: newcomers, or everything on a full list; a container
 *   that died no longer needs its lookup, and a lookup that failed leaves out only its container;
 * - what an engine claims is checked: a PID outside 1..{@link MAX_PID}, or an inspection that
 *   answers for another ID, is a diagnostic, never a container.
 *
 * @example
 * const reduce = createReducer();
 * const { state, effects } = reduce(initialState(), { type: 'connected', at: new Date() });
 */
export function createReducer(
  config: ReducerConfig = {},
  rules: ReconciliationRules = allRules,
): (state: WatchState, action: Action) => Transition {
  // The user's callbacks must not break the watcher: a throwing one counts as "no answer"
  // and is reported with the step's diagnostics.
  const failures: [string, string][] = [];
  const guarded = <A, R>(what: string, fn: (a: A) => R, fallback: R) => (a: A): R => {
    try {
      return fn(a);
    } catch (err) {
      failures.push([(a as { id: string }).id, `the ${what} option threw: ${err instanceof Error ? err.message : String(err)}`]);
      return fallback;
    }
  };
  const projectOf = config.project ? guarded('project', config.project, '') : composeProject;
  const rucksackOf = config.rucksack && guarded('rucksack', config.rucksack, undefined);

  const build = (d: ContainerDetails): Container => {
    // Object literals, not spreads: building containers is on every event's path.
    const project = projectOf({ id: d.id, name: d.name, labels: d.labels });
    const c: Writable<Container> = { id: d.id, name: d.name, labels: d.labels, pid: d.pid, paused: d.paused, project };
    if (d.startedAt) c.startedAt = d.startedAt;
    if (rucksackOf) c.rucksack = rucksackOf(d);
    return Object.freeze(c);
  };

  const relabel = (c: Container, name: string, labels: Readonly<Record<string, string>>): Container =>
    changed(c, c.paused, name, labels, projectOf({ id: c.id, name, labels }));

  return function reduce(state: WatchState, action: Action): Transition {
    const step = new Step(state, action.at);
    switch (action.type) {
      case 'connected':
        step.connected = true;
        if (state.phase === 'down') step.phase = 'listing';
        step.settle();
        break;
      case 'disconnected':
        step.phase = 'down';
        step.connected = false;
        step.listing = null;
        step.inflight = PMap();
        step.awaiting = PSet();
        step.needsFull = state.needsFull || state.portfolio.containerTotal > 0 || state.phase !== 'down';
        break;
      case 'listRequested':
        step.listing = { seq: step.seq, full: action.full || state.needsFull, marks: PMap() };
        break;
      case 'listed':
        listed(step, action.summaries);
        break;
      case 'inspected':
        inspected(step, action.id, action.requestSeq, action.details);
        break;
      case 'lookupFailed':
        lookupFailed(step, action.id, action.requestSeq, action.reason);
        break;
      case 'diagnosed':
        step.diagnose(action.code, action.message, action.id);
        break;
      case 'started':
        step.note(action.id, startedMark);
        if (action.details) {
          step.forget(action.id);
          if (readable(step, action.details)) adopt(step, action.details);
        } else {
          step.request(action.id, true);
        }
        break;
      case 'died': {
        const gone = step.portfolio.byIdOnly(action.id);
        if (gone && rules.earlierLifetimes && olderLifetime(gone, action)) {
          step.diagnose('stale-event', `died of an earlier lifetime of ${action.id} arrived late; ignored`, action.id);
          break;
        }
        step.note(action.id, diedMark);
        // Its lookup can only tell of a dead container now: the pipeline drops it unsent.
        if (rules.noResurrection) step.forget(action.id);
        if (gone) step.remove(gone);
        break;
      }
      case 'paused':
      case 'unpaused': {
        const paused = action.type === 'paused';
        const c = step.portfolio.byIdOnly(action.id);
        if (c && rules.earlierLifetimes && olderLifetime(c, action)) {
          step.diagnose('stale-event', `${action.type} of an earlier lifetime of ${action.id} arrived late; ignored`, action.id);
          break;
        }
        step.note(action.id, paused ? pausedMark : unpausedMark);
        if (c && c.paused !== paused) step.replace(c, changed(c, paused), action.type);
        break;
      }
      case 'updated': {
        if (step.noting) {
          const update: Writable<Marks> = {};
          if (action.name !== undefined) update.name = action.name;
          if (action.labels !== undefined) update.labels = action.labels;
          step.note(action.id, update);
        }
        const c = step.portfolio.byIdOnly(action.id);
        if (c) {
          const next = relabel(c, action.name ?? c.name, action.labels ?? c.labels);
          if (!sameLook(c, next)) step.replace(c, next);
        }
        break;
      }
    }
    if (failures.length) for (const [id, message] of failures.splice(0)) step.diagnose('option-failed', message, id);
    return step.finish();
  };

  /** Reconciles a list result with what happened while it was in flight. */
  function listed(step: Step, summaries: readonly ContainerSummary[]): void {
    const listing = step.listing;
    if (!listing) {
      step.diagnose('unexpected-list', 'a list result arrived without a list in flight; ignored');
      return;
    }
    step.listing = null;
    step.needsFull = false;
    const seen = new Set<string>();
    for (const s of summaries) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      const marks = rulesApplied(listing.marks.get(s.id), 'list');
      if (marks?.died || marks?.started) continue; // events during the list know better
      const pending = step.inflight.get(s.id);
      if (pending && pending.seq > listing.seq) continue; // so does a later inspection
      if (s.details) {
        if (pending) step.forget(s.id); // answers apply in request order: the older is void
        if (readable(step, s.details)) adopt(step, withMarks(s.details, marks));
        continue;
      }
      const known = step.portfolio.byIdOnly(s.id);
      if (!known || listing.full) {
        step.request(s.id, false);
      } else if (marks?.paused === undefined && known.paused !== s.paused) {
        step.replace(known, changed(known, s.paused), s.paused ? 'paused' : 'unpaused');
      }
    }
    for (const known of step.portfolio.all()) {
      if (seen.has(known.id) || rulesApplied(listing.marks.get(known.id), 'list')?.started) continue;
      step.remove(known);
      const pending = step.inflight.get(known.id);
      if (pending && pending.seq < listing.seq) step.forget(known.id); // older than the list: void
    }
    for (const id of step.requested) step.awaiting = step.awaiting.add(id);
    if (step.phase === 'listing' || step.phase === 'down') step.phase = 'inspecting';
    step.settle();
  }

  /** Applies an inspection result, unless it went stale. */
  function inspected(step: Step, id: string, requestSeq: number, details: ContainerDetails | null): void {
    const pending = step.inflight.get(id);
    if (!pending || pending.seq !== requestSeq) {
      step.diagnose('stale-inspection', `inspection #${requestSeq} of ${id} was superseded; ignored`, id);
      return;
    }
    step.inflight = step.inflight.delete(id);
    step.awaiting = step.awaiting.delete(id);
    const marks = rulesApplied(pending.marks, 'inspection');
    if (marks?.died) {
      step.diagnose('inspection-after-death', `${id} died while being inspected; its inspection is ignored`, id);
    } else if (details && details.id !== id) {
      step.diagnose('wrong-id', `the inspection of ${id} answered for ${JSON.stringify(details.id.length > 80 ? `${details.id.slice(0, 80)}…` : details.id)}; ${id} is left out until its next event or resync`, id);
    } else if (details) {
      if (readable(step, details)) adopt(step, withMarks(details, marks));
    } else {
      const gone = step.portfolio.byIdOnly(id);
      if (gone) step.remove(gone);
    }
    // Whatever a list in flight says of this container is no newer than this answer, and
    // anything after it arrives as events: the list leaves the container alone.
    if (step.listing) step.note(id, startedMark);
    step.settle();
  }

  /**
   * A lookup that failed or ran past its deadline: its container is left out (or keeps what was
   * known of it) until its next event or the next resync asks again; the sync does not wait.
   */
  function lookupFailed(step: Step, id: string, requestSeq: number, reason: string): void {
    const pending = step.inflight.get(id);
    if (!pending || pending.seq !== requestSeq) return; // superseded: a newer lookup decides
    step.inflight = step.inflight.delete(id);
    step.awaiting = step.awaiting.delete(id);
    const kept = step.portfolio.byIdOnly(id) ? 'keeps what was known of it' : 'leaves it out';
    step.diagnose('lookup-failed', `the lookup of ${id} failed (${reason}); the watcher ${kept} until its next event or the next resync`, id);
    step.settle();
  }

  /** Whether details carry a real PID; a diagnostic says why not. */
  function readable(step: Step, details: ContainerDetails): boolean {
    const pid = details.pid;
    if (Number.isInteger(pid) && pid >= 1 && pid <= MAX_PID) return true;
    step.diagnose('unreadable-pid', `${details.id} claims PID ${String(pid)}, outside 1..${MAX_PID}; it is left out`, details.id);
    return false;
  }

  /** The marks, without what disabled rules would ignore. */
  function rulesApplied(marks: Marks | undefined, answer: 'list' | 'inspection'): Marks | undefined {
    if (!marks || rules === allRules) return marks;
    const { died, started, paused, ...rest } = marks;
    return {
      ...rest,
      ...((answer === 'list' ? rules.diedDuringList : rules.noResurrection) && died !== undefined && { died }),
      ...(rules.startedDuringList && started !== undefined && { started }),
      ...(rules.latestPauseWins && paused !== undefined && { paused }),
    };
  }

  /** Takes fresh, trustworthy details of an alive container into the portfolio. */
  function adopt(step: Step, details: ContainerDetails): void {
    const known = step.portfolio.byIdOnly(details.id);
    if (!known) {
      step.add(build(details));
    } else if (known.pid !== details.pid) {
      step.remove(known);
      step.add(build(details));
    } else {
      let next = relabel(known, details.name, details.labels);
      if (sameLook(known, next)) next = known;
      if (next.paused !== details.paused) {
        step.replace(known, changed(next, details.paused), details.paused ? 'paused' : 'unpaused');
      } else if (next !== known) {
        step.replace(known, next);
      }
    }
  }
}

/**
 * Whether an event concerns an earlier lifetime than the container's current one: events lag
 * behind list and inspection answers, so a `died` of the previous lifetime can arrive after the
 * new lifetime was adopted. Decided by PID where the event has one, else by the engine's clock.
 */
function olderLifetime(c: Container, e: { readonly pid?: number; readonly engineAt?: Date }): boolean {
  if (e.pid !== undefined) return e.pid !== c.pid;
  return !!(e.engineAt && c.startedAt && e.engineAt.getTime() < c.startedAt.getTime());
}

function withMarks(details: ContainerDetails, marks: Marks | undefined): ContainerDetails {
  if (!marks || (marks.paused === undefined && marks.name === undefined && marks.labels === undefined)) return details;
  return {
    ...details,
    paused: marks.paused ?? details.paused,
    name: marks.name ?? details.name,
    labels: marks.labels ?? details.labels,
  };
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * `c` with a new pause state, and optionally a new look, as a new frozen container with the same
 * properties in the same order. One object literal: several times cheaper than a spread.
 */
function changed(c: Container, paused: boolean, name = c.name, labels = c.labels, project = c.project): Container {
  const next: Writable<Container> = { id: c.id, name, labels, pid: c.pid, paused, project };
  if ('startedAt' in c) next.startedAt = c.startedAt;
  if ('rucksack' in c) next.rucksack = c.rucksack;
  return Object.freeze(next);
}

function sameLook(a: Container, b: Container): boolean {
  return a.name === b.name && a.project === b.project && sameLabels(a.labels, b.labels);
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => a[k] === b[k]);
}

/** The working copy of one reduction: collects changes and effects, then freezes them. */
class Step {
  readonly seq: number;
  portfolio: PortfolioSnapshot;
  phase: WatchState['phase'];
  connected: boolean;
  needsFull: boolean;
  listing: Listing | null;
  inflight: PMap<string, Pending>;
  awaiting: PSet<string>;
  readonly requested: string[] = [];
  private lifecycle: LifecycleEvent[] | undefined;
  private diagnostics: Diagnostic[] | undefined;

  constructor(
    prev: WatchState,
    private readonly at: Date,
  ) {
    this.seq = prev.seq + 1;
    this.portfolio = prev.portfolio;
    this.phase = prev.phase;
    this.connected = prev.connected;
    this.needsFull = prev.needsFull;
    this.listing = prev.listing;
    this.inflight = prev.inflight;
    this.awaiting = prev.awaiting;
  }

  /** Whether a list or an inspection is in flight, for which {@link note} records events. */
  get noting(): boolean {
    return this.listing !== null || this.inflight.size > 0;
  }

  /** Records what an event said, for the list and the inspection of that container in flight. */
  note(id: string, marks: Marks): void {
    if (this.listing) {
      const old = this.listing.marks.get(id);
      this.listing = { ...this.listing, marks: this.listing.marks.set(id, { ...old, ...marks }) };
    }
    const pending = this.inflight.size > 0 ? this.inflight.get(id) : undefined;
    if (pending) this.inflight = this.inflight.set(id, { seq: pending.seq, marks: { ...pending.marks, ...marks } });
  }

  /** Asks for an inspection; `renew` supersedes one already in flight (its answer is older). */
  request(id: string, renew: boolean): void {
    if (!renew && this.inflight.has(id)) {
      this.requested.push(id);
      return;
    }
    this.inflight = this.inflight.set(id, { seq: this.seq, marks: {} });
    this.requested.push(id);
  }

  /** Drops an inspection in flight whose answer a newer event made useless. */
  forget(id: string): void {
    if (!this.inflight.has(id)) return;
    this.inflight = this.inflight.delete(id);
    this.awaiting = this.awaiting.delete(id);
    this.settle();
  }

  /** Adds `c`, whose ID the portfolio does not hold. */
  add(c: Container): void {
    this.portfolio = this.portfolio.with(c, null);
    this.emit('started', c);
  }

  /** Removes `c`, a container of the portfolio. */
  remove(c: Container): void {
    this.portfolio = this.portfolio.without(c.id, c);
    this.emit('exited', c);
  }

  /** Replaces `old`, a container of the portfolio, by its new version `c`. */
  replace(old: Container, c: Container, event?: 'paused' | 'unpaused'): void {
    this.portfolio = this.portfolio.with(c, old);
    if (event) this.emit(event, c);
  }

  /** Marks the sync done once the connection is established and its list and the inspections it asked for are in. */
  settle(): void {
    if (this.phase === 'inspecting' && this.awaiting.size === 0 && this.connected) this.phase = 'synced';
  }

  diagnose(code: string, message: string, id?: string): void {
    (this.diagnostics ??= []).push(id === undefined ? { code, message, at: this.at } : { code, message, id, at: this.at });
  }

  private emit(type: LifecycleEvent['type'], container: Container): void {
    (this.lifecycle ??= []).push(Object.freeze({ type, container, at: this.at }));
  }

  finish(): Transition {
    const lookups = this.requested.length
      ? Object.freeze(this.requested.filter((id) => this.inflight.get(id)?.seq === this.seq).map((id) => ({ id, seq: this.seq })))
      : none;
    const state: WatchState = {
      seq: this.seq,
      portfolio: this.portfolio,
      phase: this.phase,
      connected: this.connected,
      needsFull: this.needsFull,
      listing: this.listing,
      inflight: this.inflight,
      awaiting: this.awaiting,
    };
    if (!this.lifecycle && !this.diagnostics && lookups === none) return { state, effects: noEffects };
    return {
      state,
      effects: {
        lifecycle: this.lifecycle ? Object.freeze(this.lifecycle) : none,
        lookups,
        diagnostics: this.diagnostics ? Object.freeze(this.diagnostics) : none,
      },
    };
  }
}
