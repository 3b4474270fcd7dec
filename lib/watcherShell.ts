import { BehaviorSubject, type Observable } from 'rxjs';
import type { Portfolio } from './model.js';
import { startOnSubscribe } from './operators/startOnSubscribe.js';
import type { WatcherState } from './watcher.js';
import { whenSynced } from './whenSynced.js';

/**
 * What every watcher-like class shares (the engine watcher and the fleet): the connection state
 * as a replaying `state$`, starting on the first `ready()` or subscription and never again,
 * `ready()`, and an idempotent `close()` that says `closed` at once, then stops. Subclasses say how
 * to start and stop, and which portfolio `ready()` resolves with.
 *
 * @example
 * class MyWatcher extends WatcherShell<Portfolio> {
 *   protected run() { this.status.next({ state: 'synced', at: new Date() }); }
 *   protected async stop() {}
 *   protected syncedPortfolio() { return PortfolioSnapshot.empty; }
 * }
 */
export abstract class WatcherShell<P extends Portfolio> implements AsyncDisposable {
  /** The connection state; `ready()` and `state$` read it. */
  protected readonly status = new BehaviorSubject<WatcherState>({ state: 'idle' });
  readonly state$: Observable<WatcherState>;
  #started = false;
  #closing: Promise<void> | undefined;

  protected constructor(readonly what: 'watcher' | 'fleet') {
    this.state$ = this.startedBy(this.status.asObservable());
  }

  /** The endpoint(s), for error messages. */
  abstract get api(): string;

  /** Starts watching; called at most once, and never after `close()`. */
  protected abstract run(): void;

  /** Ends watching and releases everything; called once by `close()`, right after `closed`. */
  protected abstract stop(): Promise<void>;

  /** The portfolio `ready()` resolves with once synced (undefined: not yet shown). */
  protected abstract syncedPortfolio(): P | undefined;

  /** Whether `close()` was called. */
  protected get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** `source`, which starts the watch when subscribed (after the subscriber is in place). */
  protected startedBy<T>(source: Observable<T>): Observable<T> {
    return startOnSubscribe(source, () => this.start());
  }

  /** Starts watching, if not yet started or closed. */
  protected start(): void {
    if (this.#started || this.#closing) return;
    this.#started = true;
    this.run();
  }

  ready(options: { signal?: AbortSignal } = {}): Promise<P> {
    return whenSynced(this.status, () => this.syncedPortfolio(), {
      api: this.api,
      what: this.what,
      start: () => this.start(),
      signal: options.signal,
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.status.next({ state: 'closed' });
      await this.stop();
      this.status.complete();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
