import {
  BehaviorSubject,
  type MonoTypeOperatorFunction,
  Observable,
  ReplaySubject,
  type SchedulerLike,
  Subject,
  type Subscription,
  asyncScheduler,
  defer,
  first,
  firstValueFrom,
  map,
  combineLatest,
  mergeMap,
  observeOn,
  queueScheduler,
  retry,
  scan,
  take,
  tap,
  throwError,
  throwIfEmpty,
  timeout,
  timer,
  ignoreElements,
} from 'rxjs';
import type { Action } from './actions.js';
import type { EngineAdapter, EngineEvent, EngineInfo } from './adapter.js';
import { backoffDelay } from './backoff.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from './errors.js';
import type { LifecycleEvent, Portfolio } from './model.js';
import { coalesceMap } from './operators/coalesceMap.js';
import { startOnSubscribe } from './operators/startOnSubscribe.js';
import type { WatchOptions } from './options.js';
import { PortfolioSnapshot } from './portfolio.js';
import { type WatchState, createReducer, initialState } from './reducer.js';
import { whenSynced } from './whenSynced.js';
import type { Diagnostic, Watcher, WatcherState } from './watcher.js';

const DEFAULT_RESYNC = 60_000;
const DEFAULT_FULL_EVERY = 10;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_CALL_TIMEOUT = 30_000;

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

class EngineWatcher implements Watcher {
  readonly api: string;
  readonly portfolio$: Observable<Portfolio>;
  readonly events$: Observable<LifecycleEvent>;
  readonly state$: Observable<WatcherState>;
  readonly diagnostics$: Observable<Diagnostic>;

  readonly #adapter: EngineAdapter;
  readonly #options: WatchOptions;
  readonly #scheduler: SchedulerLike;
  readonly #actions = new Subject<Action>();
  readonly #steps = new Subject<WatchState>();
  readonly #portfolios = new ReplaySubject<Portfolio>(1);
  readonly #lifecycle = new Subject<LifecycleEvent>();
  readonly #diagnostics = new Subject<Diagnostic>();
  readonly #status = new BehaviorSubject<WatcherState>({ state: 'idle' });
  #state: WatchState = initialState();
  #shown: Portfolio | undefined;
  #info: EngineInfo | undefined;
  #run: Subscription | undefined;
  #closing: Promise<void> | undefined;

  constructor(adapter: EngineAdapter, options: WatchOptions) {
    this.#adapter = adapter;
    this.#options = options;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.api = adapter.api;
    const reduce = createReducer(options);
    // One place for state: every action folds through the reducer, one at a time. queueScheduler
    // trampolines actions dispatched while a step is being published.
    this.#actions.pipe(observeOn(queueScheduler), scan(reduce, this.#state)).subscribe({
      next: (s) => this.#publish(s),
      // Only a bug can get here; it must not take the host process down with it.
      error: (error: Error) => {
        this.#run?.unsubscribe();
        this.#status.next({ state: 'failed', error });
      },
    });
    // Subscribing starts the watch, after the subscriber is in place so it sees the start.
    const started = <T>(source: Observable<T>) => startOnSubscribe(source, () => this.#start());
    this.portfolio$ = started(this.#portfolios.asObservable());
    this.events$ = started(this.#lifecycle.asObservable());
    this.state$ = started(this.#status.asObservable());
    this.diagnostics$ = this.#diagnostics.asObservable();
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

  ready(options: { signal?: AbortSignal } = {}): Promise<Portfolio> {
    const start = () => this.#start();
    return whenSynced(this.#status, () => this.#shown, { api: this.api, what: 'watcher', start, signal: options.signal });
  }

  async id(): Promise<string> {
    return (await this.#engineInfo()).id;
  }

  async version(): Promise<string> {
    return (await this.#engineInfo()).version;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#run?.unsubscribe();
      this.#run = undefined;
      this.#status.next({ state: 'closed' });
      for (const s of [this.#status, this.#portfolios, this.#lifecycle, this.#diagnostics, this.#steps, this.#actions]) {
        s.complete();
      }
      await this.#adapter.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #engineInfo(): Promise<EngineInfo> {
    return this.#info ?? this.#learn(await firstValueFrom(this.#adapter.info().pipe(this.#bounded('info'))));
  }

  #learn(info: EngineInfo): EngineInfo {
    this.#info = info;
    return info;
  }

  #dispatch(action: Action): void {
    this.#actions.next(action);
  }

  #now(): Date {
    return new Date(this.#scheduler.now());
  }

  #publish(state: WatchState): void {
    this.#state = state;
    if (state.phase === 'synced' || this.#shown) {
      if (state.portfolio !== this.#shown) {
        this.#shown = state.portfolio;
        this.#portfolios.next(state.portfolio);
      }
    }
    for (const e of state.lifecycle) this.#lifecycle.next(e);
    for (const d of state.diagnostics) this.#diagnostics.next(d);
    this.#steps.next(state);
  }

  #start(): void {
    if (this.#run || this.#closing) return;
    this.#status.next({ state: 'connecting' });
    const backoff = this.#options.backoff;
    // The engine's identity is asked alongside the session, not before it: one round trip less
    // before the first list. A connection counts as synced once both are in (so `type` is right
    // when `ready()` resolves); a failing answer (a wrong engine, say) ends the session.
    const identity = defer(() => this.#adapter.info()).pipe(
      this.#bounded('info'),
      tap((info) => this.#learn(info)),
    );
    this.#run = defer(() => combineLatest([identity, this.#session()]))
      .pipe(
        retry({
          resetOnSuccess: true,
          delay: (error: Error, attempt: number) => {
            this.#dispatch({ type: 'disconnected', at: this.#now() });
            if (backoff === false || error instanceof WrongEngineError) return throwError(() => error);
            if (backoff?.maxRetries !== undefined && attempt > backoff.maxRetries) return throwError(() => error);
            const delay = backoffDelay(attempt, backoff);
            this.#status.next({ state: 'reconnecting', error, delay, attempt });
            return timer(delay, this.#scheduler);
          },
        }),
      )
      .subscribe({
        next: () => this.#status.next({ state: 'synced', at: this.#now() }),
        error: (error: Error) => this.#status.next({ state: 'failed', error }),
      });
  }

  /** One connection: events first, made live, then lists and inspections; emits once synced. */
  #session(): Observable<true> {
    return new Observable<true>((subscriber) => {
      const adapter = this.#adapter;
      const fail = (error: unknown) => subscriber.error(error);
      const relists = new Subject<boolean>();
      const { resyncInterval = DEFAULT_RESYNC, fullResyncEvery = DEFAULT_FULL_EVERY } = this.#options;

      subscriber.add(
        this.#steps
          .pipe(
            mergeMap((s) => s.inspect),
            mergeMap(
              (r) =>
                adapter.inspect(r.id).pipe(
                  this.#bounded(`inspect ${r.id}`),
                  map((details): Action => ({ type: 'inspected', id: r.id, requestSeq: r.seq, details, at: this.#now() })),
                ),
              this.#options.inspectConcurrency ?? DEFAULT_CONCURRENCY,
            ),
          )
          .subscribe({ next: (a) => this.#dispatch(a), error: fail }),
      );
      subscriber.add(
        this.#steps.pipe(first((s) => s.phase === 'synced')).subscribe(() => subscriber.next(true)),
      );
      subscriber.add(
        relists.pipe(coalesceMap((full) => this.#relist(full), (a, b) => a || b)).subscribe({ error: fail }),
      );
      subscriber.add(
        adapter.events().subscribe({
          next: (e) => {
            if (e.type === 'live') {
              this.#dispatch({ type: 'connected', at: this.#now() });
              relists.next(false);
              if (resyncInterval > 0) {
                subscriber.add(
                  timer(resyncInterval, resyncInterval, this.#scheduler).subscribe((n) =>
                    relists.next(fullResyncEvery > 0 && (n + 1) % fullResyncEvery === 0),
                  ),
                );
              }
            } else if (e.type === 'resync') {
              relists.next(false);
            } else if (e.type === 'diagnostic') {
              const { code, message, id } = e;
              this.#diagnostics.next(id === undefined ? { code, message, at: this.#now() } : { code, message, id, at: this.#now() });
            } else {
              this.#dispatch(this.#toAction(e));
            }
          },
          error: fail,
          complete: () => fail(new EngineUnreachableError(this.api, 'the event stream ended')),
        }),
      );
    });
  }

  #relist(full: boolean): Observable<never> {
    return defer(() => {
      this.#dispatch({ type: 'listRequested', full, at: this.#now() });
      return this.#adapter.list();
    }).pipe(
      this.#bounded('list'),
      take(1),
      throwIfEmpty(() => new ProtocolError(this.api, 'list', 'the list call returned nothing')),
      tap((summaries) => this.#dispatch({ type: 'listed', summaries, at: this.#now() })),
      ignoreElements(),
    );
  }

  #toAction(e: Exclude<EngineEvent, { type: 'live' | 'resync' | 'diagnostic' }>): Action {
    return (e.at ? { ...e, engineAt: e.at } : { ...e, at: this.#now() }) as Action;
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
