import { type Observable, ReplaySubject, Subject, type Subscription, combineLatest, distinctUntilChanged, map, merge, mergeMap, take } from 'rxjs';
import type { LifecycleEvent, Portfolio } from '../model.js';
import { allSettled } from '../operators/allSettled.js';
import type { WatcherState, Watcher } from '../watcher.js';
import { WatcherShell } from '../watcherShell.js';
import { aggregateState } from './aggregateState.js';
import { FLEET_TYPE, type Fleet, type FleetDiagnostic, type FleetPortfolio } from './types.js';
import { Member, MergedPortfolio, type MergedProject } from './view.js';

/** The fleet: its members' states, snapshots and events merged; see {@link fleet}. */
class FleetWatcher extends WatcherShell<FleetPortfolio> implements Fleet {
  readonly type = FLEET_TYPE;
  readonly pid = 0;
  readonly watchers: readonly Watcher[];
  readonly portfolio$: Observable<FleetPortfolio>;
  readonly events$: Observable<LifecycleEvent>;
  readonly diagnostics$: Observable<FleetDiagnostic>;

  readonly #members: readonly Member[];
  readonly #projectCache = new Map<string, MergedProject>();
  readonly #portfolios = new ReplaySubject<FleetPortfolio>(1);
  readonly #lifecycle = new Subject<LifecycleEvent>();
  #last: MergedPortfolio | undefined;
  #run: Subscription | undefined;

  constructor(watchers: readonly Watcher[]) {
    super('fleet');
    if (new Set(watchers).size !== watchers.length) throw new TypeError('fleet(): the same watcher was given twice');
    this.watchers = Object.freeze([...watchers]);
    this.#members = this.watchers.map((w) => new Member(w));
    this.portfolio$ = this.startedBy(this.#portfolios.asObservable());
    this.events$ = this.startedBy(this.#lifecycle.asObservable());
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

  protected syncedPortfolio(): FleetPortfolio {
    return this.portfolio;
  }

  async id(): Promise<string> {
    return (await Promise.all(this.watchers.map((w) => w.id()))).join(',');
  }

  async version(): Promise<string> {
    return (await Promise.all(this.watchers.map((w) => w.version()))).join(', ');
  }

  protected async stop(): Promise<void> {
    this.#run?.unsubscribe();
    this.#run = undefined;
    await Promise.allSettled(this.watchers.map((w) => w.close()));
    this.#portfolios.complete();
    this.#lifecycle.complete();
  }

  #merged(sources: readonly Portfolio[]): MergedPortfolio {
    const views = sources.map((p, i) => this.#members[i]!.view(p));
    const last = this.#last;
    if (last && last.views.length === views.length && last.views.every((v, i) => v === views[i])) return last;
    return (this.#last = new MergedPortfolio(views, this.#projectCache));
  }

  protected run(): void {
    const members = this.#members;
    this.status.next(members.length ? { state: 'connecting' } : { state: 'synced', at: new Date() });
    // A member is started by this very subscription: its replayed `idle` means `connecting`.
    const run = combineLatest(members.map((m) => m.watcher.state$))
      .pipe(map((states) => aggregateState(states.map((s) => (s.state === 'idle' ? CONNECTING : s)))))
      .subscribe((s) => {
        if (!sameState(this.status.value, s)) this.status.next(s);
      });
    // The first merged snapshot once every member has either synced or settled on trouble
    // (reconnecting, failed): one engine that is down does not hide the others.
    run.add(
      allSettled(members.map((m) => m.watcher.state$))
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
