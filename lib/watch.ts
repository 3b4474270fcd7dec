import {
  type MonoTypeOperatorFunction,
  Observable,
  ReplaySubject,
  type SchedulerLike,
  Subject,
  Subscription,
  asyncScheduler,
  catchError,
  concat,
  concatWith,
  connect,
  connectable,
  defer,
  distinctUntilChanged,
  filter,
  first,
  firstValueFrom,
  forkJoin,
  map,
  merge,
  mergeMap,
  observeOn,
  of,
  queueScheduler,
  retry,
  scan,
  skipWhile,
  switchMap,
  take,
  tap,
  throwError,
  throwIfEmpty,
  timeout,
  timer,
} from 'rxjs';
import type { Action, InspectRequest } from './actions.js';
import type { ContainerDetails, EngineAdapter, EngineEvent, EngineInfo, Inspection, SkippedContainer } from './adapter.js';
import { backoffDelay } from './backoff.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from './errors.js';
import type { LifecycleEvent, Portfolio } from './model.js';
import { coalesceMap } from './operators/coalesceMap.js';
import { runLookups } from './operators/runLookups.js';
import { DEFAULT_CALL_TIMEOUT, type WatchOptions } from './options.js';
import { PortfolioSnapshot } from './portfolio.js';
import { type Transition, createReducer, initialTransition } from './reducer.js';
import { WatcherShell } from './watcherShell.js';
import type { Diagnostic, Watcher } from './watcher.js';

const DEFAULT_RESYNC = 60_000;
const DEFAULT_FULL_EVERY = 10;
const DEFAULT_CONCURRENCY = 4;

/**
 * Builds the engine-agnostic {@link Watcher} over an engine adapter: subscribes to the engine's
 * events and waits until the subscription is live, lists, inspects what the reducer asks for
 * with bounded concurrency, relists periodically, and reconnects with backoff. Creating a
 * watcher opens nothing; the first `ready()` or subscription starts it, `close()` ends it.
 *
 * @example
 * const w = watch(new FakeEngine());
 * const portfolio = await w.ready();
 * await w.close();
 */
export function watch(adapter: EngineAdapter, options: WatchOptions = {}): Watcher {
  return new EngineWatcher(adapter, options);
}

/**
 * The watch pipeline. Data flows one way:
 *
 * ```
 * #connections(): the sessions, one after the other  ──actions──▶ scan(reduce) ──▶ #steps
 *   one session = merge(engine events → actions,                                   │
 *                       connected (live ∧ identity),                               ├─▶ portfolio$ (replayed)
 *                       relists from subscribed/live → listRequested/listed,       │
 *                       lookups → inspected/lookupFailed) ◀── effects.lookups ─────┤─▶ events$
 *   a broken session adds `disconnected` and is retried with backoff               └─▶ diagnostics$
 * ```
 *
 * Every action comes out of that one stream and folds through the reducer in one place;
 * `#steps` is the one Subject, because lookups are the feedback loop: the reducer's steps say
 * which lookups to make, and their answers come back as actions.
 */
class EngineWatcher extends WatcherShell<Portfolio> implements Watcher {
  readonly api: string;
  readonly portfolio$: Observable<Portfolio>;
  readonly events$: Observable<LifecycleEvent>;
  readonly diagnostics$: Observable<Diagnostic>;

  readonly #adapter: EngineAdapter;
  readonly #options: WatchOptions;
  readonly #scheduler: SchedulerLike;
  /** The reducer's steps: the source of every output, and of the lookups (feedback loop). */
  readonly #steps = new Subject<Transition>();
  #shown: Portfolio | undefined;
  #info: EngineInfo | undefined;
  #run: Subscription | undefined;
  /** Failed attempts since the last sync, for the backoff. */
  #failures = 0;

  constructor(adapter: EngineAdapter, options: WatchOptions) {
    super('watcher');
    this.#adapter = adapter;
    this.#options = options;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.api = adapter.api;

    // Snapshots are shown from the first sync on, one per change, the latest replayed.
    const portfolios = connectable(
      this.#steps.pipe(
        skipWhile((t) => t.state.phase !== 'synced'),
        map((t): Portfolio => t.state.portfolio),
        distinctUntilChanged(),
        tap((p) => (this.#shown = p)),
      ),
      { connector: () => new ReplaySubject<Portfolio>(1), resetOnDisconnect: false },
    );
    portfolios.connect();

    // Subscribing starts the watch (but diagnostics$ alone does not).
    this.portfolio$ = this.startedBy(portfolios);
    this.events$ = this.startedBy(
      this.#steps.pipe(
        filter((t) => t.effects.lifecycle.length > 0),
        mergeMap((t) => t.effects.lifecycle),
      ),
    );
    this.diagnostics$ = this.#steps.pipe(
      filter((t) => t.effects.diagnostics.length > 0),
      mergeMap((t) => t.effects.diagnostics),
    );
  }

  get type(): string {
    return this.#options.type ?? this.#info?.type ?? this.#adapter.type;
  }

  get pid(): number {
    return this.#options.pid ?? this.#info?.pid ?? 0;
  }

  get portfolio(): Portfolio {
    return this.#shown ?? PortfolioSnapshot.empty;
  }

  async id(): Promise<string> {
    return (await this.#engineInfo()).id;
  }

  async version(): Promise<string> {
    return (await this.#engineInfo()).version;
  }

  protected syncedPortfolio(): Portfolio | undefined {
    return this.#shown;
  }

  protected async stop(): Promise<void> {
    this.#run?.unsubscribe();
    this.#run = undefined;
    this.#steps.complete();
    await this.#adapter.close();
  }

  async #engineInfo(): Promise<EngineInfo> {
    return this.#info ?? this.#learn(await firstValueFrom(this.#adapter.info().pipe(this.#bounded('info'))));
  }

  #learn(info: EngineInfo): EngineInfo {
    this.#info = info;
    return info;
  }

  #now(): Date {
    return new Date(this.#scheduler.now());
  }

  protected run(): void {
    this.status.next({ state: 'connecting' });
    const reduce = createReducer(this.#options);
    let phase = initialTransition().state.phase;
    // One place for state: every action folds through the reducer, one at a time;
    // queueScheduler trampolines actions that arise while a step is being published.
    this.#run = this.#connections()
      .pipe(
        observeOn(queueScheduler),
        scan((t: Transition, action: Action) => reduce(t.state, action), initialTransition()),
      )
      .subscribe({
        next: (t) => {
          const synced = t.state.phase === 'synced' && phase !== 'synced';
          phase = t.state.phase;
          this.#steps.next(t);
          if (synced) {
            this.#failures = 0;
            this.status.next({ state: 'synced', at: this.#now() });
          }
        },
        // A final connection failure, or a bug: it must not take the host process down with it.
        error: (error: Error) => this.status.next({ state: 'failed', error }),
      });
  }

  /** The sessions, one after the other: each broken one ends with `disconnected` and is retried with backoff. */
  #connections(): Observable<Action> {
    const backoff = this.#options.backoff;
    return defer(() => this.#session()).pipe(
      catchError((error: Error) => concat(of<Action>({ type: 'disconnected', at: this.#now() }), throwError(() => error))),
      retry({
        delay: (error: Error) => {
          const attempt = ++this.#failures;
          if (backoff === false || error instanceof WrongEngineError) return throwError(() => error);
          if (backoff?.maxRetries !== undefined && attempt > backoff.maxRetries) return throwError(() => error);
          const delay = backoffDelay(attempt, backoff);
          this.status.next({ state: 'reconnecting', error, delay, attempt });
          return timer(delay, this.#scheduler);
        },
      }),
    );
  }

  /**
   * One connection as a stream of actions: the engine's events; once they are covered
   * (`subscribed` or `live`), the lists (first, on `resync` events, and every resync interval);
   * once they are live and the engine's identity is known, `connected`; and the lookups the
   * reducer asks for. Errors when any engine-wide part breaks or runs past `callTimeout` (events,
   * live, list, identity); a lookup that fails costs only its container.
   */
  #session(): Observable<Action> {
    const { resyncInterval = DEFAULT_RESYNC, fullResyncEvery = DEFAULT_FULL_EVERY } = this.#options;
    // The identity is asked alongside the event subscription and the first list, not before
    // them. A failing answer (a wrong engine, say) ends the session.
    const identity = defer(() => this.#adapter.info()).pipe(
      this.#bounded('info'),
      take(1),
      tap((info) => this.#learn(info)),
    );
    const ended = throwError(() => new EngineUnreachableError(this.api, 'the event stream ended'));
    return this.#adapter.events().pipe(
      concatWith(ended),
      connect((events) => {
        const live = events.pipe(first((e) => e.type === 'live'), this.#bounded('the event subscription'));
        const connected = forkJoin([live, identity]).pipe(map((): Action => ({ type: 'connected', at: this.#now() })));
        // The first list goes out as soon as the events are covered (`subscribed` or `live`),
        // while the subscription and the identity may still be on their way: the reducer counts
        // the sync done only once `connected` came too.
        const covered = events.pipe(first((e) => e.type === 'subscribed' || e.type === 'live'));
        const relists = covered.pipe(
          switchMap(() =>
            merge(
              of(false),
              events.pipe(
                filter((e) => e.type === 'resync'),
                map(() => false),
              ),
              resyncInterval > 0
                ? timer(resyncInterval, resyncInterval, this.#scheduler).pipe(
                    map((n) => fullResyncEvery > 0 && (n + 1) % fullResyncEvery === 0),
                  )
                : [],
            ).pipe(coalesceMap((full) => this.#relist(full), (a, b) => a || b)),
          ),
        );
        return merge(
          connected,
          events.pipe(
            map((e) => this.#toAction(e)),
            filter((a): a is Action => a !== undefined),
          ),
          relists,
          this.#steps.pipe(
            runLookups(
              (r) => this.#lookup(r),
              this.#options.inspectConcurrency ?? DEFAULT_CONCURRENCY,
              this.#options.scheduler ?? nextTurnScheduler,
            ),
          ),
        );
      }),
    );
  }

  /** One list call, told as `listRequested`, then a `diagnosed` per container it skipped, then `listed`. */
  #relist(full: boolean): Observable<Action> {
    return concat(
      defer(() => of<Action>({ type: 'listRequested', full, at: this.#now() })),
      defer(() => this.#adapter.list()).pipe(
        this.#bounded('list'),
        take(1),
        throwIfEmpty(() => new ProtocolError(this.api, 'list', 'the list call returned nothing')),
        mergeMap(({ containers, skipped }): Action[] => [
          ...skipped.map((s) => this.#skipped(s)),
          { type: 'listed', summaries: containers, at: this.#now() },
        ]),
      ),
    );
  }

  /** One lookup, told as `inspected`; whatever goes wrong is `lookupFailed`, for its container alone. */
  #lookup(r: InspectRequest): Observable<Action> {
    const what = `inspect ${r.id}`;
    return defer(() => this.#adapter.inspect(r.id)).pipe(
      this.#bounded(what),
      take(1),
      throwIfEmpty(() => new ProtocolError(this.api, what, 'the lookup answered nothing')),
      mergeMap((answer): Action[] => {
        const inspected = (details: ContainerDetails | null): Action => ({ type: 'inspected', id: r.id, requestSeq: r.seq, details, at: this.#now() });
        return isSkipped(answer) ? [this.#skipped(answer), inspected(null)] : [inspected(answer)];
      }),
      catchError((err: unknown) =>
        of<Action>({
          type: 'lookupFailed',
          id: r.id,
          requestSeq: r.seq,
          reason: err instanceof Error ? err.message : String(err),
          at: this.#now(),
        }),
      ),
    );
  }

  /** A container a list or an inspection left out as unreadable, as its diagnostic. */
  #skipped(s: SkippedContainer): Action {
    return { type: 'diagnosed', code: s.skipped, id: s.id, message: `skipped ${s.id}: ${s.message}`, at: this.#now() };
  }

  /** An engine event as the action it makes; `subscribed`, `live` and `resync` drive the session instead. */
  #toAction(e: EngineEvent): Action | undefined {
    const at = e.type === 'subscribed' || e.type === 'live' || e.type === 'resync' || e.type === 'diagnostic' ? undefined : e.at;
    const stamp = at ? { at, engineAt: at } : { at: this.#now() };
    switch (e.type) {
      case 'subscribed':
      case 'live':
      case 'resync':
        return undefined;
      case 'diagnostic':
        return { type: 'diagnosed', code: e.code, message: e.message, ...(e.id !== undefined && { id: e.id }), at: stamp.at };
      case 'started':
        return e.details ? { type: 'started', id: e.id, details: e.details, at: stamp.at } : { type: 'started', id: e.id, at: stamp.at };
      case 'died':
        return e.pid !== undefined ? { type: 'died', id: e.id, pid: e.pid, ...stamp } : { type: 'died', id: e.id, ...stamp };
      case 'paused':
      case 'unpaused':
        return { type: e.type, id: e.id, ...stamp };
      case 'updated':
        return { type: 'updated', id: e.id, ...(e.name !== undefined && { name: e.name }), ...(e.labels && { labels: e.labels }), at: stamp.at };
    }
  }

  #bounded<T>(what: string): MonoTypeOperatorFunction<T> {
    const ms = this.#options.callTimeout ?? DEFAULT_CALL_TIMEOUT;
    return timeout<T, Observable<never>>({
      first: ms,
      scheduler: this.#scheduler,
      with: () => throwError(() => new EngineUnreachableError(this.api, `${what} timed out after ${ms} ms`)),
    });
  }
}

function isSkipped(answer: Inspection): answer is SkippedContainer {
  return answer !== null && 'skipped' in answer;
}

/**
 * Runs work on the next turn of the event loop (`setImmediate`), after everything already read
 * from the engine's sockets has been applied: lookups wait for the whole read, not one message.
 * RxJS's `asapScheduler` runs as a microtask, between the messages of one read.
 */
const nextTurnScheduler: SchedulerLike = {
  now: () => Date.now(),
  schedule(work: (this: unknown, state?: unknown) => void) {
    const handle = setImmediate(() => work.call(undefined));
    return new Subscription(() => clearImmediate(handle));
  },
} as SchedulerLike;
