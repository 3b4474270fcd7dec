import type { Observable } from 'rxjs';
import type { LifecycleEvent, Portfolio } from './model.js';

/**
 * The watcher's connection state.
 *
 * @example
 * w.state$.subscribe((s) => s.state === 'reconnecting' && console.warn(`retry in ${s.delay} ms`, s.error));
 */
export type WatcherState =
  | { readonly state: 'idle' }
  | { readonly state: 'connecting' }
  | { readonly state: 'synced'; readonly at: Date }
  | { readonly state: 'reconnecting'; readonly error: Error; readonly delay: number; readonly attempt: number }
  | { readonly state: 'failed'; readonly error: Error }
  | { readonly state: 'closed' };

/**
 * Something the watcher skipped or ignored, and why. Silent unless subscribed.
 *
 * @example
 * w.diagnostics$.subscribe((d) => console.debug(`[${d.code}] ${d.message}`));
 */
export interface Diagnostic {
  /**
   * Machine-readable kind, e.g. `unknown-event`, `stale-event`, `no-events-fallback`,
   * `option-failed`, `lookup-failed` (a lookup failed or timed out: its container is left out, or
   * keeps what was known of it, until its next event or resync), or for a container left out
   * because the engine described it unreadably `unknown-status`, `no-pid`, `unreadable-status`,
   * `unreadable-inspection`, `unreadable-pid` (outside 1..4,194,304), `wrong-id` (an inspection
   * answered for another ID).
   */
  readonly code: string;
  /** Human-readable explanation. */
  readonly message: string;
  /** The container concerned, if any. */
  readonly id?: string;
  readonly at: Date;
}

/**
 * An always-current view of one engine's alive containers.
 *
 * When it runs: creating a watcher opens nothing. The first `ready()`, or the first subscription
 * to `portfolio$`, `events$` or `state$`, starts it (a subscription to `diagnostics$` alone does
 * not); it then runs until `close()`, also when every subscriber has left (unsubscribing does not
 * stop it). After `close()` nothing of it stays open and it cannot be started again.
 *
 * @example
 * const w = mobyWatcher();
 * const portfolio = await w.ready({ signal: AbortSignal.timeout(10_000) });
 * console.log(portfolio.names());
 * await w.close();
 */
export interface Watcher extends AsyncDisposable {
  /** Engine type: `'docker.com'`, `'podman.io'`, `'containerd.io'`, `'k8s.io/cri-api'`. */
  readonly type: string;
  /** Endpoint as given. */
  readonly api: string;
  /** Engine PID, 0 if unknown. */
  readonly pid: number;
  /** Latest snapshot, synchronously; empty before the first sync. */
  readonly portfolio: Portfolio;
  /** Snapshots: the first after the first sync, then one per change; replays the latest. */
  readonly portfolio$: Observable<Portfolio>;
  /** Lifecycle events; hot, no replay. */
  readonly events$: Observable<LifecycleEvent>;
  /** Connection state; replays the current one. */
  readonly state$: Observable<WatcherState>;
  /** What was skipped or ignored, and why. */
  readonly diagnostics$: Observable<Diagnostic>;
  /** Starts watching (if not yet) and resolves with the first fully synced portfolio. */
  ready(options?: { signal?: AbortSignal }): Promise<Portfolio>;
  /** Stable engine identity. */
  id(): Promise<string>;
  /** `<name> <version>`-style engine version text. */
  version(): Promise<string>;
  /** Ends all streams and releases every socket and timer. Idempotent. */
  close(): Promise<void>;
}
