import { Observable, Subject, firstValueFrom, map, merge, timer } from 'rxjs';
import { allSettled } from '../lib/operators/allSettled.js';
import { containerdWatcher } from '../engines/containerd/index.js';
import { criWatcher } from '../engines/cri/index.js';
import { mobyWatcher } from '../engines/moby/index.js';
import { type Fleet, fleet } from '../lib/fleet/index.js';
import type { BackoffOptions } from '../lib/options.js';
import type { Watcher, WatcherState } from '../lib/watcher.js';
import type { EngineSpec } from './discover.js';

/**
 * What the command knows of one engine: its watcher, current state (and since when), and its
 * identity once it answered.
 *
 * @example
 * for (const s of session.statuses) console.log(s.spec.endpoint, s.state.state);
 */
export interface EngineStatus {
  readonly spec: EngineSpec;
  readonly watcher: Watcher;
  state: WatcherState;
  /** When `state` was entered (ms since the epoch). */
  since: number;
  /** The engine's ID and version text, learned after its first sync. */
  identity?: { readonly id: string; readonly version: string };
  /** Whether it was synced at least once. */
  everSynced: boolean;
}

/**
 * Options of a {@link Session}.
 *
 * @example
 * new Session(engines, { backoff: false, callTimeout: 10_000 });
 */
export interface SessionOptions {
  /** Reconnection backoff; `false` for one attempt only (`--once`). */
  readonly backoff?: BackoffOptions | false;
  /** Bound of each engine call, ms. */
  readonly callTimeout: number;
  /** Period of the safety-net relist, ms (default: the library's). */
  readonly resyncInterval?: number;
}

/**
 * Creates the watcher for one engine of the command line.
 *
 * @example
 * const w = watcherFor({ kind: 'cri', endpoint: '/run/crio/crio.sock', source: 'flag' }, { callTimeout: 10_000 });
 */
export function watcherFor(spec: EngineSpec, options: SessionOptions): Watcher {
  const common = {
    callTimeout: options.callTimeout,
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    ...(options.resyncInterval === undefined ? {} : { resyncInterval: options.resyncInterval }),
  };
  switch (spec.kind) {
    case 'docker':
      return mobyWatcher(spec.endpoint, spec.tls === undefined ? common : { ...common, tls: spec.tls });
    case 'containerd':
      return containerdWatcher(spec.endpoint, common);
    case 'cri':
      return criWatcher(spec.endpoint, common);
  }
}

/**
 * The command's engines as one {@link fleet}, with per-engine status for the views.
 *
 * @example
 * const session = new Session(discovery.engines, { callTimeout: 10_000 });
 * await session.settle(10_000);
 * console.log(session.statuses.filter((s) => s.everSynced).length, 'engines answer');
 * await session.close();
 */
export class Session {
  readonly fleet: Fleet;
  readonly statuses: readonly EngineStatus[];
  /** Anything the views show changed: a snapshot, a state, an identity. */
  readonly changes$: Observable<void>;

  readonly #identities = new Subject<void>();
  readonly #learning: Promise<unknown>[] = [];

  constructor(specs: readonly EngineSpec[], options: SessionOptions) {
    const watchers = specs.map((spec) => watcherFor(spec, options));
    this.fleet = fleet(...watchers);
    this.statuses = specs.map((spec, i) => ({
      spec,
      watcher: watchers[i]!,
      state: { state: 'idle' },
      since: Date.now(),
      everSynced: false,
    }));
    for (const status of this.statuses) {
      status.watcher.state$.subscribe((s) => {
        status.state = s;
        status.since = Date.now();
        if (s.state === 'synced' && !status.everSynced) {
          status.everSynced = true;
          const learning = Promise.all([status.watcher.id(), status.watcher.version()]).then(
            ([id, version]) => {
              status.identity = { id, version };
              this.#identities.next();
            },
            () => undefined,
          );
          this.#learning.push(learning);
        }
      });
    }
    this.changes$ = merge(
      this.fleet.portfolio$,
      ...this.statuses.map((s) => s.watcher.state$),
      this.#identities,
    ).pipe(map(() => undefined));
  }

  /**
   * Resolves once every engine either synced or settled on trouble (reconnecting, failed), or
   * after `timeoutMs`, whichever comes first. Starts the watchers.
   */
  async settle(timeoutMs: number): Promise<void> {
    const settled = allSettled(this.statuses.map((s) => s.watcher.state$));
    await firstValueFrom(merge(settled, timer(timeoutMs)), { defaultValue: undefined });
  }

  /** Resolves when the identities of the synced engines are known (or after `timeoutMs`). */
  async identified(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.all(this.#learning), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Closes every watcher. */
  close(): Promise<void> {
    return this.fleet.close();
  }
}
