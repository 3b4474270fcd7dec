import {
  BehaviorSubject,
  Observable,
  ReplaySubject,
  Subject,
  type Subscription,
  combineLatest,
  distinctUntilChanged,
  filter,
  map,
  merge,
  mergeMap,
  take,
} from 'rxjs';
import { startOnSubscribe } from './operators/startOnSubscribe.js';
import { whenSynced } from './whenSynced.js';
import type { ComposerProject, Container, EngineRef, LifecycleEvent, Portfolio } from './model.js';
import type { Diagnostic, Watcher, WatcherState } from './watcher.js';

/**
 * The engine type a {@link Fleet} reports as its own.
 *
 * @example
 * if (w.type === FLEET_TYPE) console.log('a fleet of', (w as Fleet).watchers.length);
 */
export const FLEET_TYPE = 'whalewatcher.fleet';

/**
 * Which engine a lookup concerns: its endpoint text (`api`, as the watcher was given it) or
 * its full {@link EngineRef} (needed when two engines share a socket, like containerd and its
 * CRI plugin).
 *
 * @example
 * fleet.portfolio.engine('unix:///var/run/docker.sock');
 * fleet.portfolio.engine({ type: 'k8s.io/cri-api', api: '/run/containerd/containerd.sock' });
 */
export type EngineSelector = string | EngineRef;

/**
 * A {@link Diagnostic} of one of a fleet's watchers, with the engine it came from.
 *
 * @example
 * all.diagnostics$.subscribe((d) => console.debug(d.engine.api, d.code, d.message));
 */
export interface FleetDiagnostic extends Diagnostic {
  readonly engine: EngineRef;
}

/**
 * The merged snapshot of a {@link Fleet}: every engine's alive containers, each carrying its
 * `engine`. Containers keep their engine's `id` and `name`; nothing is renamed, so two engines
 * may hold the same ID or name. Plain lookups (`container`, `project`) look across all engines
 * (the first engine in fleet order wins a name or ID clash); pass an engine, or use
 * {@link FleetPortfolio.engine}, for per-engine lookups. A project name merges the projects
 * of that name of all engines.
 *
 * @example
 * const p = all.portfolio;
 * p.container('web-1');                                  // from whichever engine has it first
 * p.container('web-1', 'unix:///var/run/docker.sock');   // from that engine only
 * p.engine('unix:///var/run/docker.sock')?.names();      // one engine's projects
 * for (const c of p.containers()) console.log(c.engine?.type, c.name);
 */
export interface FleetPortfolio extends Portfolio {
  /** Looks up a container by ID or name, across all engines or in the given one. */
  container(nameOrId: string, engine?: EngineSelector): Container | undefined;
  /** The fleet's engines, in fleet order. */
  engines(): readonly EngineRef[];
  /** One engine's portfolio (its containers carrying `engine`), or undefined if not in the fleet. */
  engine(engine: EngineSelector): Portfolio | undefined;
}

/**
 * One watcher-like view over several watchers: see {@link fleet}.
 *
 * @example
 * await using all = fleet(mobyWatcher(), containerdWatcher());
 * const p = await all.ready({ signal: AbortSignal.timeout(10_000) });
 */
export interface Fleet extends Watcher {
  /** The watchers, in fleet order. */
  readonly watchers: readonly Watcher[];
  readonly portfolio: FleetPortfolio;
  readonly portfolio$: Observable<FleetPortfolio>;
  readonly diagnostics$: Observable<FleetDiagnostic>;
  /** Starts all watchers (if not yet); resolves when every one of them is synced. */
  ready(options?: { signal?: AbortSignal }): Promise<FleetPortfolio>;
}

const RANK: Record<WatcherState['state'], number> = {
  synced: 0,
  idle: 1,
  connecting: 2,
  reconnecting: 3,
  closed: 4,
  failed: 5,
};

/**
 * The fleet's state over its members' states: `synced` when all are synced (at the latest
 * sync time), else the worst of them (failed, closed, reconnecting, connecting, idle), as that
 * member reports it.
 *
 * @example
 * aggregateState([{ state: 'synced', at }, { state: 'connecting' }]); // { state: 'connecting' }
 */
export function aggregateState(states: readonly WatcherState[]): WatcherState {
  let worst: WatcherState | undefined;
  let latest = 0;
  for (const s of states) {
    if (s.state === 'synced') latest = Math.max(latest, s.at.getTime());
    if (!worst || RANK[s.state] > RANK[worst.state]) worst = s;
  }
  if (!worst) return { state: 'synced', at: new Date(0) };
  return worst.state === 'synced' ? { state: 'synced', at: new Date(latest) } : worst;
}

const byName = (a: Container, b: Container) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** One member watcher: its engine reference and the cache of engine-tagged container copies. */
class Member {
  #ref: EngineRef | undefined;
  #tagged = new WeakMap<Container, Container>();
  #projects = new WeakMap<ComposerProject, ComposerProject>();
  #last: { source: Portfolio; view: EnginePortfolio } | undefined;

  constructor(readonly watcher: Watcher) {}

  get ref(): EngineRef {
    const { type, api } = this.watcher;
    if (this.#ref?.type !== type || this.#ref.api !== api) {
      // The type may become known only with the engine's identity (Podman): start afresh.
      this.#ref = Object.freeze({ type, api });
      this.#tagged = new WeakMap();
      this.#projects = new WeakMap();
      this.#last = undefined;
    }
    return this.#ref;
  }

  matches(engine: EngineSelector): boolean {
    const ref = this.ref;
    return typeof engine === 'string' ? ref.api === engine : ref.api === engine.api && ref.type === engine.type;
  }

  /** The container with `engine` set; the same object for the same source container. */
  tag(c: Container): Container {
    const engine = this.ref;
    let t = this.#tagged.get(c);
    if (!t) {
      t = Object.freeze({ ...c, engine });
      this.#tagged.set(c, t);
    }
    return t;
  }

  /** The project with tagged containers; the same object for the same source project. */
  project(p: ComposerProject): ComposerProject {
    void this.ref; // refreshes the caches should the engine type have changed
    let t = this.#projects.get(p);
    if (!t) {
      t = new TaggedProject(p, this);
      this.#projects.set(p, t);
    }
    return t;
  }

  /** The member's current portfolio as a tagged view; the same object while the source is. */
  view(source: Portfolio): EnginePortfolio {
    void this.ref; // refreshes the caches should the engine type have changed
    if (this.#last?.source !== source) this.#last = { source, view: new EnginePortfolio(source, this) };
    return this.#last.view;
  }
}

/** A source's containers (a project's or a portfolio's), tagged with the member's engine. */
abstract class TaggedContainers<S extends ComposerProject | Portfolio> {
  #containers?: readonly Container[];

  constructor(
    readonly source: S,
    readonly member: Member,
  ) {}

  containers(): readonly Container[] {
    return (this.#containers ??= Object.freeze(this.source.containers().map((c) => this.member.tag(c))));
  }

  container(nameOrId: string): Container | undefined {
    const c = this.source.container(nameOrId);
    return c && this.member.tag(c);
  }
}

/** One engine's project, its containers tagged with the engine. */
class TaggedProject extends TaggedContainers<ComposerProject> implements ComposerProject {
  get name(): string {
    return this.source.name;
  }

  containerNames(): readonly string[] {
    return this.source.containerNames();
  }
}

/** One project name over several engines. */
class MergedProject implements ComposerProject {
  #containers?: readonly Container[];
  #names?: readonly string[];

  constructor(
    readonly name: string,
    readonly parts: readonly ComposerProject[],
  ) {}

  containers(): readonly Container[] {
    return (this.#containers ??= Object.freeze(this.parts.flatMap((p) => p.containers()).sort(byName)));
  }

  container(nameOrId: string): Container | undefined {
    for (const p of this.parts) {
      const c = p.container(nameOrId);
      if (c) return c;
    }
    return undefined;
  }

  containerNames(): readonly string[] {
    return (this.#names ??= Object.freeze(this.containers().map((c) => c.name)));
  }
}

/** One engine's portfolio, its containers tagged with the engine. */
class EnginePortfolio extends TaggedContainers<Portfolio> implements Portfolio {
  get containerTotal(): number {
    return this.source.containerTotal;
  }

  names(): readonly string[] {
    return this.source.names();
  }

  project(name: string): ComposerProject | undefined {
    const p = this.source.project(name);
    return p && this.member.project(p);
  }
}

class MergedPortfolio implements FleetPortfolio {
  #names?: readonly string[];
  #containers?: readonly Container[];

  constructor(
    readonly views: readonly EnginePortfolio[],
    readonly projectCache: Map<string, MergedProject>,
  ) {}

  get containerTotal(): number {
    return this.views.reduce((n, v) => n + v.containerTotal, 0);
  }

  names(): readonly string[] {
    if (this.#names) return this.#names;
    const all = new Set<string>();
    for (const v of this.views) for (const n of v.names()) all.add(n);
    return (this.#names = Object.freeze([...all].sort()));
  }

  project(name: string): ComposerProject | undefined {
    const parts: ComposerProject[] = [];
    for (const v of this.views) {
      const p = v.project(name);
      if (p) parts.push(p);
    }
    if (parts.length <= 1) return parts[0];
    // Keep the merged project's identity while its parts are the same objects.
    const cached = this.projectCache.get(name);
    if (cached && cached.parts.length === parts.length && cached.parts.every((p, i) => p === parts[i])) return cached;
    const merged = new MergedProject(name, parts);
    this.projectCache.set(name, merged);
    return merged;
  }

  container(nameOrId: string, engine?: EngineSelector): Container | undefined {
    for (const v of this.views) {
      if (engine !== undefined && !v.member.matches(engine)) continue;
      const c = v.container(nameOrId);
      if (c) return c;
    }
    return undefined;
  }

  containers(): readonly Container[] {
    if (this.#containers) return this.#containers;
    const all = this.views.flatMap((v) => v.containers());
    if (this.views.length > 1) all.sort(byName);
    return (this.#containers = Object.freeze(all));
  }

  engines(): readonly EngineRef[] {
    return this.views.map((v) => v.member.ref);
  }

  engine(engine: EngineSelector): Portfolio | undefined {
    return this.views.find((v) => v.member.matches(engine));
  }
}

class FleetWatcher implements Fleet {
  readonly type = FLEET_TYPE;
  readonly pid = 0;
  readonly watchers: readonly Watcher[];
  readonly portfolio$: Observable<FleetPortfolio>;
  readonly events$: Observable<LifecycleEvent>;
  readonly state$: Observable<WatcherState>;
  readonly diagnostics$: Observable<FleetDiagnostic>;

  readonly #members: readonly Member[];
  readonly #projectCache = new Map<string, MergedProject>();
  readonly #portfolios = new ReplaySubject<FleetPortfolio>(1);
  readonly #lifecycle = new Subject<LifecycleEvent>();
  readonly #status = new BehaviorSubject<WatcherState>({ state: 'idle' });
  #last: MergedPortfolio | undefined;
  #run: Subscription | undefined;
  #closing: Promise<void> | undefined;

  constructor(watchers: readonly Watcher[]) {
    if (new Set(watchers).size !== watchers.length) throw new TypeError('fleet(): the same watcher was given twice');
    this.watchers = Object.freeze([...watchers]);
    this.#members = this.watchers.map((w) => new Member(w));
    const started = <T>(source: Observable<T>) => startOnSubscribe(source, () => this.#start());
    this.portfolio$ = started(this.#portfolios.asObservable());
    this.events$ = started(this.#lifecycle.asObservable());
    this.state$ = started(this.#status.asObservable());
    this.diagnostics$ = merge(
      ...this.#members.map((m) => m.watcher.diagnostics$.pipe(map((d): FleetDiagnostic => ({ ...d, engine: m.ref })))),
    );
  }

  get api(): string {
    return this.watchers.map((w) => w.api).join(' ');
  }

  get portfolio(): FleetPortfolio {
    return this.#merged(this.#members.map((m) => m.watcher.portfolio));
  }

  ready(options: { signal?: AbortSignal } = {}): Promise<FleetPortfolio> {
    const start = () => this.#start();
    return whenSynced(this.#status, () => this.portfolio, { api: this.api, what: 'fleet', start, signal: options.signal });
  }

  async id(): Promise<string> {
    return (await Promise.all(this.watchers.map((w) => w.id()))).join(',');
  }

  async version(): Promise<string> {
    return (await Promise.all(this.watchers.map((w) => w.version()))).join(', ');
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#run?.unsubscribe();
      this.#run = undefined;
      await Promise.allSettled(this.watchers.map((w) => w.close()));
      this.#status.next({ state: 'closed' });
      for (const s of [this.#status, this.#portfolios, this.#lifecycle]) s.complete();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #merged(sources: readonly Portfolio[]): MergedPortfolio {
    const views = sources.map((p, i) => this.#members[i]!.view(p));
    const last = this.#last;
    if (last && last.views.length === views.length && last.views.every((v, i) => v === views[i])) return last;
    return (this.#last = new MergedPortfolio(views, this.#projectCache));
  }

  #start(): void {
    if (this.#run || this.#closing) return;
    const members = this.#members;
    this.#status.next(members.length ? { state: 'connecting' } : { state: 'synced', at: new Date() });
    // A member is started by this very subscription: its replayed `idle` means `connecting`.
    const run = combineLatest(members.map((m) => m.watcher.state$))
      .pipe(map((states) => aggregateState(states.map((s) => (s.state === 'idle' ? CONNECTING : s)))))
      .subscribe((s) => {
        if (!sameState(this.#status.value, s)) this.#status.next(s);
      });
    // The first merged snapshot once every member has either synced or settled on trouble
    // (reconnecting, failed): one engine that is down does not hide the others.
    const settled = members.map((m) =>
      m.watcher.state$.pipe(
        filter((s) => s.state !== 'idle' && s.state !== 'connecting'),
        take(1),
      ),
    );
    run.add(
      combineLatest(settled)
        .pipe(
          take(1),
          mergeMap(() => merge(...members.map((m) => m.watcher.portfolio$))),
          map(() => this.portfolio),
          distinctUntilChanged(),
        )
        .subscribe((p) => this.#portfolios.next(p)),
    );
    if (!members.length) this.#portfolios.next(this.portfolio);
    run.add(
      merge(
        ...members.map((m) =>
          m.watcher.events$.pipe(map((e): LifecycleEvent => ({ ...e, container: m.tag(e.container) }))),
        ),
      ).subscribe((e) => this.#lifecycle.next(e)),
    );
    this.#run = run;
  }
}

const CONNECTING: WatcherState = Object.freeze({ state: 'connecting' });

function sameState(a: WatcherState, b: WatcherState): boolean {
  if (a === b) return true;
  if (a.state !== b.state) return false;
  if (a.state === 'synced' && b.state === 'synced') return a.at.getTime() === b.at.getTime();
  return a.state === 'idle' || a.state === 'connecting' || a.state === 'closed';
}

/**
 * Merges several watchers (any engines, also several Docker hosts) into one watcher-like view.
 * Its containers carry their `engine` (`{ type, api }`) and keep their engine's IDs and names;
 * engines are told apart by type AND endpoint, so two engines never overwrite each other, even
 * on one socket (containerd and its CRI plugin). `state$` is `synced` when all members are,
 * else the worst member state; `ready()` resolves when all are synced; `events$` and
 * `diagnostics$` merge the members' (containers and diagnostics tagged with their engine).
 * Subscribing or `ready()` starts every member; `close()` closes them all. Unchanged containers
 * and projects keep their object identity across snapshots.
 *
 * @example
 * const all = fleet(mobyWatcher('unix:///var/run/docker.sock'), containerdWatcher('/run/containerd/containerd.sock'));
 * const p = await all.ready({ signal: AbortSignal.timeout(10_000) });
 * for (const c of p.containers()) console.log(c.engine?.type, c.project, c.name, c.pid);
 * all.events$.subscribe((e) => console.log(e.type, e.container.engine?.api, e.container.name));
 * await all.close();
 */
export function fleet(...watchers: Watcher[]): Fleet {
  return new FleetWatcher(watchers);
}
