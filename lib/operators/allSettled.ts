import { type Observable, combineLatest, filter, take } from 'rxjs';
import type { WatcherState } from '../watcher.js';

/**
 * Emits once, then completes, when every one of `states` has settled: synced, or on trouble
 * (`reconnecting`, `failed`, `closed`), that is past `idle` and `connecting`. One engine that is
 * down does not hold up the others. With no states it completes at once without a value.
 *
 * @example
 * await firstValueFrom(allSettled(watchers.map((w) => w.state$)));
 */
export function allSettled(states: readonly Observable<WatcherState>[]): Observable<readonly WatcherState[]> {
  return combineLatest(states.map((state$) => state$.pipe(filter(isSettled), take(1))));
}

const isSettled = (s: WatcherState) => s.state !== 'idle' && s.state !== 'connecting';
